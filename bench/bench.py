#!/usr/bin/env python3
"""kubectl-mesh benchmarks, each figure beside its anchor and its goal, measured in one run.

    python3 bench/bench.py [--sizes 2,3,5] [--runs 3] [--out docs/performance.md]

- certs: `mesh-certs create` against the seed's openssl steps (bench/openssl-seed.sh);
- join: `mesh-join -f mesh.yaml` against the seeds' procedure as a person runs it (bench/seedrun.py),
  each side on a fresh lab per run, end states compared before any ratio is printed;
- verify: `mesh-verify -f mesh.yaml` (non-traffic checks) against the seeds' read commands;
- start-up (`--version`) and size of each release binary against the lab's istioctl.

Needs the lab's programs (tests/lab-go/build.sh) and builds the release binaries itself
(cargo build --release). Every figure is min / median / max of --runs runs (start-up: 30).
Python 3.9+ standard library only.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlab  # noqa: E402
import endstate  # noqa: E402
import report  # noqa: E402
import seedrun  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
REL = REPO / "target" / "release"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def spread(samples):
    return (min(samples), statistics.median(samples), max(samples))


def bench_certs(runs):
    rows = []
    for clusters in (2, 10):
        for key in ("rsa-4096", "ecdsa-p256"):
            names = ",".join(f"c{i}" for i in range(1, clusters + 1))
            ours, seed = [], []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as d:
                    ours.append(seedrun.timed(lambda: benchlab.sh(
                        [str(REL / "kubectl-mesh_certs"), "create", "--clusters", names, "--key-type", key, "--dir", d + "/certs"])))
                with tempfile.TemporaryDirectory() as d:
                    seed.append(seedrun.timed(lambda: benchlab.sh(
                        ["bash", str(REPO / "bench/openssl-seed.sh"), d, str(clusters), "rsa" if key.startswith("rsa") else "ec"])))
            rows.append({"name": f"{clusters} clusters, {key}", "ours": spread(ours), "seed": spread(seed),
                         "ratio": statistics.median(s / o for s, o in zip(seed, ours))})
            log(f"certs {clusters} {key}: ours {rows[-1]['ours'][1]:.2f}s seed {rows[-1]['seed'][1]:.2f}s")
    return rows


def join_side(n, lb, side):
    """A fresh lab, prepared; one timed join (ours or the seed's); its requests per cluster."""
    lab = benchlab.Lab(str(REL / "mesh-lab"), lb, n)
    try:
        seedrun.prepare(lab, str(REL / "kubectl-mesh_certs"))
        marks = lab.marks()
        if side == "ours":
            t = seedrun.timed(lambda: seedrun.mesh_join(lab, str(REL / "kubectl-mesh_join")))
        else:
            t = seedrun.timed(lambda: seedrun.seed_join(lab, lb))
        requests = lab.requests_and_dry_runs_since(marks)
        return lab, t, requests
    except BaseException:
        lab.down()
        raise


def verify_samples(lab, lb):
    """mesh-verify and the seeds' checks, alternating, on one joined lab."""
    out = {"ours": [], "seed": [], "ours_req": [], "seed_req": [], "result": None}
    for _ in range(2):
        marks = lab.marks()
        result = []
        out["ours"].append(seedrun.timed(lambda: result.append(seedrun.mesh_verify(lab, str(REL / "kubectl-mesh_verify")))))
        out["ours_req"].append(lab.requests_since(marks))
        out["result"] = result[0]
        marks = lab.marks()
        out["seed"].append(seedrun.timed(lambda: seedrun.seed_checks(lab, lb)))
        out["seed_req"].append(lab.requests_since(marks))
    return out


def one_run(n, lb):
    """Both sides of the join on fresh labs, their end states compared; verify on ours; a
    second mesh-join on ours, its writes counted (the barrier is the positive control)."""
    ours, t_ours, r_ours = join_side(n, lb, "ours")
    try:
        seed, t_seed, r_seed = join_side(n, lb, "seed")
        try:
            (state_a, raw_a), (state_b, raw_b) = ours.end_state(), seed.end_state()
        finally:
            seed.down()
        diffs = {ctx: endstate.diff_lines(a, b) for ctx, a, b in zip(ours.contexts, state_a, state_b)}
        details = endstate.detail_diff(raw_a[0], raw_b[0])
        verify = verify_samples(ours, lb)
        marks = ours.marks()
        seedrun.mesh_join(ours, str(REL / "kubectl-mesh_join"))
        rerun_writes = ours.writes_since(marks)
    finally:
        ours.down()
    return {"ours": t_ours, "seed": t_seed, "ours_req": [r for r, _ in r_ours], "seed_req": [r for r, _ in r_seed],
            "ours_dry": [d for _, d in r_ours], "seed_dry": [d for _, d in r_seed],
            "objects": len(state_a[0]), "diffs": {k: v for k, v in diffs.items() if v}, "details": details,
            "verify": verify, "rerun_writes": rerun_writes}


def bench_join_verify(sizes, runs, lb):
    results = {}
    for n in sizes:
        results[n] = []
        for r in range(runs):
            res = one_run(n, lb)
            results[n].append(res)
            log(f"join N={n} run {r + 1}: ours {res['ours']:.2f}s {res['ours_req']} req, seed {res['seed']:.2f}s "
                f"{res['seed_req']} req, end states {'differ' if res['diffs'] else 'equal'}")
            for ctx, lines in res["diffs"].items():
                log(f"  {ctx}:\n    " + "\n    ".join(lines))
    return results


def time_process(args, runs):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t)
    return spread(samples)


def bench_startup(lb, runs=30):
    istioctl = lb / "istioctl"
    rows = {"floor": time_process(["/bin/true"], runs),
            "istioctl": (time_process([str(istioctl), "version", "--remote=false"], runs), istioctl.resolve().stat().st_size)}
    for p in ("certs", "join", "verify"):
        b = REL / f"kubectl-mesh_{p}"
        rows[f"mesh-{p}"] = (time_process([str(b), "--version"], runs), b.stat().st_size)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2,3,5")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs/performance.md"))
    a = ap.parse_args()
    if a.runs < 3:
        ap.error("--runs must be at least 3 (every figure is a median)")
    sizes = [int(s) for s in a.sizes.split(",")]
    log("building release binaries…")
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "kubectl-mesh-certs", "-p", "kubectl-mesh-join",
                    "-p", "kubectl-mesh-verify", "-p", "mesh-lab"], cwd=REPO, check=True)
    lb = Path(benchlab.sh(["bash", str(REPO / "tests/lab-go/build.sh"), "--print-dir"]).stdout.strip())
    started = time.time()
    startup = bench_startup(lb)
    certs = bench_certs(a.runs)
    join = bench_join_verify(sizes, a.runs, lb)
    md = report.render(a, REPO, lb, certs, join, startup, time.time() - started)
    Path(a.out).write_text(md)
    print(md)
    if any(res["diffs"] for runs in join.values() for res in runs):
        log("end states differ: no join ratio printed (see the diff above and in the report)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
