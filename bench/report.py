"""docs/performance.md from the measurements of bench.py."""

import os
import platform
import re
import statistics
import subprocess
import time

GOAL_SIZE_MB = 10.0
GOAL_START_MS = 5.0


def s(t):
    return f"{t[0]:.2f} / **{t[1]:.2f}** / {t[2]:.2f} s"


def ms(t):
    return f"{t[0] * 1000:.1f} / **{t[1] * 1000:.1f}** / {t[2] * 1000:.1f} ms"


def per_cluster(samples):
    """Median per cluster over runs, as 'a / b / …'."""
    return " / ".join(str(int(statistics.median(col))) for col in zip(*samples))


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def build_profile(repo):
    text = (repo / "Cargo.toml").read_text()
    m = re.search(r"^\[profile\.release\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    body = "; ".join(line.strip() for line in (m.group(1) if m else "").splitlines()
                     if line.strip() and not line.startswith("#"))
    rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    return f"`[profile.release]` {body or '(defaults)'}; {rustc}"


def tool_versions(lb):
    def first(args):
        r = subprocess.run(args, capture_output=True, text=True)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
    return (f"kubectl {first([str(lb / 'kubectl'), 'version', '--client'])}; "
            f"istioctl {first([str(lb / 'istioctl'), 'version', '--remote=false'])}")


def header(a, repo, lb, elapsed):
    return [
        "# Performance", "",
        f"Produced by `python3 bench/bench.py --sizes {a.sizes} --runs {a.runs}` on {time.strftime('%Y-%m-%d')}, "
        f"in {elapsed / 60:.0f} min, on a shared machine with {machine()}. Every figure is min / **median** / max "
        f"of {a.runs} runs (verify: {2 * a.runs} samples; start-up: 30); ratios are anchor ÷ ours per run, "
        "then the median, so a machine that drifts during the run moves both sides alike.", "",
        f"Build: {build_profile(repo)}. Lab programs: {tool_versions(lb)}.", "",
    ]


def certs_section(rows):
    md = ["## certs", "",
          "Anchor: the seed's openssl steps (`bench/openssl-seed.sh`, seed 000). Goal: faster than the anchor.", "",
          "| run | mesh-certs create | openssl (seed 000) | ratio | goal met |", "|---|---:|---:|---:|---|"]
    for r in rows:
        md.append(f"| {r['name']} | {s(r['ours'])} | {s(r['seed'])} | {r['ratio']:.1f}× | {'yes' if r['ratio'] > 1 else 'no'} |")
    return md + [""]


JOIN_INTRO = """## join (multi-primary, multi-network, N lab clusters)

Anchor: the seeds' procedure as a person runs it (seed 004 and the upstream OpenShift seed it
follows), with the lab's kubectl and istioctl, one process per command, in the timed region:
per cluster `kubectl label namespace istio-system topology.istio.io/network=networkI`,
`kubectl apply -f -` of one `Istio` manifest, `kubectl wait --for condition=Ready istio/default`,
`kubectl apply -f east-west-gateway-netI.yaml` and `kubectl apply -n istio-system -f
expose-services.yaml` (the published files, `bench/seed/`); per ordered pair `istioctl
create-remote-secret --context X --name X | kubectl apply --context Y -f -` (the upstream
form; the reader account and its RBAC come from the operator's charts on both sides).
Ours: `kubectl mesh-join -f mesh.yaml --allow-loopback`. Outside the timed
region and the same on both sides: certificates made and applied as seeds 000/001 do
(`kubectl create namespace`, `kubectl create secret generic cacerts`), manifests written.
Each side runs on its own fresh lab with the real Sail operator, scheduler, fake nodes (kwok)
and load balancer (MetalLB); the controllers' requests are not counted (they act under their
own users). Requests are every client request
in each API server's audit log, read up to a barrier write that the same filter must find.

Before a ratio is printed, both sides' end states are compared: every object in
`istio-system` (every listable kind), the `Istio` resources, the `istio*` namespaces and the
reader ClusterRole/Binding, each reduced to kind, name and key fields (labels and annotations
of the namespace, `Istio` spec, Service type/ports/selector/network, Deployment
selector/pod labels/containers/env/ports/service account, PDB/HPA spec, RBAC rules as
(group, resource, verb) sets, Gateway/VirtualService spec, Secrets' type, keys, labels and
annotations, and each remote secret's kubeconfig: cluster, server, CA and the account its token
belongs to). A difference there stops the ratio and is printed.

mesh-join sends more requests than the anchor: before its first write it dry-runs every object
in every cluster with server-side apply (one refusal anywhere stops it with nothing written),
and it reads the objects it manages to plan the changes; the seeds' commands do neither (the
dry runs are counted in their own column).

Goal (what this page claimed before): faster than the anchor and to the same end state; a
second run writes nothing. (An earlier version of this page claimed fewer requests than the
anchor: it timed `mesh-join --no-wait`, which stops after the control planes, against an
anchor that applied one object per command. It does not hold.)"""


def join_section(join):
    md = [JOIN_INTRO, "",
          "| N | mesh-join | seeds' procedure | ratio | requests per cluster, ours | of which dry runs | seeds' | end state | second run writes |",
          "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for n, runs in join.items():
        differs = any(r["diffs"] for r in runs)
        ratio = "refused" if differs else f"{statistics.median(r['seed'] / r['ours'] for r in runs):.1f}×"
        state = "**differs** (below)" if differs else f"same ({runs[0]['objects']} objects per cluster, {len(runs)} runs)"
        writes = max(sum(len(w) for w in r["rerun_writes"]) for r in runs)
        md.append(f"| {n} | {s(spread(r['ours'] for r in runs))} | {s(spread(r['seed'] for r in runs))} | {ratio} | "
                  f"{per_cluster([r['ours_req'] for r in runs])} | {per_cluster([r['ours_dry'] for r in runs])} | "
                  f"{per_cluster([r['seed_req'] for r in runs])} | "
                  f"{state} | {writes} |")
    for n, runs in join.items():
        for i, r in enumerate(runs, 1):
            for ctx, lines in r["diffs"].items():
                md += ["", f"End state difference, N={n}, run {i}, {ctx} (`-` mesh-join, `+` seeds' procedure):", "", "```"]
                md += lines + ["```"]
    first = next(iter(join.values()))[0]
    md += ["", "Not compared (present on both sides, different outside the key fields; lab-1 of the first run):", ""]
    md += [f"- `{ident}`: {', '.join(f'`{p}`' for p in paths)}" for ident, paths in first["details"].items()] or ["- nothing"]
    return md + [""]


def spread(xs):
    xs = list(xs)
    return (min(xs), statistics.median(xs), max(xs))


def verify_section(join):
    md = ["## verify (non-traffic checks, on the mesh-join side's lab after the join)", "",
          "Anchor: the seeds' read commands in every cluster (`kubectl get namespace istio-system`, "
          "`kubectl get secret -n istio-system cacerts`, `kubectl wait --for condition=Ready istio/default`, "
          "`kubectl -n istio-system get pod`, `kubectl -n istio-system get svc istio-eastwestgateway`). "
          "Seed 004's own verification section has no such command: it deploys samples and curls across "
          "clusters, which the lab cannot run (no container but istiod runs). `istioctl remote-clusters` is "
          "not usable here: it port-forwards to an istiod pod, and kwok's pods have no port-forward (the lab "
          "runs istiod as a local process). The anchor only shows that objects exist; mesh-verify also judges "
          "them (shared root, remote credentials, …).", "",
          "Goal (docs/checks.md): at most 10 + 2 × (N − 1) requests per API server (verify is run without "
          "`--istiod-address`, so it makes no port-forward).", "",
          "| N | mesh-verify | seeds' commands | ratio | requests per cluster, ours | goal | seeds' | checks failing |",
          "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n, runs in join.items():
        v = [r["verify"] for r in runs]
        ours = [t for x in v for t in x["ours"]]
        seed = [t for x in v for t in x["seed"]]
        ratio = statistics.median(b / a for x in v for a, b in zip(x["ours"], x["seed"]))
        req = [c for x in v for c in x["ours_req"]]
        sreq = [c for x in v for c in x["seed_req"]]
        failing = sorted({f for x in v for f in x["result"][1]})
        md.append(f"| {n} | {s(spread(ours))} | {s(spread(seed))} | {ratio:.1f}× | {per_cluster(req)} | "
                  f"{10 + 2 * (n - 1)} | {per_cluster(sreq)} | {', '.join(f'`{f}`' for f in failing) or 'none'} |")
    md += ["", "The failing checks read istiod's debug endpoints, which verify reaches by a port-forward to "
           "its pod; kwok's pods have none, and this benchmark does not pass the lab's istiod addresses "
           "(`--istiod-address`). The anchor has no such check.", ""]
    return md


def startup_section(rows):
    ist_t, ist_size = rows["istioctl"]
    md = ["## start-up and size", "",
          f"Goal: each binary ≤ {GOAL_SIZE_MB:.0f} MB, `--version` ≤ {GOAL_START_MS:.0f} ms. Anchor: the lab's istioctl "
          f"(`version --remote=false`). Times are whole processes started from Python; starting `/bin/true` the "
          f"same way takes {ms(rows['floor'])}, which every figure includes.", "",
          "| binary | `--version` | goal met | size | goal met | istioctl time ÷ ours | istioctl size ÷ ours |",
          "|---|---:|---|---:|---|---:|---:|"]
    for name in ("mesh-certs", "mesh-join", "mesh-verify"):
        t, size = rows[name]
        md.append(f"| {name} | {ms(t)} | {'yes' if t[1] * 1000 <= GOAL_START_MS else 'no'} | {size / 1e6:.1f} MB | "
                  f"{'yes' if size / 1e6 <= GOAL_SIZE_MB else 'no'} | {ist_t[1] / t[1]:.1f}× | {ist_size / size:.1f}× |")
    md.append(f"| istioctl | {ms(ist_t)} | | {ist_size / 1e6:.1f} MB | | | |")
    return md + [""]


NOT_COVERED = """## What these numbers do not cover

- Real clusters: the lab is API servers, etcd, controllers, the Sail operator and MetalLB as
  local processes on one host; pods are kwok's (no image is pulled, no container starts except
  istiod, which the lab runs as a process). Network latency to a remote API server and real
  pod start-up, which dominate a real join, are not in these figures.
- Traffic: `mesh-verify --traffic` and the seeds' curl between clusters are not measured.
- Primary-remote, single-network, CNI and Helm/istioctl installers: only multi-primary,
  multi-network with the Sail `Istio` resource is measured.
- A person's time: the anchor runs the commands back to back; reading, copying and editing
  the seed's YAML for each cluster are not counted.
- Other machines: 2 shared cores, other work running; the min–max spread shows the noise.
"""


def render(a, repo, lb, certs, join, startup, elapsed):
    md = header(a, repo, lb, elapsed)
    md += startup_section(startup) + certs_section(certs) + join_section(join) + verify_section(join)
    md.append(NOT_COVERED)
    return "\n".join(md)
