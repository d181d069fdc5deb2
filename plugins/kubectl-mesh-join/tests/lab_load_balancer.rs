//! `kubectl mesh-join` on lab clusters with a load balancer (MetalLB's controller): without
//! `eastWestAddress`, a remote reaches its primary at the address the primary's east-west
//! gateway Service was given, as on a cloud. The same join on clusters without one waits for
//! that address and says so (the control).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::Lab;
use mesh_lab::testing::{describe, expect_success, kubectl_json, plugin_path, run_plugin};
use std::path::Path;
use std::process::Output;

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n\
- {name: east, context: lab-1, network: network1, role: primary}\n\
- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

/// Certificates made and applied, then `mesh-join` (the lab's Sail operator installs).
fn join(lab: &Lab, dir: &Path, timeout: &str) -> Output {
    std::fs::write(dir.join("mesh.yaml"), MESH).unwrap();
    let certs = plugin_path("kubectl-mesh-certs");
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    expect_success(run_plugin(&certs, lab, dir, &create));
    expect_success(run_plugin(&certs, lab, dir, &["apply", "-f", "mesh.yaml"]));
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

#[test]
fn a_remote_reaches_its_primary_at_the_load_balancer_address_without_east_west_address() {
    let lab = Lab::up_with(2, |_| {}).expect("lab with load balancers");
    let dir = tempfile::tempdir().unwrap();
    let out = expect_success(join(&lab, dir.path(), "60s"));
    let address = gateway_ingress(&lab, "lab-1");
    assert_eq!(address, "198.18.1.1", "{}", describe(&out));
    let west = kubectl_json(&lab, "lab-2", &["get", "istios.sailoperator.io", "default"])
        .expect("west's Istio");
    assert_eq!(
        west["spec"]["values"]["global"]["remotePilotAddress"],
        address,
        "{}",
        describe(&out)
    );
    drop(lab);

    // Control: the same mesh on clusters without a load balancer.
    let bare = Lab::up_with(2, |o| o.load_balancers = false).expect("lab without load balancers");
    let dir = tempfile::tempdir().unwrap();
    // Istio may take longer than 10 s to be Ready on a loaded machine; the join resumes where
    // it stopped, so it runs again until it reaches the wait for the gateway's address.
    let waited = "istio-eastwestgateway has no load-balancer address";
    let mut out = join(&bare, dir.path(), "10s");
    for _ in 0..5 {
        if describe(&out).contains(waited) {
            break;
        }
        out = join(&bare, dir.path(), "10s");
    }
    let text = describe(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(waited), "{text}");
    assert!(gateway_ingress(&bare, "lab-1").is_null());
    assert!(
        kubectl_json(
            &bare,
            "lab-2",
            &["get", "istios.sailoperator.io", "default"]
        )
        .is_none(),
        "west joined without its primary's address"
    );
}
