//! The sections of the credential lab test (`lab_credentials`) and their helpers: istiods,
//! tokens, requests made with only a token, audit-log writes, clusterz sampling while the
//! plugin runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod rotation;
pub mod short_lived;

use base64::Engine as _;
use mesh_lab::testing::{expect_success as ok, kubectl_json, run_plugin as run};
use mesh_lab::{Lab, audit};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");
pub const CTXS: [(&str, &str); 2] = [("lab-1", "east"), ("lab-2", "west")];
pub const OLD: &str = "istio-reader-service-account-istio-remote-secret-token";
pub const NEW: &str = "istio-reader-service-account-istio-remote-secret-token-1";

/// The operator's istiod of one cluster, as the lab runs it: the newest pod's monitoring
/// listener (the lab's pod runner names it in the cluster directory), read directly by the
/// test to observe. The plugins reach the same pods by port-forward through the API server.
#[derive(Debug, Clone)]
pub struct PodIstiod {
    /// The cluster's name in the mesh (istiod's cluster ID).
    pub cluster_id: String,
    file: std::path::PathBuf,
}

impl PodIstiod {
    /// The newest istiod pod's monitoring address.
    pub fn monitoring(&self) -> Option<String> {
        std::fs::read_to_string(&self.file)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// `/debug/clusterz` of the newest istiod pod.
    pub fn clusterz(&self) -> Option<Value> {
        let addr = self.monitoring()?;
        let port = addr.rsplit(':').next()?.parse().ok()?;
        let (code, body) = mesh_lab::http_get(port, "/debug/clusterz")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }
}

/// The operator's istiod of each lab cluster.
pub fn pod_istiods(lab: &Lab) -> Vec<PodIstiod> {
    CTXS.iter()
        .enumerate()
        .map(|(i, (_, id))| PodIstiod {
            cluster_id: id.to_string(),
            file: lab.clusters()[i].dir.join(mesh_lab::pods::MONITORING_FILE),
        })
        .collect()
}

pub fn eventually(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The token in a token Secret of `ctx` (`None`: no such Secret).
pub fn token(lab: &Lab, ctx: &str, name: &str) -> Option<String> {
    let s = kubectl_json(lab, ctx, &["get", "secret", name, "-n", "istio-system"])?;
    let b = base64::engine::general_purpose::STANDARD
        .decode(s["data"]["token"].as_str()?)
        .ok()?;
    Some(String::from_utf8(b).unwrap())
}

/// kubectl against `ctx`'s API server with only `token` (no kubeconfig credentials).
pub fn as_token(lab: &Lab, ctx: &str, token: &str, args: &[&str]) -> Output {
    let i = lab.contexts().iter().position(|c| c == ctx).unwrap();
    Command::new(lab.bin_dir().join("kubectl"))
        .arg("--kubeconfig=/dev/null")
        .arg(format!("--server={}", lab.clusters()[i].server))
        .arg("--insecure-skip-tls-verify")
        .arg(format!("--token={token}"))
        .args(args)
        .output()
        .unwrap()
}

pub fn reads_pods(lab: &Lab, ctx: &str, token: &str) -> Output {
    as_token(lab, ctx, token, &["get", "pods", "-n", "istio-system"])
}

/// The token embedded in `reader`'s remote secret for `source`.
pub fn embedded(lab: &Lab, reader: &str, source: &str) -> String {
    let s = kubectl_json(
        lab,
        reader,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{source}"),
            "-n",
            "istio-system",
        ],
    )
    .unwrap();
    let kc = base64::engine::general_purpose::STANDARD
        .decode(s["data"][source].as_str().unwrap())
        .unwrap();
    kubeconfig_token(&kc)
}

/// The `token:` of a kubeconfig (one user, as a remote secret holds).
pub fn kubeconfig_token(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    line.trim_start()
        .trim_start_matches("token:")
        .trim()
        .to_string()
}

/// Stored client writes per cluster since `marks`, without the lab istiods' own (leases,
/// ConfigMaps); the audit barrier inside is the positive control.
pub fn writes(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    let _ = audit::writes_since(lab, marks);
    lab.clusters()
        .iter()
        .zip(marks)
        .map(|(c, m)| {
            std::fs::read_to_string(c.audit_log())
                .unwrap()
                .lines()
                .skip(*m)
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|e| {
                    !e["userAgent"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("pilot-discovery")
                })
                .filter_map(|e| audit::stored_write(&e))
                .filter(|w| !w.starts_with("create configmaps audit-barrier-"))
                .collect()
        })
        .collect()
}

/// Runs the plugin while sampling each cluster's newest istiod pod's view of the other
/// cluster: (output, synced samples, every other sample of a pod that had already reported
/// it synced). A pod that starts (a restart rolls istiod out) is not counted until its first
/// synced sample: before that it is still reading the remote secrets, not losing a cluster.
pub fn run_sampling(
    lab: &Lab,
    dir: &Path,
    istiods: &[PodIstiod],
    args: &[&str],
) -> (Output, usize, Vec<String>) {
    let mut child = Command::new(JOIN)
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut synced, mut other) = (0, Vec::new());
    let mut seen_synced = std::collections::BTreeSet::new();
    loop {
        for d in istiods {
            let Some(pod) = d.monitoring() else { continue };
            let z = d
                .clusterz()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            let e = z.iter().find(|e| e["id"] != d.cluster_id.as_str());
            match e.and_then(|e| e["syncStatus"].as_str()) {
                Some("synced") => {
                    synced += 1;
                    seen_synced.insert(pod);
                }
                s if seen_synced.contains(&pod) => {
                    other.push(format!("{} ({pod}) sees {s:?}", d.cluster_id))
                }
                _ => {}
            }
        }
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), synced, other);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Certificates, a join with remote secrets both ways, the operator's istiod per cluster once
/// it syncs the other cluster.
pub fn joined_with_istiods(lab: &Lab, w: &Path) -> Vec<PodIstiod> {
    joined_with_istiods_using(lab, w, &[])
}

/// [`joined_with_istiods`] with more join flags.
pub fn joined_with_istiods_using(lab: &Lab, w: &Path, join_flags: &[&str]) -> Vec<PodIstiod> {
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
    )
    .unwrap();
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    ok(run(&certs, lab, w, &create));
    ok(run(&certs, lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(mesh_lab::testing::join_mesh_with(JOIN, lab, w, join_flags));
    let istiods = pod_istiods(lab);
    for d in &istiods {
        eventually(60, "each istiod syncs the other cluster", || {
            d.clusterz().is_some_and(|z| {
                z.as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["id"] != d.cluster_id.as_str() && e["syncStatus"] == "synced")
            })
        });
    }
    istiods
}
