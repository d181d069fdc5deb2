//! `kubectl mesh-join` against the real Sail operator: the lab runs the operator, a scheduler,
//! fake nodes (kwok) and a load-balancer controller (MetalLB) per cluster, so `Istio` turns
//! Ready because istiod's Deployment became available, and the east-west gateway gets an
//! address the join reads. No `--no-wait`, no `eastWestAddress`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::operator::OPERATOR;
use mesh_lab::testing::{
    describe as text, expect_success as ok, kubectl_json, plugin_path, run_plugin as run,
};
use serde_json::Value;
use std::path::Path;

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

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

fn istio(lab: &Lab, ctx: &str) -> Value {
    kubectl_json(lab, ctx, &["get", "istios.sailoperator.io", "default"]).expect("Istio default")
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
        // The gateway got its address from the load balancer, and the other cluster's remote
        // secret exists: the join ran every stage without an eastWestAddress.
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
    for (ctx, peer) in [("lab-1", "west"), ("lab-2", "east")] {
        let name = format!("istio-remote-secret-{peer}");
        assert!(
            kubectl_json(lab, ctx, &["get", "secret", &name, "-n", "istio-system"]).is_some(),
            "{ctx}: {name} missing\n{}",
            text(&o)
        );
    }
    // Run again: nothing to write, although the operator keeps reconciling (its writes are
    // its own user's). Positive control: a label change by us is a stored write.
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

/// A join with west's operator stopped names west and gives up; with the operator back it
/// resumes to a joined mesh, which is then checked as any join's result.
#[test]
fn join_names_a_cluster_whose_operator_is_stopped_then_resumes_and_reads_the_gateway_address() {
    let mut lab = Lab::up(2).expect("lab");
    let w = tempfile::tempdir().unwrap();
    prepare(&lab, w.path(), MULTI_PRIMARY);
    lab.stop_process(1, OPERATOR);
    let o = join(&lab, w.path(), "15s");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("west") && err.contains("no operator has reconciled it"),
        "{}",
        text(&o)
    );
    // The fault landed: west's Istio has no status; east's operator (control) reconciled.
    assert!(
        istio(&lab, "lab-2")["status"].is_null(),
        "lab-2 was reconciled"
    );
    assert_eq!(
        condition(&istio(&lab, "lab-1"), "Reconciled")["status"],
        "True"
    );
    lab.start_operator(1).expect("operator back");
    ok(join(&lab, w.path(), "120s"));
    assert_operator_reconciled(&lab, "lab-2");
    join_waits_for_the_operators_ready_and_reads_the_gateway_address(&lab, w.path());
}
