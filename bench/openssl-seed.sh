#!/usr/bin/env bash
# The seed's "Creating certificates for a multi-cluster mesh" steps (Istio's tools/certs
# procedure: root-ca.conf, intermediate.conf, genrsa/req/x509), scripted as people run them.
#   bench/openssl-seed.sh DIR CLUSTERS rsa|ec
set -euo pipefail
dir=$1 n=$2 kind=$3
cd "$dir"
genkey() {
  if [ "$kind" = rsa ]; then openssl genrsa -out "$1" 4096 2>/dev/null
  else openssl ecparam -name prime256v1 -genkey -noout -out "$1"; fi
}
cat > root-ca.conf <<'CONF'
[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
[ req_dn ]
O = Istio
CN = Root CA
CONF
genkey root-key.pem
openssl req -sha256 -new -key root-key.pem -config root-ca.conf -out root-cert.csr
openssl x509 -req -sha256 -days 3650 -signkey root-key.pem -extensions req_ext -extfile root-ca.conf -in root-cert.csr -out root-cert.pem 2>/dev/null
for i in $(seq 1 "$n"); do
  c="cluster$i"
  mkdir -p "$c"
  cat > "$c/intermediate.conf" <<CONF
[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
subjectAltName=@san
[ san ]
DNS.1 = istiod.istio-system.svc
[ req_dn ]
O = Istio
CN = Intermediate CA
L = $c
CONF
  genkey "$c/ca-key.pem"
  openssl req -sha256 -new -config "$c/intermediate.conf" -key "$c/ca-key.pem" -out "$c/cluster-ca.csr"
  openssl x509 -req -sha256 -days 3650 -CA root-cert.pem -CAkey root-key.pem -CAcreateserial \
    -extensions req_ext -extfile "$c/intermediate.conf" -in "$c/cluster-ca.csr" -out "$c/ca-cert.pem" 2>/dev/null
  cat "$c/ca-cert.pem" root-cert.pem > "$c/cert-chain.pem"
  cp root-cert.pem "$c/root-cert.pem"
done
