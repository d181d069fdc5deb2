//! The CRDs and the Sail operator of a lab cluster.
//!
//! The CRDs are the real ones: Istio's from the istio family's module, Sail's from the
//! operator's release source (`tests/lab-go/build.sh` copies both into the cache's `share/`).
//! The operator is the real Sail operator, built from its release source with the OpenShift
//! TLS-profile integration left out (`tests/lab-go/sail/`), run per cluster as a local process
//! with the chart's image table as its config file, as its Deployment would be run.

use crate::process::wait_for;
use crate::{Lab, allocate_ports, find_bin, http_get};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The operator's program name (in `status` and for [`Lab::stop_process`]).
pub const OPERATOR: &str = "sail-operator";

/// The file in a cluster directory naming the pod network's proxy port.
const PROXY_PORT_FILE: &str = "pod-network.port";

/// The namespace the operator runs in (`POD_NAMESPACE`), as its chart installs it.
pub const OPERATOR_NAMESPACE: &str = "sail-operator";

/// A data file the lab build left beside the binaries (`share/NAME`), or an error with a hint.
pub fn share_file(bin_dir: &Path, name: &str, family: &str) -> Result<PathBuf> {
    let path = bin_dir.join("../share").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "{name} not found at {}; hint: run tests/lab-go/build.sh {family}",
            path.display()
        )
    }
}

impl Lab {
    /// Installs Istio's and the Sail operator's CRDs into every cluster and waits until they
    /// are Established.
    pub(crate) fn install_crds(&mut self) -> Result<()> {
        let istio = share_file(self.bin_dir(), "istio-crd-all.gen.yaml", "istio")?;
        let sail = share_file(self.bin_dir(), "sail-crds.yaml", "sail")?;
        for c in self.clusters().to_vec() {
            let (istio, sail) = (istio.display().to_string(), sail.display().to_string());
            run_ok(
                self.kubectl(&c.name).args([
                    "apply",
                    "--server-side",
                    "--field-manager=mesh-lab",
                    "-f",
                    &istio,
                    "-f",
                    &sail,
                ]),
                &format!("installing CRDs into {}", c.name),
            )?;
        }
        for c in self.clusters().to_vec() {
            run_ok(
                self.kubectl(&c.name).args([
                    "wait",
                    "--for=condition=Established",
                    "crd",
                    "--all",
                    "--timeout=60s",
                ]),
                &format!("waiting for the CRDs of {}", c.name),
            )?;
        }
        Ok(())
    }

    /// Starts the Sail operator for cluster `cluster` (0-based) and waits until it reports
    /// ready. Called again after [`Lab::stop_process`]`(cluster, OPERATOR)`, it starts it anew.
    pub fn start_operator(&mut self, cluster: usize) -> Result<()> {
        let bin = find_bin(self.bin_dir(), OPERATOR)?;
        let config = share_file(self.bin_dir(), "sail-config.properties", "sail")?;
        let c = self.clusters()[cluster].clone();
        let manifest =
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OPERATOR_NAMESPACE}\n");
        let what = format!("creating the operator namespace in {}", c.name);
        apply_stdin(self.kubectl(&c.name), &manifest, "mesh-lab", &what)?;
        let health = allocate_ports(1)?[0];
        let user = format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR}");
        let kubeconfig = crate::pki::component_kubeconfig(&c.dir, &c.server, OPERATOR, &user)?;
        let args = vec![
            format!("-kubeconfig={}", kubeconfig.display()),
            format!("-config-file={}", config.display()),
            "-leader-elect=false".into(),
            "-metrics-bind-address=0".into(),
            format!("-health-probe-bind-address=127.0.0.1:{health}"),
            "-zap-log-level=info".into(),
        ];
        let mut env = vec![("POD_NAMESPACE".to_string(), OPERATOR_NAMESPACE.to_string())];
        // Its probe of a remote's istiod goes through the pod network, which resolves
        // Service names as the cluster's DNS would (the operator runs outside any pod).
        if let Ok(port) = std::fs::read_to_string(c.dir.join(PROXY_PORT_FILE)) {
            env.push((
                "HTTPS_PROXY".into(),
                format!("http://127.0.0.1:{}", port.trim()),
            ));
        }
        self.spawn_extra(cluster, OPERATOR, &bin, &args, &env)?;
        let started = Instant::now();
        let what = format!("the Sail operator of {}", c.name);
        let mut procs = self.procs_named(cluster, OPERATOR);
        wait_for(&what, Duration::from_secs(60), &mut procs, || {
            http_get(health, "/readyz").is_some_and(|(code, _)| code == 200)
        })?;
        eprintln!(
            "mesh-lab: {what} ready ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl Lab {
    /// Starts the pod runner of cluster `cluster` ([`crate::pods`]): the pod-network proxy
    /// the API server's webhooks go through, and istiod's pods as local processes.
    pub fn start_pod_runner(&mut self, cluster: usize) -> Result<()> {
        let c = self.clusters()[cluster].clone();
        let exe = lab_exe()?;
        let port = allocate_ports(1)?[0];
        std::fs::write(c.dir.join(PROXY_PORT_FILE), port.to_string())?;
        let args = vec![
            "pods".to_string(),
            format!("--cluster-dir={}", c.dir.display()),
            format!("--bin-dir={}", self.bin_dir().display()),
            format!("--server={}", c.server),
            format!("--http-proxy-port={port}"),
        ];
        self.spawn_extra(cluster, "mesh-lab-pods", &exe, &args, &[])?;
        let mut procs = self.procs_named(cluster, "mesh-lab-pods");
        wait_for(
            "the pod runner",
            Duration::from_secs(30),
            &mut procs,
            || std::os::unix::net::UnixStream::connect(c.dir.join(crate::pods::SOCKET)).is_ok(),
        )
    }

    /// Holds cluster `cluster`'s Secret volumes as they are (`true`), or lets the pod runner
    /// refresh them again (`false`): a kubelet whose next sync has not come yet
    /// ([`crate::pods::HOLD_VOLUMES_FILE`]). Returns once the runner has seen it.
    pub fn hold_secret_volumes(&self, cluster: usize, hold: bool) -> Result<()> {
        let dir = &self.clusters()[cluster].dir;
        let request = dir.join(crate::pods::HOLD_VOLUMES_FILE);
        let answer = dir.join(crate::pods::VOLUMES_HELD_FILE);
        if hold {
            std::fs::write(&request, "")?;
        } else if request.exists() {
            std::fs::remove_file(&request)?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while answer.exists() != hold {
            if Instant::now() > deadline {
                bail!(
                    "the pod runner of {} did not answer {}",
                    dir.display(),
                    request.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

/// The `mesh-lab` program: this one, or the workspace's (built when missing) from a test.
fn lab_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.file_name().is_some_and(|n| n == "mesh-lab") {
        return Ok(exe);
    }
    crate::plugin_bin("mesh-lab")
}

/// `kubectl apply --server-side` of `manifest` (on stdin) as `field_manager` with `cmd` (a
/// kubectl aimed at one cluster); fails naming `what` and kubectl's error.
pub(crate) fn apply_stdin(
    mut cmd: std::process::Command,
    manifest: &str,
    field_manager: &str,
    what: &str,
) -> Result<()> {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd
        .args(["apply", "--server-side"])
        .arg(format!("--field-manager={field_manager}"))
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(manifest.as_bytes()))
        .transpose()?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn run_ok(cmd: &mut std::process::Command, what: &str) -> Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
