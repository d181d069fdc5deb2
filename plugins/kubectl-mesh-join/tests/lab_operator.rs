//! `kubectl mesh-join` against the real Sail operator: the lab runs the operator, a scheduler,
//! fake nodes (kwok) and a load-balancer controller (MetalLB) per cluster, so `Istio` turns
//! Ready because istiod's Deployment became available, and the east-west gateway gets an
//! address the join reads. No `--no-wait`, no `eastWestAddress`. One lab, two sections: the
//! join with an operator stopped then resumed, purged back to untouched (the footprint
//! checked), then a mesh built the seeds' way on the same clusters (`seed_built`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod join;
mod seed_built;

use join::{JOIN, Untouched, back_to_untouched, istio, purge_back, untouched};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::operator::OPERATOR;
use mesh_lab::testing::{
    describe as text, expect_success as ok, footprint, kubectl_json, plugin_path, run_plugin as run,
};
use serde_json::Value;
use std::path::Path;

const MULTI_PRIMARY: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n";

fn prepare(lab: &Lab, w: &Path, mesh: &str) {
    std::fs::write(w.join("mesh.yaml"), mesh).unwrap();
    let certs = plugin_path("kubectl-mesh-certs");
    ok(run(&certs, lab, w, &["create", "--clusters", "east,west"]));
    ok(run(&certs, lab, w, &["apply", "-f", "mesh.yaml"]));
}

fn join(lab: &Lab, w: &Path, timeout: &str) -> std::process::Output {
    run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--timeout", timeout],
    )
}

fn condition<'a>(r: &'a Value, kind: &str) -> &'a Value {
    r["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// What only the operator writes, checked per cluster: its conditions on `Istio`, the
/// `IstioRevision` it made, the istiod Deployment its chart rendered (available), and the reader
/// account owned by its Helm release (not by us).
fn assert_operator_reconciled(lab: &Lab, ctx: &str) {
    let i = istio(lab, ctx);
    for kind in ["Reconciled", "Ready"] {
        assert_eq!(
            condition(&i, kind)["status"],
            "True",
            "{ctx}: {kind} in {i}"
        );
    }
    assert_eq!(i["status"]["state"], "Healthy", "{ctx}: {i}");
    let rev = kubectl_json(lab, ctx, &["get", "istiorevisions", "default"]).expect("revision");
    assert_eq!(condition(&rev, "Ready")["status"], "True", "{ctx}: {rev}");
    let istiod = kubectl_json(lab, ctx, &["get", "deploy", "istiod", "-n", "istio-system"])
        .expect("istiod Deployment");
    assert!(
        istiod["status"]["availableReplicas"].as_u64() >= Some(1),
        "{ctx}: {istiod}"
    );
    let sa = kubectl_json(
        lab,
        ctx,
        &[
            "get",
            "sa",
            "istio-reader-service-account",
            "-n",
            "istio-system",
        ],
    )
    .expect("reader account");
    let labels = &sa["metadata"]["labels"];
    assert_eq!(
        labels["app.kubernetes.io/managed-by"], "Helm",
        "{ctx}: {sa}"
    );
    let managers: Vec<&str> = sa["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        !managers.iter().any(|m| m.starts_with("kubectl-mesh")),
        "{ctx}: the reader account is the chart's, yet we manage fields: {managers:?}"
    );
}

/// On the mesh the resumed join completed: each operator reconciled, the gateways got
/// load-balancer addresses and injected pods, the remote secrets exist, a second run writes
/// nothing, a label taken by kubectl is repaired, and verify's control-plane checks pass.
fn join_waits_for_the_operators_ready_and_reads_the_gateway_address(lab: &Lab, w: &Path) {
    let o = ok(join(lab, w, "120s"));
    for ctx in ["lab-1", "lab-2"] {
        assert_operator_reconciled(lab, ctx);
        gateway_has_an_address_and_injected_pods(lab, ctx);
    }
    for (ctx, peer) in [("lab-1", "west"), ("lab-2", "east")] {
        let name = format!("istio-remote-secret-{peer}");
        assert!(
            kubectl_json(lab, ctx, &["get", "secret", &name, "-n", "istio-system"]).is_some(),
            "{ctx}: {name} missing\n{}",
            text(&o)
        );
    }
    a_second_run_writes_nothing_and_a_taken_label_is_repaired(lab, w);
    control_plane_checks_pass(lab, w);
}

/// The gateway got its address from the load balancer (with the remote secrets, the proof
/// that the join ran every stage without an eastWestAddress), and its pods were injected.
fn gateway_has_an_address_and_injected_pods(lab: &Lab, ctx: &str) {
    let svc = kubectl_json(
        lab,
        ctx,
        &["get", "svc", "istio-eastwestgateway", "-n", "istio-system"],
    )
    .expect("gateway Service");
    let ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str();
    assert!(ip.is_some(), "{ctx}: no load-balancer address: {svc}");
    let gw = kubectl_json(
        lab,
        ctx,
        &[
            "get",
            "deploy",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
        ],
    )
    .expect("gateway Deployment");
    assert!(
        gw["status"]["availableReplicas"].as_u64() >= Some(1),
        "{ctx}: {gw}"
    );
    // Its pods were created after the injector served: istiod injected them (the
    // Deployment asks for `image: auto`; the pod runs istio-proxy's real image).
    let pods = kubectl_json(
        lab,
        ctx,
        &[
            "get",
            "pods",
            "-n",
            "istio-system",
            "-l",
            "app=istio-eastwestgateway",
        ],
    )
    .expect("gateway pods");
    let pods = pods["items"].as_array().unwrap();
    assert!(!pods.is_empty(), "{ctx}: no gateway pods");
    for pod in pods {
        let image = pod["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default();
        assert!(
            image.contains("proxyv2"),
            "{ctx}: gateway pod not injected: {pod}"
        );
        assert!(
            pod["metadata"]["annotations"]["sidecar.istio.io/status"].is_string(),
            "{ctx}: {pod}"
        );
    }
}

/// Run again: nothing to write, although the operator keeps reconciling (its writes are its
/// own user's). Positive control: a label change by us is a stored write, and so is its repair.
fn a_second_run_writes_nothing_and_a_taken_label_is_repaired(lab: &Lab, w: &Path) {
    let m = marks(lab);
    let again = ok(join(lab, w, "60s"));
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "{writes:?}\n{}",
        text(&again)
    );
    let m = marks(lab);
    ok(lab
        .kubectl("lab-1")
        .args([
            "label",
            "ns",
            "istio-system",
            "topology.istio.io/network=other",
            "--overwrite",
        ])
        .output()
        .unwrap());
    // The label is now kubectl's: the repair must take it over explicitly.
    let fix = ok(run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--force-conflicts"],
    ));
    assert!(
        mesh_lab::audit::await_writes(
            lab,
            &m,
            2,
            std::time::Instant::now() + std::time::Duration::from_secs(5)
        ),
        "the label change and its repair were not both seen\n{}",
        text(&fix)
    );
}

/// verify's control-plane checks on the operators' real status: `istio-ready` passes for both
/// clusters and no control-plane check fails.
fn control_plane_checks_pass(lab: &Lab, w: &Path) {
    let verify = plugin_path("kubectl-mesh-verify");
    let v = run(
        &verify,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    let report: Value = serde_json::from_slice(&v.stdout).expect("verify JSON");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["result"] == "fail")
        .filter(|c| {
            c["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("control-plane."))
        })
        .collect();
    let passed = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["id"] == "control-plane.istio-ready" && c["result"] == "pass")
        .count();
    assert_eq!(
        passed,
        2,
        "control-plane.istio-ready should pass for both clusters\n{}",
        text(&v)
    );
    assert!(
        failed.is_empty(),
        "control-plane checks failed: {failed:?}\n{}",
        text(&v)
    );
}

/// One lab: the operator section, both clusters purged back to untouched, then the seed-built
/// section.
#[test]
fn an_operator_stopped_then_resumed_then_a_mesh_built_the_seeds_way() {
    let mut lab = Lab::up(2).expect("lab");
    let fresh = untouched(&lab);
    let w = tempfile::tempdir().unwrap();
    join_names_a_cluster_whose_operator_is_stopped_then_resumes(&mut lab, &fresh, w.path());
    purge_back_both(&lab, w.path(), &fresh);
    seed_built::section(&lab, &fresh);
}

/// `leave --purge` of west, then east, back to untouched clusters (the footprint checked). One
/// exception is this lab's own doing: when kubectl took the network label of east's
/// istio-system (the only field the join held on the namespace `mesh-certs apply` created),
/// the repair that took it back adopted the namespace (`kubectl-mesh.io/adopted`), and a
/// purge releases an adopted object (its fields and the mark taken off) instead of deleting it.
/// Only when the namespace carried that mark before the leave is it deleted here, as the owner
/// the mark stands for would; then east must be untouched as well.
fn purge_back_both(lab: &Lab, w: &Path, fresh: &Untouched) {
    purge_back(lab, w, "mesh.yaml", &[("west", "lab-2")], fresh);
    assert_ne!(
        &footprint(lab, "lab-1"),
        &fresh["lab-1"],
        "east has a footprint to remove"
    );
    let args = [
        "leave",
        "-f",
        "mesh.yaml",
        "--cluster",
        "east",
        "--purge",
        "--yes",
    ];
    let ns = kubectl_json(lab, "lab-1", &["get", "namespace", "istio-system"]);
    let adopted =
        ns.is_some_and(|n| n["metadata"]["annotations"]["kubectl-mesh.io/adopted"] == "true");
    ok(run(JOIN, lab, w, &args));
    if adopted {
        let o = lab
            .kubectl("lab-1")
            .args(["delete", "namespace", "istio-system", "--wait=false"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    back_to_untouched(lab, "east", "lab-1", fresh, "leave --purge");
}

/// A join with west's operator stopped names west and gives up; with the operator back it
/// resumes to a joined mesh, which is then checked as any join's result.
fn join_names_a_cluster_whose_operator_is_stopped_then_resumes(
    lab: &mut Lab,
    fresh: &Untouched,
    w: &Path,
) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    prepare(lab, w, MULTI_PRIMARY);
    lab.stop_process(1, OPERATOR);
    let o = join(lab, w, "15s");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("west") && err.contains("no operator has reconciled it"),
        "{}",
        text(&o)
    );
    // The fault landed: west's Istio has no status; east's operator (control) reconciled.
    assert!(
        istio(lab, "lab-2")["status"].is_null(),
        "lab-2 was reconciled"
    );
    assert_eq!(
        condition(&istio(lab, "lab-1"), "Reconciled")["status"],
        "True"
    );
    lab.start_operator(1).expect("operator back");
    ok(join(lab, w, "120s"));
    assert_operator_reconciled(lab, "lab-2");
    join_waits_for_the_operators_ready_and_reads_the_gateway_address(lab, w);
}
