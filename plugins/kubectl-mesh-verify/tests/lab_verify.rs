//! `kubectl mesh-verify` against a lab mesh joined by `mesh-join`: every decisive check
//! passes (none by being skipped), then each fault injected turns exactly the expected check
//! red, with its hint (the later faults in `support::faults` and the section modules). The same
//! mesh then serves `--traffic` (`support::traffic`), `--wait` and `-o short` on one cluster's
//! pre-join checks (`support::wait`), the watch (`support::watch_faults`) and the installed
//! watch (`support::install_watch`); each section repairs its faults (and removes what it
//! added) and asserts the mesh green at its start. Last, contexts and an unreachable cluster
//! (which stops one).
//!
//! The lab runs the real Sail operator (it writes every `Istio` status here), and istiod's
//! pods run as pilot-discovery processes; verify reads them by port-forward through the API
//! server (kwok serves the kubelet's side), as on a real cluster. Written by the test, each
//! where the lab has no writer for it: a crash-looping istiod's pod status (restart count and
//! last termination; the lab's pod runner reports readiness only), and, with the operator
//! stopped, an `Istio` without status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::operator::OPERATOR;
use mesh_lab::testing::{describe as text, expect_success as ok, join_mesh, run_plugin as run};
use support::setup::*;
use support::*;

#[test]
fn a_joined_lab_mesh_passes_and_each_fault_is_named() {
    let mut lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = setup(&mut lab, w);
    pre_checks_pass_on_fresh_clusters(&lab, w);
    ok(join_mesh(&join, &lab, w));
    // The operator's istiod pods run (the lab's pod runner reports them Ready), so no pod is
    // written here, and no other istiod runs.
    for ctx in ["lab-1", "lab-2"] {
        assert!(!istiod_pods(&lab, ctx).is_empty(), "{ctx} runs istiod");
    }
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
    };

    // All green, each decisive check passing (istiod needs a moment to sync and publish roots).
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["schemaVersion"], "kubectl-mesh.io/verify/v1");
    all_decisive_pass(&report);
    certs_folder_without_root_fails(&mesh);
    forbidden_facts_name_the_request(&mesh);
    patched_gateway_is_named_and_a_plain_rejoin_stops(&mesh);
    crash_looping_istiod_is_named(&mesh);

    // An Istio never reconciled: no status. Within the grace period a warning, after it a failure.
    // The real operator would write the status straight back, so it is stopped meanwhile.
    let parts = mesh.release();
    lab.stop_process(0, OPERATOR);
    let mesh = Mesh::on(&lab, w, parts);
    support::faults::status_less_istio_warns_then_fails(&mesh);
    let parts = mesh.release();
    lab.start_operator(0).expect("operator back");
    let mesh = Mesh::on(&lab, w, parts);
    // The operator back: it reconciles the Istio again and verify passes on its status.
    let (code, report) = mesh.verify_until(&["--allow-loopback", "--reconcile-grace", "0s"], |r| {
        r["success"] == true
    });
    assert_eq!(code, Some(0), "{report:#}");

    mesh.healthy_series_fire_nothing();
    support::port_forward::istiod_is_read_by_port_forward_and_a_new_pod_followed(&mesh);
    support::discovery::istiod_knows_every_gateway_and_endpoint_and_each_fault_is_named(&mesh);
    support::faults::more_faults(&mesh);
    support::stale::stale_ready_is_not_believed(&mesh);
    support::file_values::mesh_file_values_are_compared(&mesh);
    support::dependencies::unhealthy_dependencies_are_named(&mesh);
    support::eastwest_pods::scaled_to_zero_fails_and_restored_passes(&mesh);
    support::traffic::traffic_deploys_per_cluster_versions_names_what_it_could_not_send_and_cleans_up(&mesh);
    support::wait::short_lists_only_what_fails_and_wait_retries_until_it_passes(&mesh);
    // The watch and the installed watch on the same mesh, each section asserting it green first.
    let parts = mesh.release();
    let parts =
        support::watch_faults::the_watch_flips_metrics_and_records_events_as_faults_come_and_go(
            &lab, w, parts,
        );
    let parts = support::install_watch::the_installed_watch_sees_what_an_administrator_sees_with_its_own_rights(&lab, w, parts);
    drop(parts);
    contexts_and_unreachable(&mut lab, w);
}

/// A certs folder the mesh file names but that holds no root: a failure, not a silent skip.
fn certs_folder_without_root_fails(mesh: &Mesh) {
    let (lab, w) = (mesh.lab, mesh.dir);
    let yaml = std::fs::read_to_string(w.join("mesh.yaml")).unwrap();
    let moved = yaml.replace("certs: ./mesh-certs", "certs: ./no-such-certs");
    assert_ne!(yaml, moved, "the fault landed");
    std::fs::write(w.join("mesh-nocerts.yaml"), moved).unwrap();
    let (code, report) = mesh.verify_file("mesh-nocerts.yaml", &["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("trust.shared-root", "", ""),
        "mesh-certs create",
        &[],
    );
    assert!(report.to_string().contains("no-such-certs"), "{report:#}");
    let table = run(
        VERIFY,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "short"],
    );
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("Status check results are ✔"),
        "{}",
        text(&table)
    );
}

/// Fact gathering forbidden for one cluster (RBAC): that cluster fails cluster.facts, naming
/// the request and the cause; its other checks are listed as not evaluated.
fn forbidden_facts_name_the_request(mesh: &Mesh) {
    let (lab, w) = (mesh.lab, mesh.dir);
    let limited = forbidden_configmaps_kubeconfig(lab, w);
    let (code, report) = mesh.verify(&["--allow-loopback", "--kubeconfig", &limited]);
    expect_fault(
        &report,
        code,
        ("cluster.facts", "west", ""),
        "auth can-i",
        &[],
    );
    let west = results(&report, "cluster.facts")
        .into_iter()
        .find(|c| c["cluster"] == "west")
        .unwrap()
        .clone();
    let msg = west["message"].as_str().unwrap();
    assert!(
        msg.contains("list ConfigMap in all namespaces") && msg.contains("403"),
        "{west:#}"
    );
    let skipped_west = results(&report, "control-plane.istio-ready")
        .into_iter()
        .find(|c| c["cluster"] == "west")
        .unwrap()
        .clone();
    assert_eq!(skipped_west["result"], "skip", "{skipped_west:#}");
    // Positive control: the same kubeconfig reads east fine.
    assert!(
        results(&report, "cluster.facts")
            .iter()
            .any(|c| c["cluster"] == "east" && c["result"] == "pass")
    );
}

/// A Gateway with the right name and a wrong spec; a plain rejoin refuses to take the field back.
fn patched_gateway_is_named_and_a_plain_rejoin_stops(mesh: &Mesh) {
    kubectl(
        mesh.lab,
        "lab-1",
        &[
            "patch",
            "gateways.networking.istio.io",
            "cross-network-gateway",
            "-n",
            "istio-system",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/servers/0/tls/mode","value":"ISTIO_MUTUAL"}]"#,
        ],
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("network.cross-network-gateway", "east", ""),
        "kubectl mesh-join",
        &[],
    );
    assert!(
        failing(&report).len() == 1
            && report
                .to_string()
                .contains("ISTIO_MUTUAL instead of AUTO_PASSTHROUGH"),
        "{report:#}"
    );
    // A plain rejoin does not take the field the person patched: it stops, naming it.
    let refused = mesh.join_plain();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(".spec.servers") && err.contains("kubectl-patch"),
        "{err}"
    );
    mesh.rejoin();
}

/// istiod crash-looping: restarts and a terminated reason in every istiod pod's status (no
/// kwok stage or runner rewrites a Running pod's status while its probe does not change).
fn crash_looping_istiod_is_named(mesh: &Mesh) {
    let lab = mesh.lab;
    let west_pods = istiod_pods(lab, "lab-2");
    for pod in &west_pods {
        istiod_pod_status(lab, "lab-2", pod, false, 7, Some("Error"));
    }
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("control-plane.istiod-pods", "west", ""),
        "--previous",
        &[],
    );
    let r = results(&report, "control-plane.istiod-pods")
        .into_iter()
        .find(|c| c["cluster"] == "west")
        .unwrap()
        .clone();
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains("CrashLoopBackOff")
            && m.contains("7 restart(s)")
            && m.contains("last terminated: Error"),
        "{r:#}"
    );
    for pod in &west_pods {
        istiod_pod_status(lab, "lab-2", pod, true, 7, None);
    }
    // Repaired: west's operator saw the pods not ready (IstiodNotReady) and must see them ready
    // again before the next section, which reads east's `Istio` alone.
    mesh.is_healthy();
}
