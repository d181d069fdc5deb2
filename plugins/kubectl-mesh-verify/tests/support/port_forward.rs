//! Reaching the operator's istiod pods the way a user does, by `kubectl port-forward` through
//! the API server to the pod (the lab's kwok serves the kubelet's side): [`PortForward`] and
//! [`IstiodPod`] (its log, its `/debug/clusterz`). Then the port-forward section of
//! `lab_verify`: istiod is read the way a user's first run reads it, and a new istiod pod is
//! followed.

use super::*;
pub use mesh_lab::testing::PortForward;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The operator's istiod pod of one lab cluster, as the lab's pod runner runs it: its name, its
/// process's log, and a port-forward to its monitoring port (15014, `/debug/clusterz`).
pub struct IstiodPod {
    /// Its kube context.
    pub ctx: String,
    /// The pod's name.
    pub name: String,
    /// `<cluster dir>/pods/<pod>/istiod.log`: what its pilot-discovery printed.
    pub log: PathBuf,
    monitoring: PortForward,
}

impl IstiodPod {
    /// `ctx`'s one istiod pod, once it is Ready (the runner reports its `/ready` probe).
    pub fn ready(lab: &Lab, ctx: &str) -> IstiodPod {
        let deadline = Instant::now() + Duration::from_secs(120);
        let name = loop {
            let pods = mesh_lab::testing::kubectl_json(
                lab,
                ctx,
                &["get", "pods", "-n", "istio-system", "-l", "app=istiod"],
            );
            let items = pods
                .as_ref()
                .and_then(|p| p["items"].as_array().cloned())
                .unwrap_or_default();
            let ready = |p: &Value| {
                p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            };
            if let [one] = items.as_slice()
                && ready(one)
            {
                break one["metadata"]["name"].as_str().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{ctx}: no single Ready istiod pod: {items:#?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        let cluster = lab.clusters().iter().find(|c| c.name == ctx).unwrap();
        IstiodPod {
            ctx: ctx.to_string(),
            log: cluster.dir.join("pods").join(&name).join("istiod.log"),
            monitoring: PortForward::open(lab, ctx, "istio-system", &name, 15014),
            name,
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/debug/clusterz` through the port-forward (empty when istiod does not answer 200).
    pub fn clusterz(&self) -> Vec<Value> {
        self.monitoring
            .get("/debug/clusterz")
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Polls `/debug/clusterz` until `want` holds (at most 45s; then fails with the log's tail).
    pub fn wait_clusterz(&self, what: &str, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let z = self.clusterz();
            if want(&z) {
                return z;
            }
            assert!(
                Instant::now() < deadline,
                "{} pod {}: {what}; clusterz is {z:?}; log:\n{}",
                self.ctx,
                self.name,
                tail(&self.log_text(), 30)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The `syncStatus` clusterz gives cluster `id`, if it lists it.
pub fn sync_status(z: &[Value], id: &str) -> Option<String> {
    z.iter()
        .find(|e| e["id"] == id)
        .map(|e| e["syncStatus"].as_str().unwrap_or_default().to_string())
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

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

    // The kubelet (kwok) loses the pod's forward: istiod cannot be read, and the check says so
    // in a sentence (no Rust dump of the API server's Status).
    let forward = [
        "delete",
        "portforwards.kwok.x-k8s.io",
        "-n",
        "istio-system",
        &old[0],
    ];
    kubectl(lab, "lab-1", &forward);
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    let r = results(&report, "istiod.remote-clusters-synced");
    let east = r.iter().find(|c| c["cluster"] == "east").unwrap();
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(east["result"], "fail", "{east:#}");
    let m = east["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("pod {}, by port-forward", old[0])),
        "{m}"
    );
    assert!(
        m.contains("the kubelet refused the port-forward") && m.contains("no forward found"),
        "{m}"
    );
    assert!(
        !m.contains("Status {") && !m.contains("ErrorResponse"),
        "{m}"
    );
    // Repaired by a new pod (which gets its own forward).
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
