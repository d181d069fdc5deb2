//! `mesh-verify --traffic` as far as the lab allows: the workloads are deployed into every
//! cluster with the right versions and images, scheduled on the lab's kwok nodes and Ready, and
//! every istiod holds their endpoints from both clusters; the requests cannot be sent because
//! kwok, the nodes' kubelet, runs no container to exec into (it refuses the curl pod's exec),
//! and the check says exactly that (never "no answers"); the namespace is removed unless
//! `--keep`. The request/tally/matrix logic is unit-tested in mesh-core (`checks::traffic`).
//!
//! A section of `lab_verify`'s mesh: it starts green with no traffic namespace in either
//! cluster, and ends with the namespace removed by the run without `--keep` (the only thing
//! `--traffic` creates). The mesh gives each gateway its address in the mesh file
//! (`eastWestAddress`), so nothing here needs a load balancer.

use super::{Mesh, VERIFY, results};
use mesh_lab::testing::{kubectl_json as get, run_plugin as run};
use serde_json::Value;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "mesh-verify-traffic";

const ARGS: &[&str] = &[
    "-f",
    "mesh.yaml",
    "--allow-loopback",
    "-o",
    "json",
    "--traffic",
    "--traffic-timeout",
    "60s",
    "--keep",
    "--helloworld-image",
    "mirror.example/helloworld-{version}:1.0",
    "--curl-image",
    "mirror.example/curl:8",
];

pub fn traffic_deploys_per_cluster_versions_names_what_it_could_not_send_and_cleans_up(
    mesh: &Mesh,
) {
    mesh.is_healthy();
    for ctx in ["lab-1", "lab-2"] {
        assert!(
            get(mesh.lab, ctx, &["get", "namespace", NAMESPACE]).is_none(),
            "{ctx}: no traffic namespace at the section's start"
        );
    }
    let o = run(VERIFY, mesh.lab, mesh.dir, ARGS);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    requests_not_sent_and_endpoints_held(&report);
    only_the_unsent_requests_fail(mesh, &report);
    kept_workloads(mesh);

    // Without --keep the namespace goes away.
    let args: Vec<&str> = ARGS.iter().copied().filter(|a| *a != "--keep").collect();
    let o = run(VERIFY, mesh.lab, mesh.dir, &args);
    assert_eq!(o.status.code(), Some(1));
    let deadline = Instant::now() + Duration::from_secs(60);
    for ctx in ["lab-1", "lab-2"] {
        while get(mesh.lab, ctx, &["get", "namespace", NAMESPACE]).is_some() {
            assert!(
                Instant::now() < deadline,
                "{ctx}: the traffic namespace was not removed"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Each cluster's traffic check names the kubelet's refusal of the exec; with `--keep`,
/// discovery.endpoints follows the kept helloworld Service.
fn requests_not_sent_and_endpoints_held(report: &Value) {
    let traffic: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "traffic.cross-cluster")
        .collect();
    assert_eq!(traffic.len(), 2, "{report:#}");
    for t in &traffic {
        assert_eq!(t["result"], "fail");
        let m = t["message"].as_str().unwrap();
        assert!(
            m.contains("the requests were not sent: exec into mesh-verify-traffic/curl-")
                && m.contains("no exec found for container \"curl\""),
            "{m}"
        );
        let hint = t["hint"].as_str().unwrap();
        assert!(
            hint.contains("--keep") && hint.contains("kubelet"),
            "{hint}"
        );
    }
    // With --keep, discovery.endpoints follows the kept helloworld Service (asked for, so
    // evaluated; without --traffic it is "not asked"). Each primary's istiod, read by
    // port-forward, holds the endpoints of both clusters: the helloworld pods run on kwok's
    // nodes and their EndpointSlices come from the controller manager.
    let endpoints = results(report, "discovery.endpoints");
    assert_eq!(
        endpoints.len(),
        2,
        "discovery.endpoints per primary: {report:#}"
    );
    for d in endpoints {
        assert_eq!(d["result"], "pass", "{d:#}");
        assert!(
            d["message"].as_str().unwrap().contains(
                "istiod holds endpoints of mesh-verify-traffic/helloworld from east (1), west (1)"
            ),
            "{d:#}"
        );
    }
}

/// The rest of the report is unaffected: the same failures as without --traffic.
fn only_the_unsent_requests_fail(mesh: &Mesh, report: &Value) {
    let plain = run(
        VERIFY,
        mesh.lab,
        mesh.dir,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    let baseline: Value = serde_json::from_slice(&plain.stdout).unwrap();
    let failing = |r: &Value, skip_traffic: bool| -> Vec<(String, String)> {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["result"] == "fail"
                    && !(skip_traffic
                        && (c["id"] == "traffic.cross-cluster" || c["id"] == "discovery.endpoints"))
            })
            .map(|c| (c["id"].to_string(), c["cluster"].to_string()))
            .collect()
    };
    // Without --traffic everything passes; with it only the requests that could not be sent
    // fail (the positive control: the same filter sees those two).
    assert_eq!(plain.status.code(), Some(0), "{baseline:#}");
    assert!(failing(&baseline, false).is_empty(), "{baseline:#}");
    assert!(failing(report, true).is_empty(), "{report:#}");
    assert_eq!(failing(report, false).len(), 2, "{report:#}");
}

/// --keep left the workloads: v1 in the first cluster, v2 in the second, the images given.
fn kept_workloads(mesh: &Mesh) {
    let lab = mesh.lab;
    for (ctx, v) in [("lab-1", "v1"), ("lab-2", "v2")] {
        let ns = get(lab, ctx, &["get", "namespace", NAMESPACE]).expect("kept namespace");
        assert_eq!(ns["metadata"]["labels"]["istio-injection"], "enabled");
        let name = format!("helloworld-{v}");
        let d = get(lab, ctx, &["get", "deployment", &name, "-n", NAMESPACE]).expect("helloworld");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("mirror.example/helloworld-{v}:1.0")
        );
        let c = get(lab, ctx, &["get", "deployment", "curl", "-n", NAMESPACE]).expect("curl");
        assert_eq!(
            c["spec"]["template"]["spec"]["containers"][0]["image"],
            "mirror.example/curl:8"
        );
        assert!(get(lab, ctx, &["get", "service", "helloworld", "-n", NAMESPACE]).is_some());
    }
}
