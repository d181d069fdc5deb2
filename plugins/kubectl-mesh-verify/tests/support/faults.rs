//! Faults of the joined mesh beyond the first ones `lab_verify` injects: an `Istio` without
//! status (with the operator stopped), then a legacy setup, a loopback server, a foreign root,
//! a missing remote secret, a revoked token, a wrong network label and a mismatched meshID.
//! Each turns exactly the expected check red (or warns), with its hint, and is repaired before
//! the next (most by a rejoin), so the mesh ends green.

use super::{Mesh, apply, expect_fault, failing, kubectl, patch_status, results};
use mesh_lab::testing::{expect_success as ok, run_plugin as run};
use serde_json::json;

/// With the operator stopped: a status-less `Istio` warns within the grace period and fails
/// after it (the caller starts the operator again, which reconciles it back to passing).
pub fn status_less_istio_warns_then_fails(mesh: &Mesh) {
    let lab = mesh.lab;
    patch_status(
        lab,
        "lab-1",
        &["istios.sailoperator.io", "default"],
        &json!({"conditions": null, "state": null}),
    );
    let status = mesh_lab::testing::kubectl_json(
        lab,
        "lab-1",
        &["get", "istios.sailoperator.io", "default"],
    )
    .unwrap();
    assert!(
        status["status"]["conditions"].is_null(),
        "the fault landed: {status:#}"
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(code, Some(0), "within the default 5m grace: {report:#}");
    assert!(
        results(&report, "control-plane.istio-ready")
            .iter()
            .any(|c| c["cluster"] == "east" && c["result"] == "warn"),
        "{report:#}"
    );
    let (code, report) = mesh.verify(&["--allow-loopback", "--reconcile-grace", "0s"]);
    expect_fault(
        &report,
        code,
        ("control-plane.istio-ready", "east", ""),
        "sail-operator",
        &[],
    );
}

/// Legacy, loopback, foreign root, remote secrets, network label, meshID.
pub fn more_faults(mesh: &Mesh) {
    legacy_global_dns_warns(mesh);
    // A loopback server without --allow-loopback: every pair, nothing else.
    let (code, report) = mesh.verify(&[]);
    expect_fault(
        &report,
        code,
        ("remote.server-address", "east", "west"),
        "--server",
        &["remote.server-address"],
    );
    foreign_root(mesh);
    remote_secret_missing_and_token_revoked(mesh);
    network_label_and_mesh_id(mesh);
    assert_eq!(mesh.verify(&["--allow-loopback"]).0, Some(0));
}

/// A legacy `.global` ServiceEntry: a warning naming it, then deleted.
fn legacy_global_dns_warns(mesh: &Mesh) {
    let lab = mesh.lab;
    let se = json!({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "httpbin-bar", "namespace": "default"},
        "spec": {"hosts": ["httpbin.bar.global"], "location": "MESH_INTERNAL", "resolution": "DNS",
            "addresses": ["240.0.0.2"], "ports": [{"name": "http1", "number": 8000, "protocol": "http"}],
            "endpoints": [{"address": "192.0.2.9", "ports": {"http1": 15443}}]}});
    apply(lab, "lab-1", &se);
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(code, Some(0), "a legacy setup is a warning: {report:#}");
    let legacy = results(&report, "legacy.global-dns")
        .into_iter()
        .find(|c| c["cluster"] == "east")
        .unwrap()
        .clone();
    assert_eq!(legacy["result"], "warn", "{legacy:#}");
    let m = legacy["message"].as_str().unwrap();
    assert!(
        m.contains("default/httpbin-bar") && m.contains("240.0.0.0/4"),
        "{legacy:#}"
    );
    assert!(
        legacy["hint"].as_str().unwrap().contains("multi-primary"),
        "{legacy:#}"
    );
    kubectl(
        lab,
        "lab-1",
        &[
            "delete",
            "serviceentries.networking.istio.io",
            "httpbin-bar",
            "-n",
            "default",
        ],
    );
}

/// A cacerts from a foreign root in west (istiod there still publishes the old root); the
/// mesh's own cacerts applied back.
fn foreign_root(mesh: &Mesh) {
    let lab = mesh.lab;
    let delete_cacerts = ["delete", "secret", "cacerts", "-n", "istio-system"];
    kubectl(lab, "lab-2", &delete_cacerts);
    ok(run(
        &mesh.certs,
        lab,
        mesh.dir,
        &[
            "apply",
            "--context",
            "lab-2",
            "--cluster",
            "west",
            "--dir",
            "foreign",
        ],
    ));
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("trust.shared-root", "west", ""),
        "root-rotation",
        &["trust.root-configmap"],
    );
    kubectl(lab, "lab-2", &delete_cacerts);
    ok(run(
        &mesh.certs,
        lab,
        mesh.dir,
        &["apply", "-f", "mesh.yaml"],
    ));
}

/// A missing remote secret (istiod in east forgets west too), then a revoked token; a rejoin
/// repairs each.
fn remote_secret_missing_and_token_revoked(mesh: &Mesh) {
    let lab = mesh.lab;
    kubectl(
        lab,
        "lab-1",
        &[
            "delete",
            "secret",
            "istio-remote-secret-west",
            "-n",
            "istio-system",
        ],
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("remote.secret-present", "east", "west"),
        "kubectl mesh-join remote-secret --context lab-2 --name west",
        &["istiod.remote-clusters-synced"],
    );
    mesh.rejoin();

    // A revoked token: its Secret in west is deleted, so the token no longer authenticates.
    kubectl(
        lab,
        "lab-2",
        &[
            "delete",
            "secret",
            "istio-reader-service-account-istio-remote-secret-token",
            "-n",
            "istio-system",
        ],
    );
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| {
        failing(r).iter().any(|(i, ..)| i == "remote.credentials")
    });
    expect_fault(
        &report,
        code,
        ("remote.credentials", "east", "west"),
        "remote-secret",
        &["istiod.remote-clusters-synced"],
    );
    mesh.rejoin();
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(
        code,
        Some(0),
        "a rejoin issues a new token and updates the secret: {report:#}"
    );
}

/// A wrong network label, then a mismatched meshID; a rejoin repairs each.
fn network_label_and_mesh_id(mesh: &Mesh) {
    let lab = mesh.lab;
    kubectl(
        lab,
        "lab-1",
        &[
            "label",
            "namespace",
            "istio-system",
            "topology.istio.io/network=wrong",
            "--overwrite",
        ],
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("control-plane.network-label", "east", ""),
        "kubectl mesh-join",
        &[],
    );
    mesh.rejoin();

    kubectl(
        lab,
        "lab-2",
        &[
            "patch",
            "istios.sailoperator.io",
            "default",
            "--type=merge",
            "-p",
            r#"{"spec":{"values":{"global":{"meshID":"other"}}}}"#,
        ],
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("control-plane.mesh-id", "", ""),
        "meshID",
        &[],
    );
    mesh.rejoin();
}
