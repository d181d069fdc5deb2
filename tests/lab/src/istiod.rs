//! istiod (`pilot-discovery`) for a lab cluster, as a local process: `--kubeconfig` to the
//! cluster, `POD_NAMESPACE=istio-system`, the mesh's cluster name as cluster ID, `ROOT_CA_DIR`
//! filled from the cluster's `cacerts` Secret, webhook patching off, every port on 127.0.0.1.

use crate::process::Proc;
use crate::{Lab, allocate_ports, find_bin, http_get};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A running istiod's addresses.
#[derive(Debug, Clone)]
pub struct Istiod {
    /// The lab cluster it runs for (index).
    pub cluster: usize,
    /// Its cluster ID.
    pub cluster_id: String,
    /// Process id.
    pub pid: u32,
    /// `host:port` of the HTTP (debug, `/ready`) listener.
    pub http: String,
    /// `host:port` of the monitoring listener (`/debug/clusterz`).
    pub monitoring: String,
    /// `host:port` of the TLS xDS / CA listener (15012 in a cluster).
    pub secure_grpc: String,
    /// Its log.
    pub log: PathBuf,
    /// The directory it runs in (ROOT_CA_DIR is `cacerts/` inside).
    pub dir: PathBuf,
}

impl Istiod {
    /// `GET /debug/clusterz` on the monitoring port.
    pub fn clusterz(&self) -> Option<serde_json::Value> {
        let port = self.monitoring.rsplit(':').next()?.parse().ok()?;
        let (code, body) = http_get(port, "/debug/clusterz")?;
        (code == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Writes the cluster's `cacerts` keys into `dir` (0600), as the Secret volume would.
fn fetch_cacerts(kubectl: &Path, kubeconfig: &Path, context: &str, dir: &Path) -> Result<()> {
    let mut cmd = std::process::Command::new(kubectl);
    cmd.arg(format!("--context={context}"));
    write_cacerts(cmd, kubeconfig, "istio-system", context, dir)
}

/// [`fetch_cacerts`] through the runner's in-process client, from namespace `ns`.
pub(crate) fn fetch_cacerts_from(api: &crate::api::Api, ns: &str, dir: &Path) -> Result<()> {
    let Some(secret) = api.get(&format!("/api/v1/namespaces/{ns}/secrets/cacerts")) else {
        bail!("the cluster has no {ns}/cacerts (or its API server did not answer)");
    };
    write_volume(&secret, dir)
}

fn write_cacerts(
    mut cmd: std::process::Command,
    kubeconfig: &Path,
    ns: &str,
    context: &str,
    dir: &Path,
) -> Result<()> {
    let out = cmd
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["get", "secret", "cacerts", "-n", ns, "-o", "json"])
        .output()?;
    if !out.status.success() {
        bail!(
            "{context} has no istio-system/cacerts ({}); hint: kubectl mesh-certs apply first, or istiod would create a self-signed CA",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    write_volume(&serde_json::from_slice(&out.stdout)?, dir)
}

/// Writes a Secret's keys into `dir` (0600) as its volume: a file changes only when the
/// Secret does.
fn write_volume(secret: &serde_json::Value, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    for (k, v) in secret["data"].as_object().into_iter().flatten() {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?;
        let path = dir.join(k);
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            continue; // as a Secret volume: a file changes only when the Secret does
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut f, &bytes)?;
    }
    Ok(())
}

/// Starts istiod for lab cluster `cluster` with cluster ID `cluster_id`; returns once `/ready`.
pub fn spawn(
    bin_dir: &Path,
    kubeconfig: &Path,
    cluster_dir: &Path,
    context: &str,
    cluster: usize,
    cluster_id: &str,
    env: &[(String, String)],
) -> Result<(Proc, Istiod)> {
    let bin = find_bin(bin_dir, "pilot-discovery")?;
    let dir = cluster_dir.join(format!("istiod-{cluster_id}"));
    fs::create_dir_all(&dir)?;
    fetch_cacerts(
        &find_bin(bin_dir, "kubectl")?,
        kubeconfig,
        context,
        &dir.join("cacerts"),
    )?;
    let p = allocate_ports(6)?;
    let addr = |i: usize| format!("127.0.0.1:{}", p[i]);
    let args: Vec<String> = vec![
        "discovery".into(),
        format!(
            "--kubeconfig={}",
            cluster_dir.join("admin.kubeconfig").display()
        ),
        format!("--clusterID={cluster_id}"),
        format!("--httpAddr={}", addr(0)),
        format!("--grpcAddr={}", addr(1)),
        format!("--secureGRPCAddr={}", addr(2)),
        format!("--httpsAddr={}", addr(3)),
        format!("--monitoringAddr={}", addr(4)),
        format!("--ctrlz_port={}", p[5]),
        "--ctrlz_address=127.0.0.1".into(),
        "--domain=cluster.local".into(),
    ];
    let mut environment: Vec<(String, String)> = vec![
        ("POD_NAMESPACE".into(), "istio-system".into()),
        ("POD_NAME".into(), format!("istiod-{cluster_id}-lab")),
        ("CLUSTER_ID".into(), cluster_id.into()),
        (
            "ROOT_CA_DIR".into(),
            dir.join("cacerts").display().to_string(),
        ),
        ("INJECTION_WEBHOOK_CONFIG_NAME".into(), String::new()),
        ("VALIDATION_WEBHOOK_CONFIG_NAME".into(), String::new()),
        ("PILOT_REMOTE_CLUSTER_TIMEOUT".into(), "10s".into()),
        (
            "KUBECONFIG".into(),
            cluster_dir.join("admin.kubeconfig").display().to_string(),
        ),
    ];
    environment.extend(env.iter().cloned());
    let log = dir.join("istiod.log");
    let mut proc = Proc::spawn("pilot-discovery", &bin, &args, &environment, &log, &dir)?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if http_get(p[0], "/ready").is_some_and(|(c, _)| c == 200) {
            break;
        }
        if let Some(status) = proc.exited() {
            bail!(
                "istiod for {context} exited ({status}); its log ({}) ends with:\n{}",
                log.display(),
                proc.log_tail(20)
            );
        }
        if Instant::now() > deadline {
            proc.stop(Duration::from_secs(5));
            bail!(
                "istiod for {context} not ready after 90s; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let info = Istiod {
        cluster,
        cluster_id: cluster_id.into(),
        pid: proc.pid,
        http: addr(0),
        monitoring: addr(4),
        secure_grpc: addr(2),
        log,
        dir,
    };
    Ok((proc, info))
}

impl Lab {
    /// Runs istiod for cluster `cluster` (0-based) as cluster ID `cluster_id`, stopped with the lab.
    pub fn start_istiod(&mut self, cluster: usize, cluster_id: &str) -> Result<Istiod> {
        let c = self.clusters()[cluster].clone();
        let (proc, info) = spawn(
            self.bin_dir(),
            &self.kubeconfig(),
            &c.dir,
            &c.name,
            cluster,
            cluster_id,
            &[],
        )?;
        self.adopt_process(cluster, proc)?;
        Ok(info)
    }
}
