//! `kubectl mesh-join` on lab clusters with a load balancer (MetalLB's controller): without
//! `eastWestAddress`, a remote reaches its primary at the address the primary's east-west
//! gateway Service was given, as on a cloud. The same join on the same clusters, purged back
//! and with their load balancers stopped, waits for that address and says so (the control).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod join;

use join::{JOIN, Untouched, prepare, purge_back, untouched};
use mesh_lab::Lab;
use mesh_lab::metallb::PROGRAM as LOAD_BALANCER;
use mesh_lab::testing::{describe, expect_success, kubectl_json, run_plugin};
use std::path::Path;
use std::process::Output;

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n\
- {name: east, context: lab-1, network: network1, role: primary}\n\
- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

/// `mesh-join` (the lab's Sail operator installs) with `timeout`, on a prepared directory.
fn join(lab: &Lab, dir: &Path, timeout: &str) -> Output {
    let args = ["-f", "mesh.yaml", "--allow-loopback", "--timeout", timeout];
    run_plugin(JOIN, lab, dir, &args)
}

fn gateway_ingress(lab: &Lab, ctx: &str) -> serde_json::Value {
    let svc = kubectl_json(
        lab,
        ctx,
        &[
            "get",
            "service",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
        ],
    )
    .expect("the east-west gateway Service");
    svc["status"]["loadBalancer"]["ingress"][0]["ip"].clone()
}

/// The lab's load balancers give east's gateway its address, and west's `Istio` names it as
/// the remote pilot address; then both clusters are purged back to untouched.
fn a_remote_reaches_its_primary_at_the_load_balancer_address(lab: &Lab, fresh: &Untouched) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    let dir = tempfile::tempdir().unwrap();
    prepare(lab, dir.path(), MESH, "east,west");
    let out = expect_success(join(lab, dir.path(), "60s"));
    let address = gateway_ingress(lab, "lab-1");
    assert_eq!(address, "198.18.1.1", "{}", describe(&out));
    let west = kubectl_json(lab, "lab-2", &["get", "istios.sailoperator.io", "default"])
        .expect("west's Istio");
    assert_eq!(
        west["spec"]["values"]["global"]["remotePilotAddress"],
        address,
        "{}",
        describe(&out)
    );
    purge_back(
        lab,
        dir.path(),
        "mesh.yaml",
        &[("west", "lab-2"), ("east", "lab-1")],
        fresh,
    );
}

/// Control: the same mesh on the same clusters, untouched again, with MetalLB's controller
/// stopped in both. The fault is proven by the processes being gone (they ran before: they
/// gave the first section its address) and by the gateway Service staying without an address.
fn without_a_load_balancer_the_join_waits_for_the_gateway_address(
    lab: &mut Lab,
    fresh: &Untouched,
) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    let running = lab.load_balancer_rss_kib();
    assert!(running.iter().all(Option::is_some), "{running:?}");
    for cluster in 0..2 {
        lab.stop_process(cluster, LOAD_BALANCER);
    }
    let stopped = lab.load_balancer_rss_kib();
    assert!(stopped.iter().all(Option::is_none), "{stopped:?}");

    let dir = tempfile::tempdir().unwrap();
    prepare(lab, dir.path(), MESH, "east,west");
    // Istio may take longer than 10 s to be Ready on a loaded machine; the join resumes where
    // it stopped, so it runs again until it reaches the wait for the gateway's address.
    let waited = "istio-eastwestgateway has no load-balancer address";
    let mut out = join(lab, dir.path(), "10s");
    for _ in 0..5 {
        if describe(&out).contains(waited) {
            break;
        }
        out = join(lab, dir.path(), "10s");
    }
    let text = describe(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(waited), "{text}");
    assert!(gateway_ingress(lab, "lab-1").is_null());
    assert!(
        kubectl_json(lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "west joined without its primary's address"
    );
}

/// One lab: the join with load balancers, purged back, then the control without them.
#[test]
fn a_remote_reaches_its_primary_at_the_load_balancer_address_without_east_west_address() {
    let mut lab = Lab::up(2).expect("lab with load balancers");
    let fresh = untouched(&lab);
    a_remote_reaches_its_primary_at_the_load_balancer_address(&lab, &fresh);
    without_a_load_balancer_the_join_waits_for_the_gateway_address(&mut lab, &fresh);
}
