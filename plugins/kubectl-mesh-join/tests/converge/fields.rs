//! Fields another field manager owns stop the run until `--force-conflicts`, the charts'
//! objects are never taken, and a legacy field manager is migrated.

use super::{join_with, mesh};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json};
use serde_json::Value;
use std::path::Path;

/// On a lab whose first two clusters hold east and west as one-network primaries (certificates
/// in `w`): a GitOps tool's fields stop the run, `--create-reader` leaves the charts' reader
/// objects alone, `--force-conflicts` takes the fields back, then a legacy manager is migrated.
pub fn fields_another_manager_owns_stop_the_run_until_force_conflicts_and_the_charts_objects_are_never_taken(
    lab: &Lab,
    w: &Path,
) {
    let text_mesh = mesh(1, &["east primary net1", "west primary net1"]);
    ok(join_with(lab, w, "mesh.yaml", &text_mesh, &[]));
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
    let m = marks(lab);
    let refused = join_with(lab, w, "mesh.yaml", &text_mesh, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("Istio default")
            && err.contains(".spec.values.global.network")
            && err.contains("gitops"),
        "{err}"
    );
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "a refused run wrote {writes:?}"
    );
    // The reader account and its RBAC are the charts' (the operator's Helm release): even
    // --create-reader leaves them as they are, and takes none of their fields.
    let only_west = ok(join_with(
        lab,
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
        kubectl_json(lab, "lab-2", &all).unwrap()["metadata"]["managedFields"].to_string()
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
        lab,
        w,
        "mesh.yaml",
        &text_mesh,
        &["--force-conflicts"],
    ));
    let written = writes_since(lab, &m);
    assert!(
        written[0].iter().any(|w| w == "patch istios default"),
        "{written:?}\n{}",
        text(&forced)
    );
    let istio = kubectl_json(lab, "lab-1", &["get", "istio", "default"]).unwrap();
    assert_eq!(istio["spec"]["values"]["global"]["network"], "net1");
    let m = marks(lab);
    ok(join_with(lab, w, "mesh.yaml", &text_mesh, &[]));
    assert!(writes_since(lab, &m).iter().all(Vec::is_empty));
    legacy_manager_is_migrated(lab, w);
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
