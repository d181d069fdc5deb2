//! A status counts only for the generation it observed: with west's Sail operator frozen, a
//! change to west's `Istio` spec leaves the previous `Ready=True` in place (observedGeneration
//! behind generation); verify fails `control-plane.istio-ready` naming both generations, and a
//! join's wait for Ready does not end on it (exit 1 naming both). Thawed, the operator
//! reconciles the current spec, the check passes and the join ends (positive controls).

use super::{Mesh, patch_west_istio, results};
use mesh_lab::testing::{describe, run_plugin};
use serde_json::Value;

fn istio(mesh: &Mesh) -> Value {
    mesh_lab::testing::kubectl_json(
        mesh.lab,
        "lab-2",
        &["get", "istios.sailoperator.io", "default"],
    )
    .expect("west's Istio")
}

fn west_ready(report: &Value) -> Value {
    results(report, "control-plane.istio-ready")
        .into_iter()
        .find(|c| c["cluster"] == "west")
        .cloned()
        .expect("istio-ready for west")
}

fn grace(mesh: &Mesh, seconds: &str) {
    let patch = format!(
        r#"{{"spec":{{"updateStrategy":{{"inactiveRevisionDeletionGracePeriodSeconds":{seconds}}}}}}}"#
    );
    patch_west_istio(mesh, "merge", &patch);
}

/// A join while the operator is frozen: nothing of its own changes, but the wait for Ready must
/// not end on the Ready of the previous generation (a short timeout: it cannot succeed).
fn join_waits(mesh: &Mesh) -> std::process::Output {
    let args = [
        "-f",
        "mesh.yaml",
        "--allow-loopback",
        "--force-conflicts",
        "--timeout",
        "8s",
    ];
    run_plugin(&mesh.join, mesh.lab, mesh.dir, &args)
}

pub fn stale_ready_is_not_believed(mesh: &Mesh) {
    let (_, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(west_ready(&report)["result"], "pass", "{report:#}");
    mesh.lab
        .freeze_process(1, mesh_lab::operator::OPERATOR, true);
    grace(mesh, "31");
    let now = istio(mesh);
    let (generation, observed) = (
        now["metadata"]["generation"].as_i64().unwrap(),
        now["status"]["observedGeneration"].as_i64().unwrap(),
    );
    assert!(observed < generation, "the fault landed: {now:#}");
    let ready = now["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    assert!(ready, "the previous Ready=True is still there: {now:#}");
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    let west = west_ready(&report);
    let joined = join_waits(mesh);
    mesh.lab
        .freeze_process(1, mesh_lab::operator::OPERATOR, false);
    assert_eq!(joined.status.code(), Some(1), "{}", describe(&joined));
    let said = String::from_utf8_lossy(&joined.stderr);
    assert!(
        said.contains(&format!(
            "describes generation {observed}, the spec is at generation {generation}"
        )),
        "the join's wait names both generations: {said}"
    );
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(west["result"], "fail", "{west:#}");
    let message = west["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("generation {generation}"))
            && message.contains(&format!("generation {observed}")),
        "{west:#}"
    );
    // Thawed: the operator reconciles the current spec; the field is taken out again.
    patch_west_istio(
        mesh,
        "json",
        r#"[{"op":"remove","path":"/spec/updateStrategy/inactiveRevisionDeletionGracePeriodSeconds"}]"#,
    );
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    // Positive control for the join: the same join, thawed, ends its wait.
    mesh.rejoin();
    let now = istio(mesh);
    assert_eq!(
        now["status"]["observedGeneration"], now["metadata"]["generation"],
        "{now:#}"
    );
}
