//! `mesh-verify`'s discovery checks on the two other topologies (the multi-network
//! multi-primary mesh is `lab_verify`'s discovery section): each primary's istiod — the
//! operator's istiod pod, read by port-forward — holds the endpoints of helloworld, a real
//! Deployment in both clusters, with their networks, and knows the gateway of every other
//! network. Nothing here writes a status, a pod or an EndpointSlice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::testing::{expect_success as ok, join_mesh};
use serde_json::Value;
use support::discovery::{ARGS, result};
use support::workload::*;
use support::*;

/// Joins `mesh` (east on lab-1, west on lab-2), deploys helloworld in both, and returns the
/// report once it passes (the operator's istiods sync and pick the endpoints up).
fn joined(mesh_yaml: &str) -> Value {
    let lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    let join = mesh_lab::testing::plugin_path("kubectl-mesh-join");
    std::fs::write(w.join("mesh.yaml"), mesh_yaml).unwrap();
    let run = |bin: &str, args: &[&str]| ok(mesh_lab::testing::run_plugin(bin, &lab, w, args));
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    run(&certs, &create);
    run(&certs, &["apply", "-f", "mesh.yaml"]);
    ok(join_mesh(&join, &lab, w));
    for ctx in ["lab-1", "lab-2"] {
        helloworld(&lab, ctx);
    }
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
        istiods: Vec::new(),
    };
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    mesh.healthy_series_fire_nothing();
    report
}

#[test]
fn a_single_network_multi_primary_mesh_needs_no_gateway_and_holds_both_clusters_endpoints() {
    let report = joined(
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
    );
    for me in ["east", "west"] {
        let g = result(&report, "discovery.network-gateways", me);
        assert_eq!(g["result"], "n/a", "{g:#}");
        assert!(
            g["message"].as_str().unwrap().contains("one network"),
            "{g:#}"
        );
        let e = result(&report, "discovery.endpoints", me);
        assert_eq!(e["result"], "pass", "{e:#}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("east (1), west (1)"),
            "{e:#}"
        );
    }
}

#[test]
fn a_multi_network_primary_remote_mesh_reaches_the_remote_through_its_gateway() {
    let report = joined(
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east, eastWestAddress: 192.0.2.2}\n",
    );
    let g = result(&report, "discovery.network-gateways", "east");
    assert_eq!(g["result"], "pass", "{g:#}");
    assert!(
        g["message"]
            .as_str()
            .unwrap()
            .contains("network2 via 192.0.2.2:15443"),
        "{g:#}"
    );
    let g = result(&report, "discovery.network-gateways", "west");
    assert_eq!(g["result"], "n/a", "{g:#}");
    // The remote's endpoints carry its network: istiod sends them through west's gateway.
    let e = result(&report, "discovery.endpoints", "east");
    assert_eq!(e["result"], "pass", "{e:#}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("east (1), west (1)"),
        "{e:#}"
    );
}
