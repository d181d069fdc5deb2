"""End states of a join, normalised so two runs on different labs can be compared.

Pure functions: `kubectl get -o json` lists in, sorted lines out. A line names the kind and
the object and carries the fields that decide what the mesh does (the key fields below);
what only identifies one lab (UIDs, resource versions, timestamps, API server ports, CA
bytes, tokens) is replaced by what it stands for (`server=lab-2`, `ca=lab-2's CA`, `token of
istio-system/istio-reader-service-account`). Everything else an object carries is diffed
separately by `detail_diff` and reported, not gated on.
"""

import base64
import json

# Metadata that differs between any two runs, or that a client tool writes about itself.
NOISE_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation",
              "selfLink", "ownerReferences")
NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                     "deployment.kubernetes.io/revision",
                     "kubernetes.io/service-account.uid", "endpoints.kubernetes.io/last-change-trigger-time")
NOISE_LABELS = ("kubernetes.io/metadata.name",)
# Kinds whose objects come and go with the controllers' timing, not with what a client wrote.
SKIP_KINDS = ("Event", "Lease")
# Secrets of these types are an installer's history (the operator's Helm keeps one per
# reconcile that changed something, so their count follows its timing, not the end state).
SKIP_SECRET_TYPES = ("helm.sh/release.v1",)


def canon(v):
    """A value as one sorted, compact JSON string."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _meta_map(obj, field, noise):
    m = (obj.get("metadata") or {}).get(field) or {}
    return {k: v for k, v in m.items() if k not in noise}


def _ports(ports, keys):
    return sorted(({k: p.get(k) for k in keys if k in p} for p in ports or []), key=canon)


def _rules(rules):
    """RBAC rules as the set of (group, resource, verb) they grant, whatever their grouping."""
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups") or [""]:
            for res in r.get("resources") or []:
                for verb in r.get("verbs") or []:
                    out.add(f"{g}/{res}:{verb}")
    return sorted(out)


def _deployment(o):
    spec = o.get("spec", {})
    tmpl = spec.get("template", {})
    pod = tmpl.get("spec", {})
    labels = tmpl.get("metadata", {}).get("labels", {})
    return {
        "selector": spec.get("selector"),
        "podLabels": {k: labels.get(k) for k in ("app", "istio", "topology.istio.io/network", "sidecar.istio.io/inject")},
        "injectTemplate": tmpl.get("metadata", {}).get("annotations", {}).get("inject.istio.io/templates"),
        "serviceAccount": pod.get("serviceAccountName"),
        "containers": sorted(({"name": c.get("name"), "image": c.get("image"),
                               "env": sorted((e.get("name"), e.get("value")) for e in c.get("env", [])),
                               "ports": _ports(c.get("ports"), ("containerPort", "protocol"))}
                              for c in pod.get("containers", [])), key=canon),
        "nodeSelector": pod.get("nodeSelector"),
    }


def _service(o):
    spec = o.get("spec", {})
    return {"type": spec.get("type"), "selector": spec.get("selector"),
            "ports": _ports(spec.get("ports"), ("name", "port", "targetPort", "protocol")),
            "network": _meta_map(o, "labels", ()).get("topology.istio.io/network")}


KEY_FIELDS = {
    "Namespace": lambda o: {"labels": _meta_map(o, "labels", NOISE_LABELS),
                            "annotations": _meta_map(o, "annotations", NOISE_ANNOTATIONS)},
    "Istio": lambda o: {"spec": o.get("spec")},
    "IstioCNI": lambda o: {"spec": o.get("spec")},
    "Service": _service,
    "Deployment": _deployment,
    "PodDisruptionBudget": lambda o: {"spec": o.get("spec")},
    "HorizontalPodAutoscaler": lambda o: {"spec": o.get("spec")},
    "Role": lambda o: {"rules": _rules(o.get("rules"))},
    "ClusterRole": lambda o: {"rules": _rules(o.get("rules"))},
    "RoleBinding": lambda o: {"roleRef": o.get("roleRef"), "subjects": o.get("subjects")},
    "ClusterRoleBinding": lambda o: {"roleRef": o.get("roleRef"), "subjects": o.get("subjects")},
    "Gateway": lambda o: {"spec": o.get("spec")},
    "VirtualService": lambda o: {"spec": o.get("spec")},
    "ServiceEntry": lambda o: {"spec": o.get("spec")},
    "DestinationRule": lambda o: {"spec": o.get("spec")},
}


def jwt_subject(token):
    """`namespace/name` of the ServiceAccount a legacy token was issued for ('?' if unreadable)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return "?"
    sub = claims.get("sub", "")
    return sub.removeprefix("system:serviceaccount:").replace(":", "/", 1) if sub else "?"


def pem_key(b64):
    """A CA as a comparable key: the base64 data decoded, whitespace removed."""
    try:
        return "".join(base64.b64decode(b64 or "").decode().split())
    except ValueError:
        return "?"


def kubeconfig_fields(cfg, servers, cas):
    """The parts of a remote secret's kubeconfig (as `kubectl config view -o json --raw` prints
    it) that decide what istiod reads: which cluster, with which CA, as whom. `servers` maps
    API server URLs and `cas` maps `pem_key`s to the lab cluster they belong to."""
    clusters = [{"name": c.get("name"),
                 "server": servers.get(c["cluster"].get("server"), "unknown server"),
                 "ca": cas.get(pem_key(c["cluster"].get("certificate-authority-data")), "unknown CA")}
                for c in cfg.get("clusters", [])]
    users = [{"name": u.get("name"), "token of": jwt_subject((u.get("user") or {}).get("token", ""))}
             for u in cfg.get("users", [])]
    return {"current-context": cfg.get("current-context"), "clusters": clusters, "users": users}


def secret_fields(o, kubeconfigs):
    """Key fields of a Secret: type, data keys, the labels/annotations istio reads; a remote
    secret's kubeconfigs (`kubeconfigs`: data key -> normalised kubeconfig)."""
    out = {"type": o.get("type"), "keys": sorted((o.get("data") or {}).keys()),
           "labels": _meta_map(o, "labels", ()), "annotations": _meta_map(o, "annotations", NOISE_ANNOTATIONS)}
    if kubeconfigs:
        out["kubeconfigs"] = kubeconfigs
    return out


def _identity(o):
    meta = o.get("metadata", {})
    kind = o.get("kind", "?")
    owners = meta.get("ownerReferences") or []
    if owners:
        # Made by a controller: its name is derived (a template hash); what counts is that it
        # exists. A Pod's ReplicaSet is named by the hash of the whole pod template, which
        # carries fields outside the key fields (e.g. a revision label): counted by Deployment.
        owner_kind, owner = owners[0].get("kind"), owners[0].get("name", "")
        if kind == "Pod" and owner_kind == "ReplicaSet":
            owner = owner.rsplit("-", 1)[0] + "-*"
        return f"{kind}(owned by {owner_kind}/{owner})"
    return f"{kind}/{meta.get('namespace', '-')}/{meta.get('name')}"


def normalise(objects, kubeconfigs=None):
    """Sorted key lines for a cluster's objects (`objects`: items of `kubectl get -o json`).
    `kubeconfigs` maps `namespace/name` of a Secret to its normalised kubeconfigs."""
    kubeconfigs = kubeconfigs or {}
    lines = []
    for o in objects:
        kind = o.get("kind", "?")
        if kind in SKIP_KINDS or (kind == "Secret" and o.get("type") in SKIP_SECRET_TYPES):
            continue
        ident = _identity(o)
        meta = o.get("metadata", {})
        if meta.get("ownerReferences"):
            fields = {}
        elif kind == "Secret":
            fields = secret_fields(o, kubeconfigs.get(f"{meta.get('namespace')}/{meta.get('name')}"))
        elif kind in KEY_FIELDS:
            fields = KEY_FIELDS[kind](o)
        else:
            fields = {}
        lines.append(f"{ident} {canon(fields)}" if fields else ident)
    return sorted(lines)


def diff_lines(a, b):
    """Lines only in `a` ('- …') and only in `b` ('+ …'), counting duplicates."""
    rest = list(b)
    only_a = []
    for line in a:
        if line in rest:
            rest.remove(line)
        else:
            only_a.append(line)
    return [f"- {x}" for x in only_a] + [f"+ {x}" for x in rest]


def strip_noise(o):
    """An object without status and without the metadata that identifies one run."""
    o = json.loads(json.dumps(o))
    o.pop("status", None)
    meta = o.get("metadata", {})
    for k in NOISE_META:
        meta.pop(k, None)
    for field, noise in (("annotations", NOISE_ANNOTATIONS), ("labels", NOISE_LABELS)):
        if field in meta:
            meta[field] = {k: v for k, v in meta[field].items() if k not in noise}
            if not meta[field]:
                del meta[field]
    if o.get("kind") == "Service":
        spec = o.get("spec", {})
        for k in ("clusterIP", "clusterIPs"):
            spec.pop(k, None)  # allocated by each API server
        for port in spec.get("ports", []):
            port.pop("nodePort", None)
    if o.get("kind") == "Secret" or (o.get("kind") == "ConfigMap" and meta.get("name") == "kube-root-ca.crt"):
        o.pop("data", None)  # secret material; the lab's own CA
    return o


def paths_differing(a, b, prefix=""):
    """JSON paths where `a` and `b` differ (a missing key counts as a difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += paths_differing(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += paths_differing(x, y, f"{prefix}[{i}]")
        return out
    return [] if a == b else [prefix or "."]


def detail_diff(objects_a, objects_b):
    """Per object present on both sides (by identity), the paths outside the key fields that
    differ: what the comparison does not gate on, for the report."""
    by_a = {_identity(o): strip_noise(o) for o in objects_a if o.get("kind") not in SKIP_KINDS}
    by_b = {_identity(o): strip_noise(o) for o in objects_b if o.get("kind") not in SKIP_KINDS}
    out = {}
    for ident in sorted(set(by_a) & set(by_b)):
        paths = paths_differing(by_a[ident], by_b[ident])
        if paths:
            out[ident] = paths
    return out
