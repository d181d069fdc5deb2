//! The operator's istiod pods as the root rotation meets them: the setting a user gives them for
//! a root rotation (a merge patch of the Sail `Istio` resource) and the operator's rollout, then
//! each pod by name, the process the lab's pod runner runs for it (found in `/proc` by its
//! working directory, the pod's directory), its log, and `/debug/clusterz` read by
//! `kubectl port-forward` to the pod through the API server.

use super::eventually;
use mesh_lab::Lab;
use mesh_lab::testing::{PortForward, kubectl_json};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

/// istiod's monitoring port in its pod (`/debug/clusterz`).
const MONITORING_PORT: u16 = 15014;

/// A process, by id and start time (clock ticks since boot: a reused id has another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub started: u64,
}

/// One cluster's istiod pod, held open by port-forward.
#[derive(Debug)]
pub struct IstiodPod {
    pub ctx: String,
    pub cluster_id: String,
    pub name: String,
    /// The pod's directory in the lab (its log, its `cacerts` volume).
    pub dir: PathBuf,
    pub process: Process,
    forward: PortForward,
}

/// The names of `ctx`'s istiod pods, those being deleted too.
pub fn istiod_pods(lab: &Lab, ctx: &str) -> Vec<String> {
    let args = ["get", "pods", "-n", "istio-system", "-l", "app=istiod"];
    let pods = kubectl_json(lab, ctx, &args).expect("pod list");
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

/// Sets `ISTIO_MULTIROOT_MESH=true` for istiod as a user does: mesh-join renders no pilot
/// environment from the mesh file and has no flag for it (docs/root-rotation.md, "Not done
/// yet"), so a merge patch of `spec.values.pilot.env` on the Sail `Istio` resource.
pub fn enable_multiroot(lab: &Lab, ctx: &str) {
    let env = r#"{"spec":{"values":{"pilot":{"env":{"ISTIO_MULTIROOT_MESH":"true"}}}}}"#;
    let patch = lab
        .kubectl(ctx)
        .args(["patch", "istio", "default", "--type=merge", "-p", env])
        .output()
        .unwrap();
    assert!(
        patch.status.success(),
        "{}",
        String::from_utf8_lossy(&patch.stderr)
    );
}

/// Whether the operator's rollout of `ctx`'s istiod Deployment with the setting is complete:
/// the template has it, every replica updated and available, no other pod left.
fn rolled_out(lab: &Lab, ctx: &str) -> bool {
    let args = ["get", "deploy", "istiod", "-n", "istio-system"];
    let Some(d) = kubectl_json(lab, ctx, &args) else {
        return false;
    };
    let want = &d["spec"]["replicas"];
    d["spec"]["template"]
        .to_string()
        .contains("ISTIO_MULTIROOT_MESH")
        && d["status"]["updatedReplicas"] == *want
        && d["status"]["availableReplicas"] == *want
        && d["status"]["replicas"] == *want
        && istiod_pods(lab, ctx).len() == 1
}

/// The `pilot-discovery` process whose working directory is `dir`, when exactly one is.
fn process_in(dir: &Path) -> Option<Process> {
    let dir = dir.canonicalize().ok()?;
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let proc = e.path();
        let comm = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
        let cwd = std::fs::read_link(proc.join("cwd")).ok();
        if comm.trim() == "pilot-discovery" && cwd.as_deref() == Some(dir.as_path()) {
            found.push(Process {
                pid,
                started: start_time(pid)?,
            });
        }
    }
    (found.len() == 1).then(|| found[0])
}

/// Field 22 of `/proc/PID/stat` (after the parenthesised command).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

impl IstiodPod {
    /// Waits for the rollout of [`enable_multiroot`] on lab cluster `i`, then finds its one
    /// istiod pod, the process the pod runner started for it (with the setting in its
    /// environment), and port-forwards to its monitoring port.
    pub fn after_rollout(lab: &Lab, i: usize, cluster_id: &str) -> IstiodPod {
        let ctx = lab.contexts()[i].clone();
        let what = format!("the operator rolls {ctx}'s istiod out with the setting");
        eventually(180, &what, || rolled_out(lab, &ctx));
        let [name] = <[String; 1]>::try_from(istiod_pods(lab, &ctx)).unwrap();
        let dir = lab.clusters()[i].dir.join("pods").join(&name);
        eventually(60, "the pod's process runs", || process_in(&dir).is_some());
        let process = process_in(&dir).unwrap();
        let forward = PortForward::open(lab, &ctx, "istio-system", &name, MONITORING_PORT);
        let pod = IstiodPod {
            ctx,
            cluster_id: cluster_id.into(),
            name,
            dir,
            process,
            forward,
        };
        let environ = std::fs::read(format!("/proc/{}/environ", process.pid)).unwrap();
        assert!(
            environ
                .split(|b| *b == 0)
                .any(|v| v == b"ISTIO_MULTIROOT_MESH=true"),
            "{}: the pod's process runs without the setting",
            pod.name
        );
        pod
    }

    /// `/debug/clusterz` through the port-forward.
    pub fn clusterz(&self) -> Option<Value> {
        let (code, body) = self.forward.get("/debug/clusterz")?;
        (code == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// The pod's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("istiod.log")).unwrap_or_default()
    }

    /// Whether this istiod sees another cluster `synced`.
    pub fn sees_other_synced(&self) -> bool {
        self.clusterz().is_some_and(|z| {
            z.as_array()
                .into_iter()
                .flatten()
                .any(|e| e["id"] != self.cluster_id.as_str() && e["syncStatus"] == "synced")
        })
    }

    /// The same pod, the only istiod pod of its cluster, still run by the same process: nothing
    /// restarted it. `port_forward` too: kubectl's forward to it never broke.
    pub fn unchanged(&mut self, lab: &Lab) {
        assert_eq!(
            istiod_pods(lab, &self.ctx),
            std::slice::from_ref(&self.name)
        );
        assert_eq!(process_in(&self.dir), Some(self.process), "{}", self.name);
        assert!(self.forward.running(), "{}", self.forward.errors());
    }

    /// The `cacerts` volume's file `key` as the pod sees it.
    pub fn volume_file(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("cacerts").join(key)).unwrap()
    }
}

/// What istiod's `/debug/clusterz` showed while a stage ran: how many samples saw a remote
/// cluster `synced`, and every sample that saw one otherwise.
#[derive(Debug, Default)]
pub struct Samples {
    pub synced: usize,
    pub other: Vec<String>,
}

/// Waits for `child` (a stage), sampling every istiod's view of the remote clusters each
/// half second meanwhile. The Secret volumes follow the Secrets by the lab's pod runner.
pub fn run_sampling(pods: &[IstiodPod], mut child: Child) -> (Output, Samples) {
    let mut samples = Samples::default();
    loop {
        for d in pods {
            sample(d, &mut samples);
        }
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), samples);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn sample(d: &IstiodPod, samples: &mut Samples) {
    let z = d.clusterz().and_then(|v| v.as_array().cloned());
    let Some(z) = z else {
        samples
            .other
            .push(format!("{}: clusterz unreadable", d.cluster_id));
        return;
    };
    for e in z.iter().filter(|e| e["id"] != d.cluster_id.as_str()) {
        match e["syncStatus"].as_str() {
            Some("synced") => samples.synced += 1,
            s => samples
                .other
                .push(format!("{} sees {}: {s:?}", d.cluster_id, e["id"])),
        }
    }
}
