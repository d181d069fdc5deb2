//! The discovery section of `lab_verify`: istiod's own view read by port-forward — the gateway
//! addresses `eastWestAddress` gives it, and the endpoints of a Service (helloworld, a real
//! Deployment in both clusters) with their networks; then each fault turns exactly its check
//! red, with its hint, and a repair turns it green again.

use super::workload::*;
use super::*;

pub const ARGS: &[&str] = &["--allow-loopback", "--service", "sample/helloworld"];

pub fn fails(report: &Value, id: &str, cluster: &str) -> bool {
    failing(report)
        .iter()
        .any(|(i, c, ..)| i == id && c == cluster)
}

/// On the healthy mesh: helloworld deployed in both clusters, then the faults.
pub fn istiod_knows_every_gateway_and_endpoint_and_each_fault_is_named(mesh: &Mesh) {
    mesh.is_healthy();
    for ctx in ["lab-1", "lab-2"] {
        helloworld(mesh.lab, ctx);
    }
    // Healthy: each istiod routes to the other network through the address the mesh file gave,
    // and holds helloworld's endpoints from both clusters, each on its own network.
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    for (me, other) in [
        ("east", "network2 via 192.0.2.2:15443"),
        ("west", "network1 via 192.0.2.1:15443"),
    ] {
        let g = result(&report, "discovery.network-gateways", me);
        assert_eq!(g["result"], "pass", "{g:#}");
        assert!(g["message"].as_str().unwrap().contains(other), "{g:#}");
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
    gateway_faults(mesh);
    service_and_secret_faults(mesh);
}

/// The gateway Service of one network loses its network label, then its address.
fn gateway_faults(mesh: &Mesh) {
    let lab = mesh.lab;
    kubectl(
        lab,
        "lab-2",
        &[
            "label",
            "service",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
            "topology.istio.io/network-",
        ],
    );
    let labels = kubectl(
        lab,
        "lab-2",
        &[
            "get",
            "service",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    );
    assert!(
        !labels.contains("topology.istio.io/network"),
        "the fault landed: {labels}"
    );
    let (code, report) =
        mesh.verify_until(ARGS, |r| fails(r, "discovery.network-gateways", "east"));
    expect_fault(
        &report,
        code,
        ("discovery.network-gateways", "east", ""),
        "topology.istio.io/network=network2",
        &[],
    );
    assert!(
        result(&report, "discovery.network-gateways", "east")["message"]
            .as_str()
            .unwrap()
            .contains("no gateway for network network2"),
        "{report:#}"
    );
    mesh.rejoin();
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "repaired: {report:#}");

    // No address: the load balancer reports none and the Service lost its external IP.
    kubectl(
        lab,
        "lab-1",
        &[
            "patch",
            "service",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/externalIPs"}]"#,
        ],
    );
    let (code, report) =
        mesh.verify_until(ARGS, |r| fails(r, "discovery.network-gateways", "west"));
    // The Service itself now shows the mesh file's address missing: the same fault, seen there.
    expect_fault(
        &report,
        code,
        ("discovery.network-gateways", "west", ""),
        "istio-eastwestgateway",
        &["network.eastwest-service"],
    );
    assert!(
        fails(&report, "network.eastwest-service", "east"),
        "{report:#}"
    );
    mesh.rejoin();
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "repaired: {report:#}");
}

/// west's copy of the Service deleted while its pod runs; then east's remote secret removed.
fn service_and_secret_faults(mesh: &Mesh) {
    let lab = mesh.lab;
    // The EndpointSlice controller takes the Service's slice with it.
    kubectl(
        lab,
        "lab-2",
        &["delete", "service", "helloworld", "-n", "sample"],
    );
    // Both istiods lose west's endpoints (west's own too): exactly those two results fail.
    let (code, report) = mesh.verify_until(ARGS, |r| {
        fails(r, "discovery.endpoints", "east") && fails(r, "discovery.endpoints", "west")
    });
    assert_eq!(code, Some(1), "{report:#}");
    let failed: Vec<_> = failing(&report)
        .into_iter()
        .map(|(i, c, _, h)| (i, c, h))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for (i, c, h) in &failed {
        assert_eq!(i, "discovery.endpoints");
        assert!(h.contains("must exist in every cluster"), "{c}: {h}");
        let msg = result(&report, i, c)["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("'west', which runs 1 Ready pod(s) of it but has no such Service"),
            "{c}: {msg}"
        );
    }
    service(lab, "lab-2");
    ready_endpoint(lab, "lab-2");
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "repaired: {report:#}");

    // east no longer reads west: istiod drops west's endpoints.
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
    let (code, report) = mesh.verify_until(ARGS, |r| fails(r, "discovery.endpoints", "east"));
    expect_fault(
        &report,
        code,
        ("discovery.endpoints", "east", ""),
        "istiod.remote-clusters-synced",
        // The same fault, seen by the checks that read the secret and istiod's cluster list.
        &["remote.secret-present", "istiod.remote-clusters-synced"],
    );
    assert!(
        result(&report, "discovery.endpoints", "east")["message"]
            .as_str()
            .unwrap()
            .contains("no endpoints from 'west'"),
        "{report:#}"
    );
    mesh.rejoin();
    let (code, report) = mesh.verify_until(ARGS, |r| r["success"] == true);
    assert_eq!(code, Some(0), "repaired: {report:#}");
}
