//! `mesh-verify` on each joined topology, the way a user's first run checks it: helloworld (a
//! real Deployment) in both clusters, istiod read by port-forward through the API server, and
//! every check passing, the discovery of the Service's endpoints included. helloworld goes
//! again before the purge, so the purge starts from the join's own footprint.

use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, run_plugin as run};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The results of one check id.
fn results<'r>(report: &'r Value, id: &str) -> Vec<&'r Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

/// Every check passes (istiod may need a moment to pick helloworld's endpoints up); each
/// primary's istiod holds them from both clusters, by port-forward to its pod; in several
/// networks each primary knows the other network's gateway.
pub fn every_check_passes_with_a_service_in_both_clusters(lab: &Lab, w: &Path, mesh: &str) {
    for ctx in ["lab-1", "lab-2"] {
        mesh_lab::sample::helloworld(lab, ctx);
    }
    let verify = mesh_lab::testing::plugin_path("kubectl-mesh-verify");
    let args = ["-f", "mesh.yaml", "--allow-loopback", "-o", "json"];
    let args = [&args[..], &["--service", "sample/helloworld"]].concat();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (o, report) = loop {
        let o = run(&verify, lab, w, &args);
        let report: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        if report["success"] == true || Instant::now() > deadline {
            break (o, report);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(o.status.code(), Some(0), "{report:#}");
    let primaries = mesh.matches("role: primary").count();
    let endpoints = results(&report, "discovery.endpoints");
    assert_eq!(endpoints.len(), primaries, "{report:#}");
    for e in &endpoints {
        let m = e["message"].as_str().unwrap();
        assert!(
            e["result"] == "pass" && m.contains("sample/helloworld from east (1), west (1)"),
            "{e:#}"
        );
    }
    let synced = results(&report, "istiod.remote-clusters-synced");
    let by_port_forward = synced
        .iter()
        .filter(|c| c["result"] == "pass")
        .filter(|c| {
            c["message"]
                .as_str()
                .unwrap()
                .contains(", by port-forward)")
        })
        .count();
    assert_eq!(by_port_forward, primaries, "{report:#}");
    let gateways = results(&report, "discovery.network-gateways");
    if mesh.contains("network2") {
        let known = gateways.iter().filter(|c| c["result"] == "pass").count();
        assert_eq!(known, primaries, "{report:#}");
    } else {
        // One network: no gateway is needed, and the check says so rather than passing.
        assert!(
            gateways.iter().all(|c| c["result"] == "n/a"),
            "{gateways:#?}"
        );
    }
    for ctx in ["lab-1", "lab-2"] {
        mesh_lab::sample::remove(lab, ctx);
    }
}
