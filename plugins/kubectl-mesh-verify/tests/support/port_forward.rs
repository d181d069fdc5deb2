//! The port-forward section of `lab_verify`: istiod is read the way a user's first run reads
//! it, by port-forward through the API server to the pod (the lab's kwok serves the kubelet's
//! side), and a new istiod pod is followed.

use super::*;
use mesh_lab::testing::PortForward;
use std::time::{Duration, Instant};

/// The message of east's `istiod.remote-clusters-synced`.
fn synced_message(report: &Value) -> String {
    let r = results(report, "istiod.remote-clusters-synced");
    let east = r.iter().find(|c| c["cluster"] == "east").unwrap();
    assert_eq!(east["result"], "pass", "{east:#}");
    east["message"].as_str().unwrap().to_string()
}

/// `kubectl port-forward` answers istiod's `/debug/clusterz`; `mesh-verify` reads istiod by
/// port-forward and names the pod; the pod deleted, the operator's Deployment makes a new one,
/// which verify reaches by port-forward in its turn.
pub fn istiod_is_read_by_port_forward_and_a_new_pod_followed(mesh: &Mesh) {
    mesh.is_healthy();
    let lab = mesh.lab;
    let old = istiod_pods(lab, "lab-1");
    assert_eq!(old.len(), 1, "{old:?}");
    let forward = PortForward::open(lab, "lab-1", "istio-system", &old[0], 15014);
    let answer = forward.get("/debug/clusterz");
    drop(forward);
    let (code, body) = answer.expect("an answer through kubectl port-forward");
    assert_eq!(code, 200, "{body}");
    let clusterz: Value = serde_json::from_str(&body).unwrap();
    assert!(
        clusterz
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "west"),
        "{clusterz:#}"
    );

    let (_, report) = mesh.verify(&["--allow-loopback"]);
    let before = synced_message(&report);
    assert!(
        before.contains(&format!("pod {}, by port-forward", old[0])),
        "{before}"
    );

    kubectl(
        lab,
        "lab-1",
        &["delete", "pod", "-n", "istio-system", &old[0]],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let new = loop {
        let now = istiod_pods(lab, "lab-1");
        if let [one] = now.as_slice()
            && *one != old[0]
        {
            break one.clone();
        }
        assert!(Instant::now() < deadline, "no new istiod pod: {now:?}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    let after = synced_message(&report);
    assert!(
        after.contains(&format!("pod {new}, by port-forward")),
        "{after}"
    );
    assert!(!after.contains(&old[0]), "{after}");
}
