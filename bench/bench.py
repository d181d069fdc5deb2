#!/usr/bin/env python3
"""kubectl-mesh benchmarks, each against its anchor in the same run, reported as ratios.

    python3 bench/bench.py [--sizes 2,3,5] [--runs 3] [--out docs/performance.md]

- certs: `mesh-certs create` for 2 and 10 clusters (RSA-4096, ECDSA P-256) against the seed's
  openssl procedure (bench/openssl-seed.sh, the same steps as the docs, scripted);
- join: a multi-primary, multi-network mesh of N lab clusters with `mesh-join -f mesh.yaml`
  against the seed's procedure scripted with the lab's istioctl and kubectl (labels, Istio
  resource, gateway YAML, `istioctl create-remote-secret | kubectl apply` for every ordered pair);
  wall time and API requests (counted in each API server's audit log);
- verify: every non-traffic check on the joined mesh: wall time and API requests per cluster;
- start-up (`--version`) and size of each plugin against the lab's istioctl.

Needs release binaries (cargo build --release) and the lab (tests/lab-go/build.sh).
Timings are medians of --runs runs; machines are noisy, so read the ratios.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REL = REPO / "target" / "release"


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def lab_bin():
    return Path(sh(["bash", str(REPO / "tests/lab-go/build.sh"), "--print-dir"]).stdout.strip())


def timed(fn, runs):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def bench_certs(runs):
    rows = []
    for clusters in (2, 10):
        for key in ("rsa-4096", "ecdsa-p256"):
            names = ",".join(f"c{i}" for i in range(1, clusters + 1))

            def ours():
                with tempfile.TemporaryDirectory() as d:
                    sh([str(REL / "kubectl-mesh_certs"), "create", "--clusters", names, "--key-type", key, "--dir", d + "/certs"])

            def openssl():
                with tempfile.TemporaryDirectory() as d:
                    sh(["bash", str(REPO / "bench/openssl-seed.sh"), d, str(clusters), "rsa" if key.startswith("rsa") else "ec"])

            a, b = timed(ours, runs), timed(openssl, runs)
            rows.append((f"certs create, {clusters} clusters, {key}", a, b, "openssl (seed 000 steps)"))
            print(f"certs {clusters} {key}: ours {a:.2f}s openssl {b:.2f}s ratio {b / a:.1f}x", file=sys.stderr)
    return rows


class Lab:
    def __init__(self, n):
        self.dir = Path(tempfile.mkdtemp(prefix="mesh-bench-"))
        sh(["cargo", "run", "--release", "--quiet", "-p", "mesh-lab", "--", "up", "--clusters", str(n), "--dir", str(self.dir / "lab")], cwd=REPO)
        self.kubeconfig = self.dir / "lab" / "kubeconfig"
        self.state = json.loads((self.dir / "lab" / "lab.json").read_text())
        self.n = n

    def env(self):
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig))

    def audit_lines(self):
        return [sum(1 for _ in open(Path(c["dir"]) / "audit.log")) for c in self.state["clusters"]]

    def requests_since(self, marks, writes=False):
        """Requests made by clients (not the control plane's own components) after `marks`."""
        counts = []
        for c, mark in zip(self.state["clusters"], marks):
            n = 0
            with open(Path(c["dir"]) / "audit.log") as f:
                for i, line in enumerate(f):
                    if i < mark:
                        continue
                    e = json.loads(line)
                    ua = e.get("userAgent", "")
                    if e.get("stage") != "ResponseComplete" or ua.startswith(("kube-controller-manager", "kube-apiserver")):
                        continue
                    user = e.get("user", {}).get("username", "")
                    if user in ("system:apiserver", "system:kube-controller-manager") or user.startswith("system:serviceaccount:kube-system:"):
                        continue
                    if writes and e.get("verb") not in ("create", "update", "patch", "delete"):
                        continue
                    n += 1
            counts.append(n)
        return counts

    def down(self):
        subprocess.run(["cargo", "run", "--release", "--quiet", "-p", "mesh-lab", "--", "down", "--dir", str(self.dir / "lab")], cwd=REPO, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def mesh_yaml(n, certs):
    lines = [f"meshID: mesh1\ncerts: {certs}\nclusters:"]
    for i in range(1, n + 1):
        lines.append(f"- {{name: c{i}, context: lab-{i}, network: network{i}, role: primary, eastWestAddress: 192.0.2.{i}}}")
    return "\n".join(lines) + "\n"


def prepare(lab):
    certs = lab.dir / "certs"
    names = ",".join(f"c{i}" for i in range(1, lab.n + 1))
    sh([str(REL / "kubectl-mesh_certs"), "create", "--clusters", names, "--key-type", "ecdsa-p256", "--dir", str(certs)])
    (lab.dir / "mesh.yaml").write_text(mesh_yaml(lab.n, certs))
    sh([str(REL / "kubectl-mesh_certs"), "apply", "-f", str(lab.dir / "mesh.yaml")], env=lab.env())


def scripted_procedure(lab, lb):
    """The seed's steps with istioctl and kubectl: what people run today."""
    kubectl, istioctl = str(lb / "kubectl"), str(lb / "istioctl")
    export = lab.dir / "export"
    # The per-cluster YAML people copy from the docs (namespace label, Istio, gateway, expose).
    sh([str(REL / "kubectl-mesh_join"), "-f", str(lab.dir / "mesh.yaml"), "--export", str(export), "--skip-reader-rbac"], env=lab.env())
    servers = {c["name"]: c["server"] for c in lab.state["clusters"]}
    for i in range(1, lab.n + 1):
        ctx = f"lab-{i}"
        sh([kubectl, "--context", ctx, "label", "namespace", "istio-system", f"topology.istio.io/network=network{i}", "--overwrite"], env=lab.env())
        for f in sorted((export / f"c{i}").glob("*.yaml")):
            if "secret" in f.name or "serviceaccount-istio-reader" in f.name or "clusterrole" in f.name:
                continue
            sh([kubectl, "--context", ctx, "apply", "-f", str(f)], env=lab.env())
    for r in range(1, lab.n + 1):
        for s in range(1, lab.n + 1):
            if r == s:
                continue
            secret = sh([istioctl, "create-remote-secret", "--context", f"lab-{s}", "--name", f"c{s}", "--server", servers[f"lab-{s}"]], env=lab.env()).stdout
            subprocess.run([kubectl, "--context", f"lab-{r}", "apply", "-f", "-"], input=secret, text=True, check=True, capture_output=True, env=lab.env())


def bench_join_verify(sizes, lb):
    join_rows, verify_rows = [], []
    for n in sizes:
        ours = Lab(n)
        try:
            prepare(ours)
            marks = ours.audit_lines()
            t = time.perf_counter()
            sh([str(REL / "kubectl-mesh_join"), "-f", str(ours.dir / "mesh.yaml"), "--no-wait", "--allow-loopback"], env=ours.env())
            ours_time = time.perf_counter() - t
            time.sleep(1.5)  # audit log flush
            ours_req = sum(ours.requests_since(marks))
            marks = ours.audit_lines()
            t = time.perf_counter()
            out = subprocess.run([str(REL / "kubectl-mesh_verify"), "-f", str(ours.dir / "mesh.yaml"), "--allow-loopback", "-o", "json"], env=ours.env(), capture_output=True, text=True)
            verify_time = time.perf_counter() - t
            time.sleep(1.5)
            per_cluster = ours.requests_since(marks)
            ok = json.loads(out.stdout)["success"]
            verify_rows.append((n, verify_time, max(per_cluster), ok))
            marks = ours.audit_lines()
            sh([str(REL / "kubectl-mesh_join"), "-f", str(ours.dir / "mesh.yaml"), "--no-wait", "--allow-loopback"], env=ours.env())
            time.sleep(1.5)
            rerun_req = ours.requests_since(marks)
            rerun_writes = ours.requests_since(marks, writes=True)
        finally:
            ours.down()
        anchor = Lab(n)
        try:
            prepare(anchor)
            marks = anchor.audit_lines()
            t = time.perf_counter()
            scripted_procedure(anchor, lb)
            anchor_time = time.perf_counter() - t
            time.sleep(1.5)
            anchor_req = sum(anchor.requests_since(marks))
        finally:
            anchor.down()
        join_rows.append((n, ours_time, ours_req, anchor_time, anchor_req, sum(rerun_req), sum(rerun_writes)))
        print(f"join N={n}: ours {ours_time:.2f}s/{ours_req} req, scripted {anchor_time:.2f}s/{anchor_req} req; verify {verify_time:.2f}s", file=sys.stderr)
    return join_rows, verify_rows


def bench_startup(lb, runs):
    rows = []
    ist = timed(lambda: sh([str(lb / "istioctl"), "version", "--remote=false"]), runs * 5)
    for p in ("certs", "join", "verify"):
        b = REL / f"kubectl-mesh_{p}"
        t = timed(lambda: sh([str(b), "--version"]), runs * 5)
        rows.append((p, t, ist, b.stat().st_size, (lb / "istioctl").resolve().stat().st_size))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2,3,5")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs/performance.md"))
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    print("building release binaries…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "kubectl-mesh-certs", "-p", "kubectl-mesh-join", "-p", "kubectl-mesh-verify", "-p", "mesh-lab"], cwd=REPO, check=True)
    lb = lab_bin()
    certs = bench_certs(a.runs)
    join, verify = bench_join_verify(sizes, lb)
    startup = bench_startup(lb, a.runs)
    cpu = os.cpu_count()
    md = [
        "# Performance",
        "",
        f"Measured by `python3 bench/bench.py --sizes {a.sizes} --runs {a.runs}` on a {cpu}-core machine, "
        f"{time.strftime('%Y-%m-%d')}. Medians; each figure is compared with its anchor in the same run, so read the ratios.",
        "",
        "## certs",
        "",
        "| run | kubectl-mesh | anchor | anchor / ours |",
        "|---|---:|---:|---:|",
    ]
    for name, ours, anchor, what in certs:
        md.append(f"| {name} | {ours:.2f} s | {anchor:.2f} s ({what}) | {anchor / ours:.1f}× |")
    md += ["", "## join (multi-primary, multi-network, lab clusters)", "",
           "| N | mesh-join | requests | scripted istioctl + kubectl | requests | time ratio | request ratio | second run writes |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, t, r, at, ar, rerun, rerun_w in join:
        md.append(f"| {n} | {t:.2f} s | {r} | {at:.2f} s | {ar} | {at / t:.1f}× | {ar / max(r, 1):.1f}× | {rerun} requests, {rerun_w} writes |")
    md += ["", "## verify (all non-traffic checks)", "", "| N | wall time | max API requests per cluster (incl. the remote-secret credential checks) | all passed |", "|---:|---:|---:|---|"]
    for n, t, req, ok in verify:
        md.append(f"| {n} | {t:.2f} s | {req} | {ok} |")
    md += ["", "## start-up and size", "", "| plugin | `--version` | istioctl `version --remote=false` | ratio | binary | istioctl |", "|---|---:|---:|---:|---:|---:|"]
    for p, t, it, size, isize in startup:
        md.append(f"| mesh-{p} | {t * 1000:.1f} ms | {it * 1000:.1f} ms | {it / t:.1f}× | {size / 1e6:.1f} MB | {isize / 1e6:.1f} MB |")
    md.append("")
    Path(a.out).write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
