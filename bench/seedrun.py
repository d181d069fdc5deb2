"""The two sides of the join and verify benchmarks, and what both need before and after.

The anchor is the seeds' procedure as a person runs it (seed 004 and the upstream OpenShift
one it follows, with the lab's kubectl and istioctl): per cluster a namespace label, one
`Istio` manifest, the published east-west gateway and expose-services files; per ordered pair
`istioctl create-remote-secret --context X --name X | kubectl apply --context Y -f -`.
"""

import subprocess
import time
from pathlib import Path

from benchlab import sh

SEED = Path(__file__).resolve().parent / "seed"
ISTIO_VERSION = "v1.30.3"

# Seed 004, "Install Istio on the East cluster", step 1 (sailoperator.io/v1).
ISTIO_MANIFEST = """apiVersion: sailoperator.io/v1
kind: Istio
metadata:
  name: default
spec:
  version: {version}
  namespace: istio-system
  values:
    global:
      meshID: mesh1
      network: network{i}
      multiCluster:
        clusterName: c{i}
"""

# What the seeds run to look at the result without sending traffic (seed 004's own
# verification section only deploys samples and curls between clusters).
SEED_CHECKS = [
    ("get", "namespace", "istio-system"),                                      # seed 001: oc get project istio-system
    ("get", "secret", "-n", "istio-system", "cacerts"),                         # seeds 000, 001
    ("wait", "--for", "condition=Ready", "istio/default", "--timeout=3m"),      # seeds 001, 004
    ("-n", "istio-system", "get", "pod"),                                       # seed 002
    ("-n", "istio-system", "get", "svc", "istio-eastwestgateway"),              # seed 001 (gateway address)
]


def mesh_yaml(n, certs):
    lines = [f"meshID: mesh1\ncerts: {certs}\nistio:\n  version: {ISTIO_VERSION}\nclusters:"]
    for i in range(1, n + 1):
        lines.append(f"- {{name: c{i}, context: lab-{i}, network: network{i}, role: primary}}")
    return "\n".join(lines) + "\n"


def prepare(lab, certs_bin):
    """Outside the timed region, the same on both sides: certificates made, and applied as
    seeds 000/001 do (`kubectl create namespace`, `kubectl create secret generic cacerts`);
    the mesh file; the anchor's manifests (the Istio resource, the gateway file per network)."""
    names = ",".join(f"c{i}" for i in range(1, lab.n + 1))
    certs = lab.dir / "certs"
    sh([certs_bin, "create", "--clusters", names, "--key-type", "ecdsa-p256", "--dir", str(certs)])
    for i, ctx in enumerate(lab.contexts, 1):
        lab.kubectl(ctx, "create", "namespace", "istio-system")
        files = [f"--from-file={certs / f'c{i}' / f}" for f in ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")]
        lab.kubectl(ctx, "create", "secret", "generic", "cacerts", "-n", "istio-system", *files)
        (lab.dir / f"istio-c{i}.yaml").write_text(ISTIO_MANIFEST.format(version=ISTIO_VERSION, i=i))
        published = SEED / f"east-west-gateway-net{i}.yaml"
        text = published.read_text() if published.exists() else \
            (SEED / "east-west-gateway-net1.yaml").read_text().replace("network1", f"network{i}")
        (lab.dir / f"east-west-gateway-net{i}.yaml").write_text(text)
    (lab.dir / "mesh.yaml").write_text(mesh_yaml(lab.n, certs))


def seed_join(lab, bins):
    """The timed anchor: the seeds' commands, one process each, as a person types them."""
    kubectl, istioctl, env = str(bins / "kubectl"), str(bins / "istioctl"), lab.env()
    for i, ctx in enumerate(lab.contexts, 1):
        sh([kubectl, "--context", ctx, "label", "namespace", "istio-system", f"topology.istio.io/network=network{i}"], env=env)
        sh([kubectl, "--context", ctx, "apply", "-f", "-"], input=(lab.dir / f"istio-c{i}.yaml").read_text(), env=env)
        sh([kubectl, "--context", ctx, "wait", "--for", "condition=Ready", "istio/default", "--timeout=3m"], env=env)
        sh([kubectl, "--context", ctx, "apply", "-f", str(lab.dir / f"east-west-gateway-net{i}.yaml")], env=env)
        sh([kubectl, "--context", ctx, "apply", "-n", "istio-system", "-f", str(SEED / "expose-services.yaml")], env=env)
    for r, reader in enumerate(lab.contexts, 1):
        for s, source in enumerate(lab.contexts, 1):
            if r != s:
                pipe(lab, [istioctl, "create-remote-secret", "--context", source, "--name", f"c{s}"],
                     [kubectl, "--context", reader, "apply", "-f", "-"])


def pipe(lab, left, right):
    """`left | right`, both running at once as a shell runs them; either failing is an error."""
    a = subprocess.Popen(left, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lab.env())
    b = subprocess.run(right, stdin=a.stdout, capture_output=True, env=lab.env())
    a.stdout.close()
    err = a.stderr.read()
    if a.wait() != 0 or b.returncode != 0:
        raise RuntimeError(f"{' '.join(left)} | {' '.join(right)}: {err.decode()} {b.stderr.decode()}")


def mesh_join(lab, join_bin, extra=()):
    """The timed side: one mesh-join, as the lab tests run it (the lab's Sail operator installs
    the control planes and the reader account; --allow-loopback: every API server listens on
    127.0.0.1)."""
    sh([join_bin, "-f", str(lab.dir / "mesh.yaml"), "--allow-loopback", "--timeout", "120s", *extra],
       env=lab.env())


def seed_checks(lab, bins):
    """The verify anchor: the seeds' read commands in every cluster."""
    for ctx in lab.contexts:
        for args in SEED_CHECKS:
            sh([str(bins / "kubectl"), "--context", ctx, *args], env=lab.env())


def mesh_verify(lab, verify_bin):
    """mesh-verify's non-traffic checks; returns (success, failing check ids)."""
    import json
    r = subprocess.run([verify_bin, "-f", str(lab.dir / "mesh.yaml"), "--allow-loopback", "-o", "json"],
                       capture_output=True, text=True, env=lab.env())
    try:
        doc = json.loads(r.stdout)
    except ValueError as err:
        raise RuntimeError(f"mesh-verify printed no JSON (exit {r.returncode}): {r.stderr}") from err
    bad = sorted({c["id"] for c in doc["checks"] if c["result"] == "fail"})
    return doc["success"], bad


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
