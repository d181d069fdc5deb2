//! `mesh-verify --traffic` as far as the lab allows: the workloads are deployed into every
//! cluster with the right versions and images, scheduled on the lab's kwok nodes and Ready, and
//! every istiod holds their endpoints from both clusters; the requests cannot be sent because
//! kwok, the nodes' kubelet, runs no container to exec into (it refuses the curl pod's exec),
//! and the check says exactly that (never "no answers"); the namespace is removed unless
//! `--keep`. The request/tally/matrix logic is unit-tested in mesh-core (`checks::traffic`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::testing::{expect_success as ok, join_mesh, kubectl_json as get, run_plugin as run};
use serde_json::Value;
use std::time::{Duration, Instant};

const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

#[test]
fn traffic_deploys_per_cluster_versions_names_what_it_could_not_send_and_cleans_up() {
    let lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let certs = mesh_lab::plugin_bin("kubectl-mesh-certs")
        .unwrap()
        .display()
        .to_string();
    let join = mesh_lab::plugin_bin("kubectl-mesh-join")
        .unwrap()
        .display()
        .to_string();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: primary, eastWestAddress: 192.0.2.2}\n",
    )
    .unwrap();
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(&join, &lab, w));

    let args = [
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
    let o = run(VERIFY, &lab, w, &args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
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
    let endpoints = support::results(&report, "discovery.endpoints");
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
    // The rest of the report is unaffected: the same failures as without --traffic.
    let plain = run(
        VERIFY,
        &lab,
        w,
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
    assert!(failing(&report, true).is_empty(), "{report:#}");
    assert_eq!(failing(&report, false).len(), 2, "{report:#}");

    // --keep left the workloads: v1 in the first cluster, v2 in the second, the images given.
    for (ctx, v) in [("lab-1", "v1"), ("lab-2", "v2")] {
        let ns =
            get(&lab, ctx, &["get", "namespace", "mesh-verify-traffic"]).expect("kept namespace");
        assert_eq!(ns["metadata"]["labels"]["istio-injection"], "enabled");
        let d = get(
            &lab,
            ctx,
            &[
                "get",
                "deployment",
                &format!("helloworld-{v}"),
                "-n",
                "mesh-verify-traffic",
            ],
        )
        .expect("helloworld");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("mirror.example/helloworld-{v}:1.0")
        );
        let c = get(
            &lab,
            ctx,
            &["get", "deployment", "curl", "-n", "mesh-verify-traffic"],
        )
        .expect("curl");
        assert_eq!(
            c["spec"]["template"]["spec"]["containers"][0]["image"],
            "mirror.example/curl:8"
        );
        assert!(
            get(
                &lab,
                ctx,
                &["get", "service", "helloworld", "-n", "mesh-verify-traffic"]
            )
            .is_some()
        );
    }

    // Without --keep the namespace goes away.
    let args: Vec<&str> = args.iter().copied().filter(|a| *a != "--keep").collect();
    let o = run(VERIFY, &lab, w, &args);
    assert_eq!(o.status.code(), Some(1));
    let deadline = Instant::now() + Duration::from_secs(60);
    for ctx in ["lab-1", "lab-2"] {
        while get(&lab, ctx, &["get", "namespace", "mesh-verify-traffic"]).is_some() {
            assert!(
                Instant::now() < deadline,
                "{ctx}: the traffic namespace was not removed"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
