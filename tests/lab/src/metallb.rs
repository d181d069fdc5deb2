//! Load balancers for lab clusters: MetalLB's controller as a local process per cluster, so
//! that a `type: LoadBalancer` Service (the east-west gateway) gets
//! `status.loadBalancer.ingress` as on a cloud.
//!
//! Only the controller runs: it assigns addresses from an `IPAddressPool`. Its speaker, which
//! would announce them (ARP, BGP), has nothing to do here: the lab's pod network routes the
//! few connections it makes real (see [`crate::podnet`]), and every pool lies in a range that
//! is never routed (see [`pool_range`]). The CRDs come from the same MetalLB module version as
//! the binary (`tests/lab-go/build.sh metallb` puts them in the cache's `share/`).

use crate::{Lab, allocate_ports, find_bin, pki};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The namespace MetalLB reads its configuration from.
pub const NAMESPACE: &str = "metallb-system";
/// The controller's program name (in `bin/`, the state file and `mesh-lab status`).
pub const PROGRAM: &str = "metallb-controller";
/// The lab's address pool in each cluster.
pub const POOL: &str = "lab-pool";
/// MetalLB's CRDs, in the cache's `share/` directory beside `bin/`.
pub const CRD_FILE: &str = "metallb-crds.yaml";

/// Clusters that can have a pool of their own (`198.18.1.0` … `198.18.255.0`).
pub const MAX_CLUSTERS: usize = 255;

/// The address range of lab cluster `index` (0-based): `198.18.(1+index).1-…254`.
///
/// Why 198.18.0.0/15: it is reserved for benchmarks (RFC 2544) and never routed, so an
/// address handed out here reaches no other machine; unlike loopback it is a valid endpoint
/// address (Kubernetes refuses 127.0.0.0/8 in EndpointSlices, and a remote cluster's istiod
/// Service points at its primary's gateway address). The lab's pod network routes the istiod
/// ports a gateway exposes (see [`crate::podnet`]). One /24 per cluster keeps clusters from
/// overlapping; `.0` and `.255` are left out: some clients refuse them.
pub fn pool_range(index: usize) -> Result<String> {
    if index >= MAX_CLUSTERS {
        bail!(
            "lab-{}: no load-balancer pool for more than {MAX_CLUSTERS} clusters; \
             hint: start fewer clusters, or turn load balancers off (--no-load-balancers)",
            index + 1
        );
    }
    let third = 1 + index;
    Ok(format!("198.18.{third}.1-198.18.{third}.254"))
}

/// How many addresses [`pool_range`] holds.
pub const POOL_SIZE: u64 = 254;

/// The namespace and the `IPAddressPool` of lab cluster `index`, as YAML for kubectl.
pub fn pool_manifest(index: usize) -> Result<String> {
    let namespace = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE},
    });
    let pool = serde_json::json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": POOL, "namespace": NAMESPACE},
        "spec": {"addresses": [pool_range(index)?], "autoAssign": true},
    });
    Ok(format!(
        "{}---\n{}",
        yaml_serde::to_string(&namespace)?,
        yaml_serde::to_string(&pool)?
    ))
}

/// The controller's command line for a cluster's kubeconfig and a free metrics port.
///
/// Webhooks off (nothing would call them: no Service points at this process) and with them
/// certificate rotation; no memberlist secret (no speakers); leader election is always off in
/// this controller. The metrics listener cannot be turned off and binds every interface, so
/// it gets a port of its own per cluster.
pub fn controller_args(kubeconfig: &Path, metrics_port: u16) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--namespace={NAMESPACE}"),
        "--webhook-mode=disabled".into(),
        "--disable-cert-rotation".into(),
        format!("--port={metrics_port}"),
        "--log-level=info".into(),
    ]
}

/// Whether `kubectl get ipaddresspool -o json` shows that the controller has counted the
/// pool: the status it writes once it holds the pool in its allocator.
pub fn pool_counted(pool: &serde_json::Value) -> bool {
    pool["status"]["availableIPv4"].as_u64().unwrap_or(0)
        + pool["status"]["assignedIPv4"].as_u64().unwrap_or(0)
        == POOL_SIZE
}

/// Where the lab finds MetalLB's CRDs, or an error saying how to get them.
pub fn crd_file(bin_dir: &Path) -> Result<PathBuf> {
    let path = bin_dir.join("../share").join(CRD_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "MetalLB CRDs not found at {}; hint: run tests/lab-go/build.sh metallb \
             (or start the lab without load balancers: --no-load-balancers)",
            path.display()
        )
    }
}

impl Lab {
    /// Installs MetalLB's CRDs, starts a controller and creates a pool in every cluster, and
    /// waits until each controller has counted its pool.
    pub(crate) fn start_load_balancers(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        find_bin(&self.bin_dir, PROGRAM)?;
        let crds = crd_file(&self.bin_dir)?.display().to_string();
        for c in self.clusters.clone() {
            self.kubectl_ok(
                &c.name,
                "installing MetalLB's CRDs",
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=mesh-lab",
                    "-f",
                    &crds,
                ],
            )?;
        }
        let mut spawned = Vec::new();
        for i in 0..self.clusters.len() {
            let c = self.clusters[i].clone();
            self.kubectl_ok(
                &c.name,
                "waiting for MetalLB's CRDs",
                &[
                    "wait",
                    "--for=condition=Established",
                    "crd",
                    "ipaddresspools.metallb.io",
                    "--timeout=60s",
                ],
            )?;
            pki::write(&c.dir, "metallb-pool.yaml", &pool_manifest(i)?, false)?;
            let manifest = c.dir.join("metallb-pool.yaml").display().to_string();
            self.kubectl_ok(
                &c.name,
                "creating the load-balancer pool",
                &["apply", "-f", &manifest],
            )?;
            let port = allocate_ports(1)?[0];
            // Its own identity (as its ServiceAccount would be), so the audit log tells the
            // addresses it writes into Service status from a client's writes.
            let kubeconfig = pki::component_kubeconfig(
                &c.dir,
                &c.server,
                PROGRAM,
                "system:serviceaccount:metallb-system:controller",
            )?;
            let args = controller_args(&kubeconfig, port);
            self.spawn(i, PROGRAM, &args, &[])?;
            spawned.push(Instant::now());
        }
        for (i, at) in spawned.into_iter().enumerate() {
            self.wait_pool_counted(i, timeout)?;
            eprintln!(
                "mesh-lab: {} load balancer ready {:.1}s after start",
                self.clusters[i].name,
                at.elapsed().as_secs_f64()
            );
        }
        eprintln!(
            "mesh-lab: load balancers ready ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Runs kubectl against `context`; fails with its stderr and `what` when it does.
    pub(crate) fn kubectl_ok(&self, context: &str, what: &str, args: &[&str]) -> Result<()> {
        let out = self.kubectl_quiet(context, args)?;
        if !out.status.success() {
            bail!(
                "{context}: {what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn wait_pool_counted(&mut self, i: usize, timeout: Duration) -> Result<()> {
        let ctx = self.clusters[i].name.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.kubectl_quiet(
                &ctx,
                &["get", "ipaddresspool", POOL, "-n", NAMESPACE, "-o", "json"],
            )?;
            let pool: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if out.status.success() && pool_counted(&pool) {
                return Ok(());
            }
            if let Some(p) = self.exited_proc(i) {
                bail!("{ctx}: {p}");
            }
            if Instant::now() > deadline {
                bail!(
                    "{ctx}: timed out after {timeout:?} waiting for {PROGRAM} to count pool \
                     {NAMESPACE}/{POOL}; log in {}",
                    self.clusters[i]
                        .dir
                        .join(format!("{PROGRAM}.log"))
                        .display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Resident memory of each cluster's load-balancer controller, in KiB (`None` where none
    /// runs).
    pub fn load_balancer_rss_kib(&self) -> Vec<Option<u64>> {
        (0..self.clusters.len())
            .map(|i| {
                self.procs
                    .iter()
                    .find(|(c, p)| *c == i && p.name == PROGRAM)
                    .and_then(|(_, p)| p.rss_kib())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_unrouted_one_per_cluster_and_never_overlap() {
        assert_eq!(pool_range(0).unwrap(), "198.18.1.1-198.18.1.254");
        assert_eq!(pool_range(1).unwrap(), "198.18.2.1-198.18.2.254");
        let last = pool_range(MAX_CLUSTERS - 1).unwrap();
        assert_eq!(last, "198.18.255.1-198.18.255.254");
        let ranges: std::collections::BTreeSet<_> =
            (0..MAX_CLUSTERS).map(|i| pool_range(i).unwrap()).collect();
        assert_eq!(ranges.len(), MAX_CLUSTERS);
        let err = pool_range(MAX_CLUSTERS).unwrap_err().to_string();
        assert!(err.contains("lab-256") && err.contains("hint"), "{err}");
    }

    #[test]
    fn the_manifest_creates_the_namespace_and_the_pool() {
        let text = pool_manifest(2).unwrap();
        let docs: Vec<serde_json::Value> = text
            .split("---\n")
            .map(|d| yaml_serde::from_str(d).unwrap())
            .collect();
        assert_eq!(docs[0]["kind"], "Namespace");
        assert_eq!(docs[0]["metadata"]["name"], NAMESPACE);
        assert_eq!(docs[1]["kind"], "IPAddressPool");
        assert_eq!(docs[1]["metadata"]["namespace"], NAMESPACE);
        assert_eq!(docs[1]["spec"]["addresses"][0], "198.18.3.1-198.18.3.254");
    }

    #[test]
    fn a_pool_counts_once_its_addresses_add_up() {
        let pool =
            |a: u64, b: u64| serde_json::json!({"status": {"availableIPv4": a, "assignedIPv4": b}});
        assert!(pool_counted(&pool(254, 0)));
        assert!(pool_counted(&pool(252, 2)));
        assert!(!pool_counted(&pool(0, 0)));
        assert!(!pool_counted(&serde_json::json!({"spec": {}})));
    }

    #[test]
    fn the_controller_runs_without_webhooks_on_its_own_metrics_port() {
        let args = controller_args(Path::new("/lab/lab-1/admin.kubeconfig"), 40123);
        for want in [
            "--kubeconfig=/lab/lab-1/admin.kubeconfig",
            "--namespace=metallb-system",
            "--webhook-mode=disabled",
            "--disable-cert-rotation",
            "--port=40123",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} in {args:?}");
        }
    }
}
