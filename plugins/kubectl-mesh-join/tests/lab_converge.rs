//! Declarative convergence on the lab: a mesh file changed and applied again leaves exactly the
//! objects a fresh join of the new file writes on fresh clusters (compared field by field), a
//! second run writes nothing, and fields another field manager owns stop the run.
//!
//! Each test starts twice the clusters it needs: the first half goes through the change, the
//! second half is joined fresh with the new file under the same cluster names; the two halves
//! are then compared object by object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json, run_plugin as run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

fn certs_bin() -> String {
    mesh_lab::testing::plugin_path("kubectl-mesh-certs")
}

/// A mesh file from cluster lines `name role network [primary]`, on contexts starting at
/// `lab-{first}`. Primaries publish a fixed east-west address (the lab has no load balancer).
fn mesh(first: usize, clusters: &[&str]) -> String {
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

fn join_with(
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
fn prepare(lab: &Lab, dir: &Path, names: &str, halves: &[String]) {
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
fn snapshot(lab: &Lab, ctx: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (kind, ns) in [
        ("namespaces", None),
        ("istios.sailoperator.io", None),
        ("istiocnis.sailoperator.io", None),
        ("clusterroles", None),
        ("clusterrolebindings", None),
        ("secrets", Some("istio-system")),
        ("configmaps", Some("istio-system")),
        ("serviceaccounts", Some("istio-system")),
        ("services", Some("istio-system")),
        ("deployments", Some("istio-system")),
        ("poddisruptionbudgets", Some("istio-system")),
        ("horizontalpodautoscalers", Some("istio-system")),
        ("roles", Some("istio-system")),
        ("rolebindings", Some("istio-system")),
        ("gateways.networking.istio.io", Some("istio-system")),
        ("virtualservices.networking.istio.io", Some("istio-system")),
    ] {
        let mut args = vec!["get", kind, "--show-managed-fields"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let list = kubectl_json(lab, ctx, &args)
            .unwrap_or_else(|| panic!("{ctx}: kubectl get {kind} failed"));
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
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
fn istiod_bookkeeping(item: &Value) -> bool {
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

/// The mesh files give each lab cluster its own gateway address (192.0.2.N); a converged
/// cluster and its fresh twin differ in N only.
fn mask_addresses(v: &mut Value) {
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

fn normalize(mut v: Value) -> Value {
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
fn same_objects(lab: &Lab, a: &str, b: &str) {
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

/// `from` joined on the first half, then `to`; `to` joined fresh on the second half; both
/// halves compared; a second run of `to` writes nothing.
fn converges(from: &[&str], to: &[&str]) {
    let n = from.len().max(to.len());
    let lab = Lab::up(2 * n).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let names: Vec<&str> = to
        .iter()
        .chain(from)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut unique: Vec<&str> = Vec::new();
    names.iter().for_each(|n| {
        if !unique.contains(n) {
            unique.push(n)
        }
    });
    let all: Vec<String> = unique.iter().map(|n| format!("{n} primary net")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    prepare(
        &lab,
        w,
        &unique.join(","),
        &[mesh(1, &all), mesh(n + 1, &all)],
    );
    ok(join_with(&lab, w, "from.yaml", &mesh(1, from), &[]));
    let changed = ok(join_with(&lab, w, "to.yaml", &mesh(1, to), &[]));
    ok(join_with(&lab, w, "fresh.yaml", &mesh(n + 1, to), &[]));
    for i in 0..to.len() {
        same_objects(
            &lab,
            &format!("lab-{}", i + 1),
            &format!("lab-{}", n + i + 1),
        );
    }
    let m = marks(&lab);
    let again = ok(join_with(&lab, w, "to.yaml", &mesh(1, to), &[]));
    let writes = writes_since(&lab, &m);
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

#[test]
fn a_remote_turned_primary_converges_to_a_fresh_multi_primary() {
    converges(
        &["east primary net1", "west remote net1 east"],
        &["east primary net1", "west primary net1"],
    );
}

#[test]
fn a_primary_turned_remote_converges_to_a_fresh_primary_remote() {
    converges(
        &["east primary net1", "west primary net1"],
        &["east primary net1", "west remote net1 east"],
    );
}

#[test]
fn a_changed_network_converges_to_a_fresh_multi_network_mesh() {
    converges(
        &["east primary net1", "west primary net1"],
        &["east primary net1", "west primary net2"],
    );
}

#[test]
fn an_added_cluster_converges_to_a_fresh_three_cluster_mesh() {
    converges(
        &["east primary net1", "west primary net1"],
        &[
            "east primary net1",
            "west primary net1",
            "north remote net1 east",
        ],
    );
}

#[test]
fn the_peers_of_a_cluster_that_left_hold_what_a_fresh_join_without_it_writes() {
    let from = [
        "east primary net1",
        "west primary net1",
        "north remote net1 east",
    ];
    let to = ["east primary net1", "west primary net1"];
    let lab = Lab::up(5).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let all = ["east primary net", "west primary net", "north primary net"];
    prepare(
        &lab,
        w,
        "east,west,north",
        &[mesh(1, &all), mesh(4, &all[..2])],
    );
    ok(join_with(&lab, w, "from.yaml", &mesh(1, &from), &[]));
    let left = ok(run(
        JOIN,
        &lab,
        w,
        &["leave", "-f", "from.yaml", "--cluster", "north", "--yes"],
    ));
    ok(join_with(&lab, w, "fresh.yaml", &mesh(4, &to), &[]));
    same_objects(&lab, "lab-1", "lab-4");
    same_objects(&lab, "lab-2", "lab-5");
    // The mesh without north, joined again over the peers, writes nothing: leave converged.
    let m = marks(&lab);
    ok(join_with(&lab, w, "to.yaml", &mesh(1, &to), &[]));
    let writes = writes_since(&lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "join after leave wrote {writes:?}\n{}",
        text(&left)
    );
}

#[test]
fn fields_another_manager_owns_stop_the_run_until_force_conflicts_and_the_charts_objects_are_never_taken()
 {
    let lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let text_mesh = mesh(1, &["east primary net1", "west primary net1"]);
    prepare(&lab, w, "east,west", std::slice::from_ref(&text_mesh));
    ok(join_with(&lab, w, "mesh.yaml", &text_mesh, &[]));
    // A GitOps tool takes the network of east's Istio and a label of west's reader account.
    let take = |ctx: &str, manifest: &str| {
        let path = w.join("theirs.yaml");
        std::fs::write(&path, manifest).unwrap();
        let o = lab
            .kubectl(ctx)
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                "gitops",
                "-f",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    take(
        "lab-1",
        "apiVersion: sailoperator.io/v1\nkind: Istio\nmetadata: {name: default}\nspec: {values: {global: {network: gitops-net}}}\n",
    );
    let m = marks(&lab);
    let refused = join_with(&lab, w, "mesh.yaml", &text_mesh, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("Istio default")
            && err.contains(".spec.values.global.network")
            && err.contains("gitops"),
        "{err}"
    );
    let writes = writes_since(&lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "a refused run wrote {writes:?}"
    );
    // The reader account and its RBAC are the charts' (the operator's Helm release): even
    // --create-reader leaves them as they are, and takes none of their fields.
    let only_west = ok(join_with(
        &lab,
        w,
        "mesh.yaml",
        &text_mesh,
        &["--only", "west", "--create-reader"],
    ));
    let table = String::from_utf8_lossy(&only_west.stdout);
    for object in [
        "ServiceAccount istio-system/istio-reader-service-account",
        "ClusterRole istio-reader-clusterrole-istio-system",
        "ClusterRoleBinding istio-reader-clusterrole-istio-system",
    ] {
        assert!(
            table
                .lines()
                .any(|l| l.contains(object) && l.contains("left as it is")),
            "{object}: {table}"
        );
    }
    let managers = |args: &[&str]| {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.push("--show-managed-fields");
        kubectl_json(&lab, "lab-2", &all).unwrap()["metadata"]["managedFields"].to_string()
    };
    for args in [
        &["sa", "istio-reader-service-account", "-n", "istio-system"][..],
        &["clusterrole", "istio-reader-clusterrole-istio-system"][..],
        &[
            "clusterrolebinding",
            "istio-reader-clusterrole-istio-system",
        ][..],
    ] {
        let m = managers(args);
        assert!(!m.contains("kubectl-mesh"), "{args:?}: {m}");
    }
    // Positive control: the probe sees our manager where we do write (west's Istio).
    assert!(managers(&["istio", "default"]).contains("kubectl-mesh"));
    // Positive control: --force-conflicts writes, the fields are ours again, and a later run
    // is quiet.
    let forced = ok(join_with(
        &lab,
        w,
        "mesh.yaml",
        &text_mesh,
        &["--force-conflicts"],
    ));
    let written = writes_since(&lab, &m);
    assert!(
        written[0].iter().any(|w| w == "patch istios default"),
        "{written:?}\n{}",
        text(&forced)
    );
    let istio = kubectl_json(&lab, "lab-1", &["get", "istio", "default"]).unwrap();
    assert_eq!(istio["spec"]["values"]["global"]["network"], "net1");
    let m = marks(&lab);
    ok(join_with(&lab, w, "mesh.yaml", &text_mesh, &[]));
    assert!(writes_since(&lab, &m).iter().all(Vec::is_empty));
    legacy_manager_is_migrated(&lab, w);
}

/// west's `Istio` as a version before per-plugin field managers left it (its Apply entry
/// named `kubectl-mesh`): the next join that changes it plans and applies under that name,
/// says so, then renames the entry; no `kubectl-mesh` entry is left.
fn legacy_manager_is_migrated(lab: &Lab, w: &Path) {
    let managers = || -> Vec<String> {
        let istio = kubectl_json(
            lab,
            "lab-2",
            &["get", "istio", "default", "--show-managed-fields"],
        )
        .unwrap();
        istio["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m["manager"].as_str().unwrap(),
                    m["operation"].as_str().unwrap()
                )
            })
            .collect()
    };
    let istio = kubectl_json(
        lab,
        "lab-2",
        &["get", "istio", "default", "--show-managed-fields"],
    )
    .unwrap();
    let entries: Vec<Value> = istio["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m["manager"] == "kubectl-mesh-join" {
                m["manager"] = "kubectl-mesh".into();
            }
            m
        })
        .collect();
    let patch = serde_json::json!({"metadata": {"managedFields": entries}}).to_string();
    let o = lab
        .kubectl("lab-2")
        .args(["patch", "istio", "default", "--type=merge", "-p", &patch])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = managers();
    assert!(
        before.contains(&"kubectl-mesh Apply".to_string())
            && !before.iter().any(|m| m.starts_with("kubectl-mesh-join")),
        "the fault landed: {before:?}"
    );
    let changed = mesh(1, &["east primary net1", "west primary net2"]);
    let o = ok(join_with(lab, w, "mesh.yaml", &changed, &["--no-wait"]));
    assert!(
        text(&o).contains("field manager kubectl-mesh → kubectl-mesh-join"),
        "{}",
        text(&o)
    );
    let after = managers();
    assert!(
        after.contains(&"kubectl-mesh-join Apply".to_string()),
        "{after:?}"
    );
    assert!(
        !after.contains(&"kubectl-mesh Apply".to_string()),
        "{after:?}"
    );
    let istio = kubectl_json(lab, "lab-2", &["get", "istio", "default"]).unwrap();
    assert_eq!(istio["spec"]["values"]["global"]["network"], "net2");
}
