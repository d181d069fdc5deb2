//! The lab's state file (`DIR/lab.json`): what runs where, for `down` and `status`.

use crate::process::{Proc, pid_alive, rss_kib};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the state file inside the lab directory.
pub const STATE_FILE: &str = "lab.json";

/// One recorded process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcState {
    /// Program name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Its log.
    pub log: PathBuf,
}

/// One recorded cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    /// `lab-N`.
    pub name: String,
    /// API server URL.
    pub server: String,
    /// API server port.
    pub api_port: u16,
    /// etcd client port.
    pub etcd_port: u16,
    /// Cluster directory.
    pub dir: PathBuf,
    /// Its processes, in start order.
    pub processes: Vec<ProcState>,
}

/// The whole lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// The kubeconfig with every context.
    pub kubeconfig: PathBuf,
    /// The clusters.
    pub clusters: Vec<ClusterState>,
}

/// `status` of one process.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcStatus {
    /// Cluster name.
    pub cluster: String,
    /// Program name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Whether it runs.
    pub running: bool,
    /// Resident memory (KiB), when running.
    pub rss_kib: Option<u64>,
}

impl LabState {
    /// Reads `DIR/lab.json`.
    pub fn load(dir: &Path) -> Result<LabState> {
        let path = dir.join(STATE_FILE);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "no lab in {} (cannot read {}); hint: start one with `mesh-lab up --dir {}`",
                dir.display(),
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a lab state file", path.display()))
    }

    /// Writes `DIR/lab.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        fs::write(&tmp, serde_json::to_string_pretty(self)?)?;
        fs::rename(&tmp, dir.join(STATE_FILE))?;
        Ok(())
    }

    /// Whether any recorded process still runs.
    pub fn any_alive(&self) -> bool {
        self.clusters
            .iter()
            .flat_map(|c| &c.processes)
            .any(|p| pid_alive(p.pid, &p.name))
    }

    /// Every process with its state.
    pub fn status(&self) -> Vec<ProcStatus> {
        self.clusters
            .iter()
            .flat_map(|c| {
                c.processes.iter().map(move |p| {
                    let running = pid_alive(p.pid, &p.name);
                    ProcStatus {
                        cluster: c.name.clone(),
                        name: p.name.clone(),
                        pid: p.pid,
                        running,
                        rss_kib: if running { rss_kib(p.pid) } else { None },
                    }
                })
            })
            .collect()
    }

    /// Stops every recorded process (newest first); returns how many were running.
    pub fn stop_all(&self) -> usize {
        let mut stopped = 0;
        for c in self.clusters.iter().rev() {
            for p in c.processes.iter().rev() {
                let mut proc = Proc::adopt(&p.name, p.pid, p.log.clone());
                if proc.alive() {
                    proc.stop(Duration::from_secs(10));
                    stopped += 1;
                }
            }
        }
        stopped
    }
}
