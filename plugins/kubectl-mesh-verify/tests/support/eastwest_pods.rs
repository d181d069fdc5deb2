//! `network.eastwest-pods` on the lab mesh: west's east-west gateway scaled to 0 (as an
//! operator might, `kubectl scale`) fails the check naming west, while its Service keeps its
//! address; scaled back to 1, the Deployment controller and the lab's pod runner bring a pod
//! up and the check passes again (the green run before the fault is the positive control for
//! the gateway pods being injected).

use super::{Mesh, expect_fault, kubectl, results};

const GATEWAY: &str = "deploy/istio-eastwestgateway";

fn outcome(report: &serde_json::Value, cluster: &str) -> String {
    results(report, "network.eastwest-pods")
        .into_iter()
        .find(|r| r["cluster"] == cluster)
        .map(|r| r["result"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

pub fn scaled_to_zero_fails_and_restored_passes(mesh: &Mesh) {
    let scale = |n: &str| {
        let replicas = format!("--replicas={n}");
        kubectl(
            mesh.lab,
            "lab-2",
            &["scale", "-n", "istio-system", GATEWAY, &replicas],
        );
    };
    let (_, before) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(outcome(&before, "west"), "pass", "{before:#}");
    scale("0");
    let spec = kubectl(
        mesh.lab,
        "lab-2",
        &[
            "get",
            "-n",
            "istio-system",
            GATEWAY,
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(spec.trim(), "0", "the fault landed");
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| outcome(r, "west") == "fail");
    expect_fault(
        &report,
        code,
        ("network.eastwest-pods", "west", ""),
        "rollout status",
        &[],
    );
    let west = results(&report, "network.eastwest-pods")
        .into_iter()
        .find(|r| r["cluster"] == "west")
        .unwrap()
        .clone();
    assert!(
        west["message"].as_str().unwrap().contains("scaled to 0"),
        "{west:#}"
    );
    assert_eq!(outcome(&report, "east"), "pass", "{report:#}");
    scale("1");
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| outcome(r, "west") == "pass");
    assert_eq!(code, Some(0), "{report:#}");
}
