//! `kubectl mesh-verify` on a primary-remote lab mesh: istiod exposed through the east-west
//! gateway (Gateway spec, selector and VirtualService compared), checks that do not apply to
//! a remote skipped with the reason, every decisive check passing.
//!
//! Everything is the lab's own: the operator writes the `Istio` statuses, east's istiod pod (an
//! external istiod for west, as the join configures it) is read by port-forward, and helloworld
//! is a real Deployment in both clusters. Nothing here writes a status, a pod or a slice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::testing::{expect_success as ok, join_mesh, plugin_path, run_plugin as run};
use support::workload::helloworld;
use support::*;

#[test]
fn a_primary_remote_lab_mesh_exposes_istiod_and_passes() {
    let lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = (
        plugin_path("kubectl-mesh-certs"),
        plugin_path("kubectl-mesh-join"),
    );
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network1, role: remote, primary: east}\n",
    )
    .unwrap();
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    ok(run(&certs, &lab, w, &create));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(&join, &lab, w));
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
        istiods: Vec::new(),
    };

    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    mesh.healthy_series_fire_nothing();
    let result = |id: &str, cluster: &str| {
        results(&report, id)
            .into_iter()
            .find(|c| c["cluster"] == cluster)
            .unwrap_or_else(|| panic!("{id} for {cluster}: {report:#}"))
            .clone()
    };
    for (id, cluster) in [
        ("network.expose-istiod", "east"),
        ("network.eastwest-service", "east"),
        ("control-plane.istiod-pods", "east"),
        ("control-plane.istio-ready", "west"),
        ("control-plane.control-plane-clusters", "west"),
        ("istiod.remote-clusters-synced", "east"),
        ("remote.credentials", "east"),
        ("trust.shared-root", ""),
    ] {
        let r = if cluster.is_empty() {
            results(&report, id)[0].clone()
        } else {
            result(id, cluster)
        };
        assert_eq!(r["result"], "pass", "{id} {cluster}: {r:#}");
    }
    for (id, why) in [
        ("control-plane.istiod-pods", "remote runs no istiod"),
        ("istiod.remote-clusters-synced", "remote runs no istiod"),
        ("network.expose-istiod", "no remote uses"),
        ("network.cross-network-gateway", "single network"),
    ] {
        let r = result(id, "west");
        assert_eq!(r["result"], "n/a", "{r:#}");
        assert!(r["message"].as_str().unwrap().contains(why), "{r:#}");
    }

    // The VirtualService gone: exactly network.expose-istiod fails for east, naming it.
    kubectl(
        &lab,
        "lab-1",
        &[
            "delete",
            "virtualservices.networking.istio.io",
            "istiod-vs",
            "-n",
            "istio-system",
        ],
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    expect_fault(
        &report,
        code,
        ("network.expose-istiod", "east", ""),
        "kubectl mesh-join",
        &[],
    );
    assert!(
        report
            .to_string()
            .contains("the VirtualService does not exist"),
        "{report:#}"
    );
    mesh.rejoin();
    assert_eq!(mesh.verify(&["--allow-loopback"]).0, Some(0));

    // The primary's istiod holds a Service's endpoints from both clusters; one network, so no
    // gateway is needed for it, and the remote runs no istiod to ask.
    helloworld(&lab, "lab-1");
    helloworld(&lab, "lab-2");
    let args = ["--allow-loopback", "--service", "sample/helloworld"];
    let (code, report) = mesh.verify_until(&args, |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    let one = |id: &str, cluster: &str| {
        let r: Vec<_> = results(&report, id)
            .into_iter()
            .filter(|c| c["cluster"] == cluster)
            .collect();
        assert_eq!(r.len(), 1, "{id} {cluster}: {report:#}");
        (
            r[0]["result"].clone(),
            r[0]["message"].as_str().unwrap().to_string(),
        )
    };
    let (r, m) = one("discovery.endpoints", "east");
    assert!(r == "pass" && m.contains("east (1), west (1)"), "{m}");
    let (r, m) = one("discovery.network-gateways", "east");
    assert!(r == "n/a" && m.contains("one network"), "{m}");
    let (r, m) = one("discovery.network-gateways", "west");
    assert!(r == "n/a" && m.contains("remote runs no istiod"), "{m}");
    assert!(
        results(&report, "discovery.endpoints").len() == 1,
        "{report:#}"
    );
}
