//! `mesh-verify`'s discovery checks against real istiods (pilot-discovery as local processes,
//! one per lab cluster): the gateway addresses `eastWestAddress` gives them, and the endpoints
//! of a Service from both clusters with their networks; then each fault turns exactly its check
//! red, with its hint, and a repair turns it green again.
//!
//! The lab runs no kubelet: helloworld's pods get their status (Running, Ready, an IP) and the
//! EndpointSlice its Service would get written the way the kubelet and the EndpointSlice
//! controller write them. istiod reads these objects exactly as it reads a real cluster's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::testing::{expect_success as ok, join_mesh};
use serde_json::Value;
use support::setup::*;
use support::workload::*;
use support::*;

const ARGS: &[&str] = &["--allow-loopback", "--service", "sample/helloworld"];

/// The one result of `id` for `cluster`.
fn result<'r>(report: &'r Value, id: &str, cluster: &str) -> &'r Value {
    let r: Vec<_> = results(report, id)
        .into_iter()
        .filter(|c| c["cluster"] == cluster)
        .collect();
    assert_eq!(r.len(), 1, "{id} for {cluster}: {report:#}");
    r[0]
}

fn fails(report: &Value, id: &str, cluster: &str) -> bool {
    failing(report)
        .iter()
        .any(|(i, c, ..)| i == id && c == cluster)
}

#[test]
fn istiod_knows_every_gateway_and_endpoint_and_each_fault_is_named() {
    let mut lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = setup(&mut lab, w);
    ok(join_mesh(&join, &lab, w));
    for (ctx, ip) in [("lab-1", "10.1.0.5"), ("lab-2", "10.2.0.5")] {
        istio_reconciled(&lab, ctx);
        istiod_pod(&lab, ctx);
        helloworld(&lab, ctx, ip);
    }
    let istiods = vec![
        lab.start_istiod(0, "east").expect("istiod east"),
        lab.start_istiod(1, "west").expect("istiod west"),
    ];
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
        istiods,
    };

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
    gateway_faults(&mesh);
    service_and_secret_faults(&mesh);
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
    // As the EndpointSlice controller does, the Service's slice goes with it.
    kubectl(
        lab,
        "lab-2",
        &["delete", "service", "helloworld", "-n", "sample"],
    );
    kubectl(
        lab,
        "lab-2",
        &["delete", "endpointslice", "helloworld-1", "-n", "sample"],
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
    slice(lab, "lab-2", "10.2.0.5");
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

/// Joins `mesh` (east on lab-1, west on lab-2), runs a real istiod for each primary (an external
/// istiod for a primary with remotes, as the join configures it), helloworld in both, and
/// returns the report once it passes.
fn joined(mesh_yaml: &str, primaries: &[(usize, &str, bool)]) -> Value {
    let mut lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    let join = mesh_lab::testing::plugin_path("kubectl-mesh-join");
    std::fs::write(w.join("mesh.yaml"), mesh_yaml).unwrap();
    let run = |bin: &str, args: &[&str]| ok(mesh_lab::testing::run_plugin(bin, &lab, w, args));
    run(
        &certs,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    );
    run(&certs, &["apply", "-f", "mesh.yaml"]);
    ok(join_mesh(&join, &lab, w));
    for (ctx, ip) in [("lab-1", "10.1.0.5"), ("lab-2", "10.2.0.5")] {
        istio_reconciled(&lab, ctx);
        helloworld(&lab, ctx, ip);
    }
    let mut istiods = Vec::new();
    for &(i, id, external) in primaries {
        istiod_pod(&lab, &format!("lab-{}", i + 1));
        let c = lab.clusters()[i].clone();
        let env: Vec<(String, String)> = match external {
            true => vec![("EXTERNAL_ISTIOD".into(), "true".into())],
            false => Vec::new(),
        };
        let (proc, istiod) = mesh_lab::istiod::spawn(
            lab.bin_dir(),
            &lab.kubeconfig(),
            &c.dir,
            &c.name,
            i,
            id,
            &env,
        )
        .expect("istiod");
        lab.adopt_process(i, proc).unwrap();
        istiods.push(istiod);
    }
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
        istiods,
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
        &[(0, "east", false), (1, "west", false)],
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
        &[(0, "east", true)],
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
