"""A lab for one benchmark side: started fresh, read through the lab's kubectl, its API
requests counted from the audit logs up to a barrier write (never after a fixed sleep)."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import endstate

# The user the lab's kubeconfig authenticates as (its admin certificate): both sides of a
# benchmark act as it. Every lab component (controllers, the scheduler, kwok, MetalLB, the Sail
# operator, istiod's pods) has a user of its own, so their requests are not counted.
CLIENT_USER = "lab-admin"


def sh(args, **kw):
    """Runs a command; on failure raises with its output (the benchmark stops, naming it)."""
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def client_request(e):
    """True for an audit event of a client's finished request (the lab admin's: see CLIENT_USER)."""
    return e.get("stage") == "ResponseComplete" and e.get("user", {}).get("username") == CLIENT_USER


def stored_write(e):
    return client_request(e) and e.get("verb") in ("create", "update", "patch", "delete") \
        and "dryRun=All" not in e.get("requestURI", "") \
        and not e.get("objectRef", {}).get("resource", "").startswith("selfsubject")


def read_events(path):
    """Every complete line of an audit log as JSON; a missing log or a bad line is an error."""
    text = Path(path).read_text()
    complete = text[: text.rfind("\n") + 1]
    out = []
    for n, line in enumerate(complete.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as err:
            raise RuntimeError(f"audit log {path} line {n}: not JSON ({err})") from err
    return out


class Lab:
    """N fresh lab clusters (contexts lab-1 … lab-N) in a temporary directory."""

    def __init__(self, mesh_lab, bin_dir, n):
        self.mesh_lab, self.bin_dir, self.n = mesh_lab, Path(bin_dir), n
        self.dir = Path(tempfile.mkdtemp(prefix="mesh-bench-"))
        self.labdir = self.dir / "lab"
        sh([mesh_lab, "up", "--clusters", str(n), "--dir", str(self.labdir), "--bin-dir", str(bin_dir)])
        self.state = json.loads((self.labdir / "lab.json").read_text())
        self.kubeconfig = Path(self.state["kubeconfig"])
        self.contexts = [c["name"] for c in self.state["clusters"]]

    def env(self):
        # Its own discovery cache: labs reuse loopback ports, and a cache left by an earlier
        # lab on the same port would save this one's discovery requests.
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), NO_COLOR="1", KUBECACHEDIR=str(self.dir / "kube-cache"))

    def kubectl(self, ctx, *args, **kw):
        return sh([str(self.bin_dir / "kubectl"), "--context", ctx, *args], env=self.env(), **kw)

    def audit_logs(self):
        return [Path(c["dir"]) / "audit.log" for c in self.state["clusters"]]

    def marks(self):
        return [len(read_events(p)) for p in self.audit_logs()]

    def events_since(self, marks):
        """Client requests per cluster since `marks`, read up to a barrier write in each
        cluster. The barrier is the positive control: the filter that counts the requests must
        find it, or the count is refused."""
        marker = f"bench-barrier-{time.time_ns()}"
        out = []
        for ctx, log, mark in zip(self.contexts, self.audit_logs(), marks):
            self.kubectl(ctx, "create", "configmap", marker, "-n", "default")
            deadline = time.monotonic() + 30
            while True:
                events = [e for e in read_events(log)[mark:] if client_request(e)]
                if any(stored_write(e) and e.get("objectRef", {}).get("name") == marker for e in events):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ctx}: the barrier write never reached {log}")
                time.sleep(0.05)
            out.append([e for e in events if e.get("objectRef", {}).get("name") != marker])
        return out

    def requests_since(self, marks):
        return [len(evs) for evs in self.events_since(marks)]

    def requests_and_dry_runs_since(self, marks):
        """Per cluster: (client requests, of which server-side dry runs)."""
        return [(len(evs), sum("dryRun=All" in e.get("requestURI", "") for e in evs))
                for evs in self.events_since(marks)]

    def writes_since(self, marks):
        return [[f"{e['verb']} {e['objectRef'].get('resource')} {e['objectRef'].get('name', '')}"
                 for e in evs if stored_write(e)] for evs in self.events_since(marks)]

    def get_items(self, ctx, kinds, namespace=None):
        args = ["get", ",".join(kinds), "-o", "json"] + (["-n", namespace] if namespace else [])
        return json.loads(self.kubectl(ctx, *args).stdout)["items"]

    def namespaced_kinds(self, ctx):
        out = self.kubectl(ctx, "api-resources", "--verbs=list", "--namespaced=true", "-o", "name").stdout
        return [k for k in out.split() if k not in ("events", "events.events.k8s.io")]

    def lab_identities(self):
        """API server URLs and CA keys of this lab's clusters -> the context they belong to."""
        cfg = json.loads(sh([str(self.bin_dir / "kubectl"), "config", "view", "--raw", "-o", "json"],
                            env=self.env()).stdout)
        servers = {c["cluster"]["server"]: c["name"] for c in cfg["clusters"]}
        cas = {endstate.pem_key(c["cluster"].get("certificate-authority-data")): f"{c['name']}'s CA"
               for c in cfg["clusters"]}
        return servers, cas

    def kubeconfig_view(self, text):
        """A kubeconfig's text as JSON, through `kubectl config view` (the file is 0600, removed)."""
        path = self.dir / "remote.kubeconfig"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            return json.loads(sh([str(self.bin_dir / "kubectl"), "config", "view", "--raw", "-o", "json",
                                  "--kubeconfig", str(path)]).stdout)
        finally:
            path.unlink()

    def end_state(self):
        """Per cluster: the objects of istio-system (every listable kind), the Istio resources,
        the namespaces and the istio reader RBAC, and the remote secrets' kubeconfigs, normalised."""
        servers, cas = self.lab_identities()
        states, raw = [], []
        for ctx in self.contexts:
            objs = self.get_items(ctx, self.namespaced_kinds(ctx), "istio-system")
            cluster = self.get_items(ctx, ["istios.sailoperator.io", "istiocnis.sailoperator.io", "namespaces",
                                           "clusterroles", "clusterrolebindings"])
            objs += [o for o in cluster if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
                     or o["metadata"]["name"].startswith("istio")]
            kubeconfigs = {}
            for o in objs:
                if o["kind"] == "Secret" and o["metadata"].get("labels", {}).get("istio/multiCluster") == "true":
                    kubeconfigs[f"istio-system/{o['metadata']['name']}"] = {
                        key: endstate.kubeconfig_fields(self.kubeconfig_view(base64.b64decode(v).decode()),
                                                        servers, cas)
                        for key, v in (o.get("data") or {}).items()}
            states.append(endstate.normalise(objs, kubeconfigs))
            raw.append(objs)
        return states, raw

    def down(self):
        subprocess.run([self.mesh_lab, "down", "--dir", str(self.labdir)], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
