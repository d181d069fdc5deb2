//! What the convergence tests share: mesh files from cluster lines, certificates for both
//! halves of a lab, normalized snapshots and their comparison, and the chain of changes
//! (`Halves::step`).
#![allow(dead_code)]

pub mod fields;

use super::join::{Untouched, purge_back};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json, run_plugin as run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

pub fn certs_bin() -> String {
    mesh_lab::testing::plugin_path("kubectl-mesh-certs")
}

/// A mesh file from cluster lines `name role network [primary]`, on contexts starting at
/// `lab-{first}`. Primaries publish a fixed east-west address (the lab has no load balancer).
pub fn mesh(first: usize, clusters: &[&str]) -> String {
    let mut out = String::from("meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n");
    for (i, line) in clusters.iter().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = format!("lab-{}", first + i);
        let extra = match f.get(3) {
            Some(p) => format!(", primary: {p}"),
            // One address per lab cluster: the lab's clusters share one network.
            None => format!(", eastWestAddress: 192.0.2.{}", first + i),
        };
        out.push_str(&format!(
            "- {{name: {}, context: {ctx}, network: {}, role: {}{extra}}}\n",
            f[0], f[2], f[1]
        ));
    }
    out
}

pub fn join_with(
    lab: &Lab,
    dir: &Path,
    file: &str,
    text: &str,
    extra: &[&str],
) -> std::process::Output {
    std::fs::write(dir.join(file), text).unwrap();
    let mut args = vec!["-f", file, "--timeout", "180s", "--allow-loopback"];
    args.extend_from_slice(extra);
    run(JOIN, lab, dir, &args)
}

/// Certificates for every cluster name, applied to every context of the lab (both halves).
pub fn prepare(lab: &Lab, dir: &Path, names: &str, halves: &[String]) {
    ok(run(
        &certs_bin(),
        lab,
        dir,
        &["create", "--clusters", names, "--key-type", "ecdsa-p256"],
    ));
    for (i, text) in halves.iter().enumerate() {
        let file = format!("certs-{i}.yaml");
        std::fs::write(dir.join(&file), text).unwrap();
        ok(run(&certs_bin(), lab, dir, &["apply", "-f", &file]));
    }
}

/// Everything a join may write in a cluster, normalized: no server bookkeeping, no values that
/// differ between clusters by nature (allocated IPs and ports, tokens, API server URLs).
pub fn snapshot(lab: &Lab, ctx: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // One kubectl for the cluster-scoped kinds, one for istio-system's.
    for (kinds, ns) in [
        (
            "namespaces,istios.sailoperator.io,istiocnis.sailoperator.io,clusterroles,clusterrolebindings",
            None,
        ),
        (
            "secrets,configmaps,serviceaccounts,services,deployments,poddisruptionbudgets,\
             horizontalpodautoscalers,roles,rolebindings,gateways.networking.istio.io,\
             virtualservices.networking.istio.io",
            Some("istio-system"),
        ),
    ] {
        let mut args = vec!["get", kinds, "--show-managed-fields"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let list = kubectl_json(lab, ctx, &args)
            .unwrap_or_else(|| panic!("{ctx}: kubectl get {kinds} failed"));
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
            let kind = format!(
                "{} {}",
                item["apiVersion"].as_str().unwrap(),
                item["kind"].as_str().unwrap()
            );
            // The operator's Helm release history differs with the path taken; what the
            // release rendered (istiod, its config, RBAC) is compared like our objects.
            let history = item["type"] == "helm.sh/release.v1";
            let system = name.starts_with("system:")
                || name == "kube-root-ca.crt"
                || name == "default"
                || history;
            let ours = ns.is_some() || kind.contains("sailoperator") || name.starts_with("istio");
            if !system && ours && !istiod_bookkeeping(item) {
                out.insert(format!("{kind} {name}"), normalize(item.clone()));
            }
        }
    }
    out
}

/// istiod's own bookkeeping (leader elections, IP auto-allocation): unlabelled objects that
/// only istiod wrote while it ran. Neither the join nor the operator writes them, and a former
/// primary keeps them after its istiod is gone, as a real cluster does; what istiod publishes
/// for the mesh (`istio-ca-root-cert`, labelled `istio.io/config`) is still compared.
pub fn istiod_bookkeeping(item: &Value) -> bool {
    let managers: Vec<&str> = item["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    let unlabelled = item["metadata"]["labels"]
        .as_object()
        .is_none_or(|l| l.is_empty());
    !managers.is_empty() && managers.iter().all(|m| *m == "pilot-discovery") && unlabelled
}

/// The mesh files give each lab cluster its own gateway address (192.0.2.N); a converged
/// cluster and its fresh twin differ in N only.
pub fn mask_addresses(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("192.0.2.") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("192.0.2.") {
                out.push_str(&rest[..i + 8]);
                rest = rest[i + 8..].trim_start_matches(|c: char| c.is_ascii_digit());
                out.push('N');
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(mask_addresses),
        Value::Object(o) => o.values_mut().for_each(mask_addresses),
        _ => {}
    }
}

pub fn normalize(mut v: Value) -> Value {
    mask_addresses(&mut v);
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
    ] {
        meta.remove(k);
    }
    for owner in meta
        .get_mut("ownerReferences")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        owner.as_object_mut().map(|o| o.remove("uid"));
    }
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("kubernetes.io/service-account.uid");
        // istiod's leader elections: which pod holds a lease, and since when.
        a.remove("control-plane.alpha.kubernetes.io/leader");
        a.remove("deployment.kubernetes.io/revision");
    }
    let o = v.as_object_mut().unwrap();
    o.remove("status");
    if o.get("kind") == Some(&Value::String("Secret".into()))
        && o.get("type") != Some(&Value::String("Opaque".into()))
    {
        o.remove("data");
    }
    let remote = v["metadata"]["labels"]["istio/multiCluster"] == "true";
    if remote && let Some(d) = v["data"].as_object_mut() {
        for val in d.values_mut() {
            *val = Value::String("<kubeconfig: server and token differ per lab cluster>".into());
        }
    }
    if let Some(spec) = v["spec"].as_object_mut() {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                p.as_object_mut().unwrap().remove("nodePort");
            }
        }
    }
    v
}

/// Asserts that cluster `a` holds the same objects as `b`, field by field.
pub fn same_objects(lab: &Lab, a: &str, b: &str) {
    let (sa, sb) = (snapshot(lab, a), snapshot(lab, b));
    let only_a: Vec<&String> = sa.keys().filter(|k| !sb.contains_key(*k)).collect();
    let only_b: Vec<&String> = sb.keys().filter(|k| !sa.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "{a} has {only_a:?} that {b} lacks; {b} has {only_b:?} that {a} lacks"
    );
    for (k, va) in &sa {
        assert_eq!(
            va, &sb[k],
            "{k} differs between the changed {a} and the fresh {b}"
        );
    }
    assert!(
        sa.len() >= 4,
        "{a}: the snapshot saw too little to compare: {:?}",
        sa.keys()
    );
}

#[test]
fn istiods_leader_records_are_bookkeeping_and_its_root_cert_is_not() {
    let leader = serde_json::json!({"metadata": {"name": "istio-leader",
        "managedFields": [{"manager": "pilot-discovery"}]}});
    let root = serde_json::json!({"metadata": {"name": "istio-ca-root-cert",
        "labels": {"istio.io/config": "true"}, "managedFields": [{"manager": "pilot-discovery"}]}});
    let ours = serde_json::json!({"metadata": {"name": "istio-leader",
        "managedFields": [{"manager": "pilot-discovery"}, {"manager": "kubectl-mesh"}]}});
    assert!(istiod_bookkeeping(&leader));
    assert!(!istiod_bookkeeping(&root));
    assert!(!istiod_bookkeeping(&ours));
}

/// A lab split in two halves of `n` clusters: the first (`lab-1`…) goes through a chain of
/// mesh files, the second (`lab-{n+1}`…) is joined fresh with each file of the chain the test
/// compares, after being purged back to its footprint before the first join (`purge_back`),
/// so each comparison is against clusters as fresh as a new lab's.
pub struct Halves<'a> {
    pub lab: &'a Lab,
    pub w: &'a Path,
    n: usize,
    untouched: Untouched,
    /// The cluster lines the second half is joined with (empty: untouched but for `cacerts`).
    fresh: Vec<String>,
}

impl<'a> Halves<'a> {
    /// Certificates for `names` (`east,west[,north]`) applied to both halves of `lab`, each
    /// half as many clusters as `names` (the first from `lab-1`, the second right after it);
    /// the lab's other clusters are left alone.
    pub fn new(lab: &'a Lab, w: &'a Path, names: &[&str]) -> Halves<'a> {
        let n = names.len();
        assert!(
            2 * n <= lab.contexts().len(),
            "two halves of {n} need {} clusters",
            2 * n
        );
        let untouched = super::join::untouched(lab);
        let all: Vec<String> = names.iter().map(|c| format!("{c} primary net")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        prepare(
            lab,
            w,
            &names.join(","),
            &[mesh(1, &all), mesh(n + 1, &all)],
        );
        Halves {
            lab,
            w,
            n,
            untouched,
            fresh: Vec::new(),
        }
    }

    /// The first half joined with `lines` (the chain's next state), unchecked.
    pub fn change(&self, lines: &[&str]) -> std::process::Output {
        ok(join_with(self.lab, self.w, "to.yaml", &mesh(1, lines), &[]))
    }

    /// The first half changed to `to`; the second half purged back to untouched (when joined)
    /// and joined fresh with `to`; each cluster compared with its twin field by field; a second
    /// run of `to` on the first half writes nothing; the change planned an update or a delete.
    pub fn converges_to(&mut self, to: &[&str]) {
        let changed = self.change(to);
        self.join_fresh(to);
        for i in 0..to.len() {
            same_objects(
                self.lab,
                &format!("lab-{}", i + 1),
                &format!("lab-{}", self.n + i + 1),
            );
        }
        let m = marks(self.lab);
        let again = self.change(to);
        let writes = writes_since(self.lab, &m);
        assert!(
            writes.iter().all(Vec::is_empty),
            "second run wrote {writes:?}\n{}",
            text(&again)
        );
        let shown = String::from_utf8_lossy(&changed.stdout).into_owned();
        assert!(
            shown.contains("update") || shown.contains("delete"),
            "the change planned no update or delete:\n{shown}"
        );
    }

    /// The second half purged back to untouched (when joined), its `cacerts` applied again,
    /// and joined with `lines`.
    pub fn join_fresh(&mut self, lines: &[&str]) {
        if !self.fresh.is_empty() {
            self.purge_half(&self.fresh, self.n + 1, "fresh.yaml");
            ok(run(
                &certs_bin(),
                self.lab,
                self.w,
                &["apply", "-f", "certs-1.yaml"],
            ));
        }
        ok(join_with(
            self.lab,
            self.w,
            "fresh.yaml",
            &mesh(self.n + 1, lines),
            &[],
        ));
        self.fresh = lines.iter().map(|l| l.to_string()).collect();
    }

    /// Both halves purged back to their footprint before the first join, the first half
    /// holding `first` (its last change), so the lab can carry another chain.
    pub fn purge_all(self, first: &[&str]) {
        self.purge_half(&self.fresh, self.n + 1, "fresh.yaml");
        let first: Vec<String> = first.iter().map(|l| l.to_string()).collect();
        self.purge_half(&first, 1, "to.yaml");
    }

    /// The clusters of `lines` (on `lab-{start}`…, joined from `file`) purged back to their
    /// footprint; remotes (last) leave first.
    fn purge_half(&self, lines: &[String], start: usize, file: &str) {
        let contexts: Vec<String> = (0..lines.len())
            .map(|i| format!("lab-{}", start + i))
            .collect();
        let clusters: Vec<(&str, &str)> = lines
            .iter()
            .zip(&contexts)
            .map(|(line, ctx)| (line.split_whitespace().next().unwrap(), ctx.as_str()))
            .rev()
            .collect();
        purge_back(self.lab, self.w, file, &clusters, &self.untouched);
    }
}
