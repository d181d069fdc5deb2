//! The lab's own certificates (not the mesh's): a CA per cluster, the API server's serving
//! certificate, the admin client certificate and the service-account signing key.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// The first address of the lab's service range: the `kubernetes` Service's ClusterIP.
pub const FIRST_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// PEM files of one cluster's PKI, written into its directory.
#[derive(Debug, Clone)]
pub struct ClusterPki {
    /// The cluster CA certificate (serving and client certificates chain to it).
    pub ca_pem: String,
    /// The admin client certificate (`CN=lab-admin, O=system:masters`).
    pub admin_cert_pem: String,
    /// The admin client key.
    pub admin_key_pem: String,
}

fn validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365);
}

/// Writes `ca.crt`, `apiserver.crt/key`, `admin.crt/key`, `sa.key` (+ `sa.pub`) into `dir`.
pub fn write_cluster_pki(dir: &Path, cluster: &str) -> Result<ClusterPki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{cluster} lab CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ])?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(FIRST_SERVICE_IP)));
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut serving);
    let serving_cert = serving.signed_by(&serving_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::default();
    admin
        .distinguished_name
        .push(DnType::CommonName, "lab-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut admin);
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;

    let sa_key = KeyPair::generate()?;

    write(dir, "ca.crt", &ca_cert.pem(), false)?;
    write(dir, "ca.key", &issuer.key().serialize_pem(), true)?;
    write(dir, "apiserver.crt", &serving_cert.pem(), false)?;
    write(dir, "apiserver.key", &serving_key.serialize_pem(), true)?;
    write(dir, "admin.crt", &admin_cert.pem(), false)?;
    write(dir, "admin.key", &admin_key.serialize_pem(), true)?;
    write(dir, "sa.key", &sa_key.serialize_pem(), true)?;
    write(dir, "sa.pub", &sa_key.public_key_pem(), false)?;
    Ok(ClusterPki {
        ca_pem: ca_cert.pem(),
        admin_cert_pem: admin_cert.pem(),
        admin_key_pem: admin_key.serialize_pem(),
    })
}

/// Writes `NAME.kubeconfig` into the cluster directory `dir`: a client certificate for user
/// `user` (in group `system:masters`) signed by the cluster CA, so that a lab component (the
/// operator, the scheduler, …) acts under its own name, as it would with its ServiceAccount,
/// and the audit log tells its writes from a client's.
pub fn component_kubeconfig(
    dir: &Path,
    server: &str,
    name: &str,
    user: &str,
) -> Result<std::path::PathBuf> {
    use base64::Engine as _;
    let read = |f: &str| {
        fs::read_to_string(dir.join(f)).with_context(|| format!("reading {f} in {}", dir.display()))
    };
    let ca_pem = read("ca.crt")?;
    let ca_key = KeyPair::from_pem(&read("ca.key")?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, user);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params);
    let cert = params.signed_by(&key, &issuer)?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(&ca_pem)}}],
        "users": [{"name": name, "user": {
            "client-certificate-data": b64(&cert.pem()),
            "client-key-data": b64(&key.serialize_pem()),
        }}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    });
    let file = format!("{name}.kubeconfig");
    write(dir, &file, &yaml_serde::to_string(&config)?, true)?;
    Ok(dir.join(file))
}

/// Writes `kubelet.crt/key` into the cluster directory `dir`: the serving certificate of the
/// cluster's kubelet (kwok), for `127.0.0.1` (the nodes' address), signed by the cluster CA, which
/// the API server checks it against (`--kubelet-certificate-authority`).
pub fn write_kubelet_pki(dir: &Path) -> Result<()> {
    let read = |f: &str| {
        fs::read_to_string(dir.join(f)).with_context(|| format!("reading {f} in {}", dir.display()))
    };
    let issuer = Issuer::from_ca_cert_pem(&read("ca.crt")?, KeyPair::from_pem(&read("ca.key")?)?)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "kubelet");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params);
    let cert = params.signed_by(&key, &issuer)?;
    write(dir, "kubelet.crt", &cert.pem(), false)?;
    write(dir, "kubelet.key", &key.serialize_pem(), true)
}

/// Writes a file, `0600` for keys.
pub fn write(dir: &Path, name: &str, contents: &str, private: bool) -> Result<()> {
    let path = dir.join(name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
