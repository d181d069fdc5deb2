"""What the Sail operator does that both sides wait for, on a lab that has no operator: an
`Istio` resource is marked Reconciled and Ready as soon as it appears (a watch, not a poll).

It renders no chart and runs no istiod. It acts as an in-cluster controller would: with its
own ServiceAccount in kube-system, so its requests are not counted as the measured client's.
"""

import json
import subprocess
import threading

from benchlab import sh

READY = ('{"status":{"state":"Healthy","conditions":[{"type":"Reconciled","status":"True","reason":"Healthy",'
         '"lastTransitionTime":"2026-01-01T00:00:00Z"},{"type":"Ready","status":"True","reason":"Healthy",'
         '"lastTransitionTime":"2026-01-01T00:00:00Z"}]}}')
ACCOUNT = "bench-operator"


def operator_kubeconfig(lab):
    """A kubeconfig whose users are the stand-in's ServiceAccount (cluster-admin) in each cluster."""
    cfg = json.loads(sh([str(lab.bin_dir / "kubectl"), "config", "view", "--raw", "-o", "json"], env=lab.env()).stdout)
    tokens = {}
    for ctx in lab.contexts:
        lab.kubectl(ctx, "create", "serviceaccount", ACCOUNT, "-n", "kube-system")
        lab.kubectl(ctx, "create", "clusterrolebinding", ACCOUNT, "--clusterrole=cluster-admin",
                    f"--serviceaccount=kube-system:{ACCOUNT}")
        tokens[ctx] = lab.kubectl(ctx, "create", "token", ACCOUNT, "-n", "kube-system", "--duration=6h").stdout.strip()
    for ctx in cfg["contexts"]:
        user = ctx["context"]["user"]
        for u in cfg["users"]:
            if u["name"] == user:
                u["user"] = {"token": tokens[ctx["name"]]}
    path = lab.dir / "operator.kubeconfig"
    path.write_text(json.dumps(cfg))
    path.chmod(0o600)
    return path


class OperatorStandIn:
    """Watches `istios` in every cluster of `lab` and marks each new one Ready; stop() ends it."""

    def __init__(self, lab):
        self.lab = lab
        self.kubeconfig = lab.dir / "operator.kubeconfig"
        if not self.kubeconfig.exists():
            operator_kubeconfig(lab)
        self.procs, self.threads = [], []
        for ctx in lab.contexts:
            p = subprocess.Popen(self.kubectl(ctx, "get", "istios.sailoperator.io", "--watch", "-o", "name"),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            t = threading.Thread(target=self.follow, args=(ctx, p), daemon=True)
            t.start()
            self.procs.append(p)
            self.threads.append(t)

    def kubectl(self, ctx, *args):
        return [str(self.lab.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), "--context", ctx, *args]

    def follow(self, ctx, proc):
        done = set()
        for line in proc.stdout:
            name = line.strip().split("/")[-1]
            if name and name not in done:
                done.add(name)
                subprocess.run(self.kubectl(ctx, "patch", "istios.sailoperator.io", name, "--subresource=status",
                                            "--type=merge", "-p", READY), capture_output=True)

    def stop(self):
        for p in self.procs:
            p.terminate()
            p.wait()
        for t in self.threads:
            t.join(timeout=5)
