//! `mesh-verify` on each joined topology, the way a user's first run checks it: helloworld (a
//! real Deployment) in both clusters, istiod read by port-forward through the API server, and
//! every check passing, the discovery of the Service's endpoints included. helloworld goes
//! again before the purge, so the purge starts from the join's own footprint.

use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, result as one, results, run_plugin as run};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// `mesh-verify -o json` until it succeeds (istiod syncing takes a moment), at most 60 s.
fn verify_green(lab: &Lab, w: &Path) -> Value {
    let verify = mesh_lab::testing::plugin_path("kubectl-mesh-verify");
    let args = ["-f", "mesh.yaml", "--allow-loopback", "-o", "json"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(&verify, lab, w, &args);
        let report: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        if report["success"] == true {
            assert_eq!(o.status.code(), Some(0), "{report:#}");
            return report;
        }
        assert!(Instant::now() < deadline, "{report:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A primary-remote mesh as verify sees it: istiod exposed through east's gateway (Gateway and
/// VirtualService compared), the checks that do not apply to the remote said so with the
/// reason; the VirtualService deleted, exactly `network.expose-istiod` fails for east, naming
/// it, and a join repairs it.
pub fn a_remote_is_verified_and_a_missing_exposure_named(lab: &Lab, w: &Path) {
    let report = verify_green(lab, w);
    for (id, cluster) in [
        ("network.expose-istiod", "east"),
        ("control-plane.istiod-pods", "east"),
        ("control-plane.istio-ready", "west"),
        ("control-plane.control-plane-clusters", "west"),
        ("istiod.remote-clusters-synced", "east"),
        ("remote.credentials", "east"),
    ] {
        let r = one(&report, id, cluster);
        assert_eq!(r["result"], "pass", "{id} {cluster}: {r:#}");
    }
    for (id, why) in [
        ("control-plane.istiod-pods", "remote runs no istiod"),
        ("istiod.remote-clusters-synced", "remote runs no istiod"),
        ("network.expose-istiod", "no remote uses"),
        ("network.cross-network-gateway", "single network"),
    ] {
        let r = one(&report, id, "west");
        assert_eq!(r["result"], "n/a", "{r:#}");
        assert!(r["message"].as_str().unwrap().contains(why), "{r:#}");
    }
    let vs = ["delete", "virtualservices.networking.istio.io", "istiod-vs"];
    let o = lab
        .kubectl("lab-1")
        .args(vs)
        .args(["-n", "istio-system"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let verify = mesh_lab::testing::plugin_path("kubectl-mesh-verify");
    let o = run(
        &verify,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{report:#}");
    let failed: Vec<(&Value, &Value)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| (&c["id"], &c["cluster"]))
        .collect();
    assert_eq!(
        failed,
        vec![(&"network.expose-istiod".into(), &"east".into())]
    );
    let r = one(&report, "network.expose-istiod", "east");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("the VirtualService does not exist")
            && r["hint"].as_str().unwrap().contains("kubectl mesh-join"),
        "{r:#}"
    );
    mesh_lab::testing::expect_success(super::join(lab, w));
    verify_green(lab, w);
}
