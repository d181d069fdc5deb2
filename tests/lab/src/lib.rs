//! The kubectl-mesh lab: real Kubernetes control planes (etcd, kube-apiserver,
//! kube-controller-manager) as local processes, several clusters side by side on loopback
//! ports, with the Istio and Sail operator CRDs installed and load balancers (MetalLB's
//! controller) giving `type: LoadBalancer` Services loopback addresses.
//!
//! ```no_run
//! let lab = mesh_lab::Lab::up(2)?;                  // stopped when `lab` is dropped
//! let status = lab.kubectl("lab-1").args(["get", "ns"]).status()?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! The binaries come from `tests/lab-go/build.sh` (`MESH_LAB_BIN`, or the default cache).

pub mod api;
pub mod audit;
pub mod istiod;
pub mod metallb;
pub mod netproxy;
pub mod operator;
pub mod pki;
pub mod podnet;
pub mod pods;
pub mod podspec;
pub mod process;
pub mod promtool;
pub mod sample;
pub mod stall;
pub mod state;
pub mod testing;
pub mod workloads;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use process::{Proc, ensure_free, free_ports, wait_for};
use state::{ClusterState, LabState, ProcState};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Audit policy: metadata of every request, so benchmarks can count API requests.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [\"RequestReceived\"]\nrules:\n- level: Request\n  verbs: [\"delete\", \"deletecollection\"]\n- level: Metadata\n";

/// The fixed ports of a cluster, in order (`--base-port` hands out 10 per cluster).
const PORTS_PER_CLUSTER: [&str; 3] = ["kube-apiserver", "etcd", "etcd peer"];

/// Ports handed out in this process, so labs started side by side never collide.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Number of clusters (`lab-1` … `lab-N`).
    pub clusters: usize,
    /// Directory for state, certificates, data and logs.
    pub dir: PathBuf,
    /// Where the Go-built binaries are; default: [`default_bin_dir`].
    pub bin_dir: Option<PathBuf>,
    /// Fixed ports from here (10 per cluster) instead of free ones.
    pub base_port: Option<u16>,
    /// Install the Istio and Sail CRDs.
    pub crds: bool,
    /// Run the Sail operator in every cluster (needs `crds`).
    pub operator: bool,
    /// Give `type: LoadBalancer` Services addresses (MetalLB's controller, see [`metallb`]).
    pub load_balancers: bool,
    /// Pods that get scheduled and become Ready ([`workloads`]); `false`: a bare control plane.
    pub workloads: bool,
    /// How long to wait for each stage.
    pub timeout: Duration,
}

impl LabOptions {
    /// Defaults for `clusters` clusters in `dir`.
    pub fn new(clusters: usize, dir: impl Into<PathBuf>) -> LabOptions {
        LabOptions {
            clusters,
            dir: dir.into(),
            bin_dir: None,
            base_port: None,
            crds: true,
            operator: true,
            load_balancers: true,
            workloads: true,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One lab cluster.
#[derive(Debug, Clone)]
pub struct LabCluster {
    /// Its name and kube context, `lab-N`.
    pub name: String,
    /// API server URL.
    pub server: String,
    /// API server port.
    pub api_port: u16,
    /// etcd client port.
    pub etcd_port: u16,
    /// Its directory (certificates, data, logs).
    pub dir: PathBuf,
    /// The cluster CA (PEM).
    pub ca_pem: String,
}

impl LabCluster {
    /// The API server's audit log (JSON lines).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }
}

/// A running lab. Dropping it stops every process (unless [`Lab::detach`] was called).
#[derive(Debug)]
pub struct Lab {
    dir: PathBuf,
    bin_dir: PathBuf,
    clusters: Vec<LabCluster>,
    procs: Vec<(usize, Proc)>,
    temp: Option<tempfile::TempDir>,
    detached: bool,
}

/// `$MESH_LAB_BIN`, else `${MESH_LAB_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubectl-mesh-lab}/bin`.
pub fn default_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESH_LAB_BIN") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("MESH_LAB_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kubectl-mesh-lab"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubectl-mesh-lab"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/kubectl-mesh-lab"));
    cache.join("bin")
}

/// Path of a lab program, or an error saying how to build it.
pub fn find_bin(bin_dir: &Path, name: &str) -> Result<PathBuf> {
    let path = bin_dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "lab binary {name} not found in {}; hint: build the lab with tests/lab-go/build.sh \
             (or point MESH_LAB_BIN at a directory holding it)",
            bin_dir.display()
        )
    }
}

fn reserve_ports(count: usize) -> Result<Vec<u16>> {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..20 {
        let ports = free_ports(count)?;
        if ports.iter().all(|p| !handed.contains(p)) && ports.iter().all(|p| claim(*p)) {
            handed.extend(ports.iter().copied());
            return Ok(ports);
        }
    }
    bail!("could not find {count} free loopback ports")
}

/// Appends the number of clusters a lab starts, and the program that started it (a test
/// binary's name without its hash), to the file `MESH_LAB_COUNT_FILE` names: the test command
/// sets it and prints the sum and the starts per test binary.
fn count_starts(clusters: usize) {
    if let Some(file) = std::env::var_os("MESH_LAB_COUNT_FILE") {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let program = match program.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => program,
        };
        let line = format!("{clusters} {program}\n");
        let _ = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
}

/// How long a port handed out stays claimed against other processes: the time between
/// choosing it and its server binding it (then the kernel no longer offers it).
const CLAIM_FOR: Duration = Duration::from_secs(600);

/// Claims `port` against labs of other test processes running side by side (a file per port
/// in the temporary directory, created exclusively); a claim older than [`CLAIM_FOR`] is
/// free again. False when another process claimed it recently.
fn claim(port: u16) -> bool {
    let dir = std::env::temp_dir().join("mesh-lab-ports");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(port.to_string());
    let fresh = |f: &Path| {
        std::fs::metadata(f)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < CLAIM_FOR))
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(_) => true,
        Err(_) if fresh(&file) => false,
        // A stale claim: take it over (a fresh write restarts its time).
        Err(_) => std::fs::write(&file, std::process::id().to_string()).is_ok(),
    }
}

/// Ports for one lab-side program (istiod …): free ones, never handed out twice.
pub fn allocate_ports(count: usize) -> Result<Vec<u16>> {
    reserve_ports(count)
}

impl Lab {
    /// Starts `clusters` clusters in a temporary directory (kept when `MESH_LAB_KEEP` is set,
    /// for reading the logs after a failed test), with everything: CRDs, the Sail operator,
    /// scheduler and fake nodes, istiod's pods as processes, load balancers.
    /// [`Lab::up_with`] chooses.
    pub fn up(clusters: usize) -> Result<Lab> {
        Lab::up_with(clusters, |_| {})
    }

    /// [`Lab::up`] with the options `adjust` leaves ([`LabOptions::new`]'s defaults: CRDs and
    /// load balancers).
    pub fn up_with(clusters: usize, adjust: impl FnOnce(&mut LabOptions)) -> Result<Lab> {
        let temp = tempfile::Builder::new().prefix("mesh-lab-").tempdir()?;
        let mut options = LabOptions::new(clusters, temp.path());
        adjust(&mut options);
        let mut lab = Lab::start(options)?;
        if std::env::var_os("MESH_LAB_KEEP").is_some() {
            eprintln!("mesh-lab: keeping {}", temp.path().display());
            let _ = temp.keep();
        } else {
            lab.temp = Some(temp);
        }
        Ok(lab)
    }

    /// [`Lab::up`] with the CRDs but the control plane only: no operator, scheduler, nodes or
    /// load balancer. For tests that write the statuses a kubelet or an operator would (and say
    /// so), which a running controller would overwrite.
    pub fn up_bare(clusters: usize) -> Result<Lab> {
        let temp = tempfile::Builder::new().prefix("mesh-lab-").tempdir()?;
        let mut options = LabOptions::new(clusters, temp.path());
        options.operator = false;
        options.load_balancers = false;
        options.workloads = false;
        let mut lab = Lab::start(options)?;
        lab.temp = Some(temp);
        Ok(lab)
    }

    /// [`Lab::up`] with the control plane only: no Istio and Sail CRDs, no operator, no load
    /// balancers (for tests that need only core APIs).
    pub fn up_without_crds(clusters: usize) -> Result<Lab> {
        let temp = tempfile::Builder::new().prefix("mesh-lab-").tempdir()?;
        let mut options = LabOptions::new(clusters, temp.path());
        options.crds = false;
        options.load_balancers = false;
        options.workloads = false;
        let mut lab = Lab::start(options)?;
        lab.temp = Some(temp);
        Ok(lab)
    }

    /// Starts a lab as `options` say and waits until every cluster is ready. On failure,
    /// everything already started is stopped again.
    pub fn start(options: LabOptions) -> Result<Lab> {
        if options.clusters == 0 {
            bail!("a lab needs at least one cluster (--clusters N, N ≥ 1)");
        }
        let bin_dir = options.bin_dir.clone().unwrap_or_else(default_bin_dir);
        for name in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kubectl",
        ] {
            find_bin(&bin_dir, name)?;
        }
        workloads::find_programs(&bin_dir, &options)?;
        count_starts(options.clusters);
        fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating the lab directory {}", options.dir.display()))?;
        let dir = options.dir.canonicalize()?;
        if let Ok(existing) = LabState::load(&dir)
            && existing.any_alive()
        {
            bail!(
                "a lab is already running in {}; hint: `mesh-lab down --dir {}` first",
                dir.display(),
                dir.display()
            );
        }
        let ports = match options.base_port {
            Some(base) => {
                let mut ports = Vec::new();
                for i in 0..options.clusters {
                    for (k, what) in PORTS_PER_CLUSTER.iter().enumerate() {
                        let port = base
                            .checked_add((i * 10 + k) as u16)
                            .context("--base-port too high")?;
                        ensure_free(port, &format!("lab-{} {what}", i + 1))?;
                        ports.push(port);
                    }
                }
                ports
            }
            None => reserve_ports(options.clusters * PORTS_PER_CLUSTER.len())?,
        };
        let mut lab = Lab {
            dir: dir.clone(),
            bin_dir,
            clusters: Vec::new(),
            procs: Vec::new(),
            temp: None,
            detached: false,
        };
        match lab.boot(&options, &ports) {
            Ok(()) => Ok(lab),
            Err(e) => {
                lab.stop();
                let _ = fs::remove_file(dir.join(state::STATE_FILE));
                Err(e)
            }
        }
    }

    fn boot(&mut self, options: &LabOptions, ports: &[u16]) -> Result<()> {
        let started = Instant::now();
        for i in 0..options.clusters {
            let name = format!("lab-{}", i + 1);
            let cdir = self.dir.join(&name);
            fs::create_dir_all(cdir.join("etcd"))?;
            let pki = pki::write_cluster_pki(&cdir, &name)?;
            let n = PORTS_PER_CLUSTER.len();
            let api_port = ports[i * n];
            self.clusters.push(LabCluster {
                server: format!("https://127.0.0.1:{api_port}"),
                name,
                api_port,
                etcd_port: ports[i * n + 1],
                dir: cdir.clone(),
                ca_pem: pki.ca_pem.clone(),
            });
            pki::write(&cdir, "audit-policy.yaml", AUDIT_POLICY, false)?;
            pki::write(
                &cdir,
                "egress-selector.yaml",
                &pods::egress_selector(&cdir.join(pods::SOCKET)),
                false,
            )?;
            let own = kubeconfig_yaml(&self.clusters[i..=i], std::slice::from_ref(&pki))?;
            pki::write(&cdir, "admin.kubeconfig", &own, true)?;
        }
        let pkis = self
            .clusters
            .iter()
            .map(|c| read_pki(&c.dir, &c.ca_pem))
            .collect::<Result<Vec<_>>>()?;
        pki::write(
            &self.dir,
            "kubeconfig",
            &kubeconfig_yaml(&self.clusters, &pkis)?,
            true,
        )?;

        // etcd
        for i in 0..self.clusters.len() {
            let c = self.clusters[i].clone();
            let peer = ports[i * PORTS_PER_CLUSTER.len() + 2];
            let args = vec![
                format!("--name={}", c.name),
                format!("--data-dir={}", c.dir.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{}", c.etcd_port),
                format!("--advertise-client-urls=http://127.0.0.1:{}", c.etcd_port),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster={}=http://127.0.0.1:{peer}", c.name),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ];
            self.spawn(i, "etcd", &args, &[])?;
        }
        for i in 0..self.clusters.len() {
            let port = self.clusters[i].etcd_port;
            let mut procs = self.procs_of(i);
            wait_for(
                &format!("etcd of lab-{}", i + 1),
                options.timeout,
                &mut procs,
                || etcd_healthy(port),
            )?;
        }
        eprintln!(
            "mesh-lab: etcd ready ({:.1}s)",
            started.elapsed().as_secs_f64()
        );

        // kube-apiserver
        for i in 0..self.clusters.len() {
            let c = self.clusters[i].clone();
            let d = |f: &str| c.dir.join(f).display().to_string();
            let args = vec![
                format!("--etcd-servers=http://127.0.0.1:{}", c.etcd_port),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={}", c.api_port),
                format!("--cert-dir={}", d("apiserver-certs")),
                format!("--tls-cert-file={}", d("apiserver.crt")),
                format!("--tls-private-key-file={}", d("apiserver.key")),
                format!("--client-ca-file={}", d("ca.crt")),
                "--authorization-mode=RBAC".into(),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                format!("--service-account-issuer=https://127.0.0.1:{}", c.api_port),
                format!("--service-account-key-file={}", d("sa.pub")),
                format!("--service-account-signing-key-file={}", d("sa.key")),
                "--allow-privileged=true".into(),
                // Webhooks and aggregated APIs go to endpoint addresses, through the pod
                // network's proxy (the egress selector below): see the lab README.
                "--enable-aggregator-routing=true".into(),
                // Port-forwards go to the node's kubelet (kwok, `kubelet.crt`), the same way.
                format!("--kubelet-certificate-authority={}", d("ca.crt")),
                "--kubelet-preferred-address-types=InternalIP".into(),
                format!(
                    "--egress-selector-config-file={}",
                    d("egress-selector.yaml")
                ),
                "--profiling=false".into(),
                format!("--audit-policy-file={}", d("audit-policy.yaml")),
                format!("--audit-log-path={}", d("audit.log")),
                "--audit-log-format=json".into(),
                "--audit-log-maxsize=100".into(),
                "--v=1".into(),
            ];
            self.spawn(i, "kube-apiserver", &args, &[])?;
        }
        for i in 0..self.clusters.len() {
            self.wait_kubectl(
                i,
                "the kube-apiserver to be ready",
                options.timeout,
                &["get", "--raw", "/readyz"],
            )?;
        }
        eprintln!(
            "mesh-lab: kube-apiserver ready ({:.1}s)",
            started.elapsed().as_secs_f64()
        );

        // kube-controller-manager
        for i in 0..self.clusters.len() {
            let c = self.clusters[i].clone();
            let d = |f: &str| c.dir.join(f).display().to_string();
            let args = vec![
                format!("--kubeconfig={}", d("admin.kubeconfig")),
                format!(
                    "--controllers={}",
                    workloads::controllers(options.workloads)
                ),
                format!("--service-account-private-key-file={}", d("sa.key")),
                format!("--root-ca-file={}", d("ca.crt")),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--use-service-account-credentials=false".into(),
                "--v=1".into(),
            ];
            self.spawn(i, "kube-controller-manager", &args, &[])?;
        }
        for i in 0..self.clusters.len() {
            self.wait_kubectl(
                i,
                "the controller manager to create the default ServiceAccount",
                options.timeout,
                &["get", "serviceaccount", "default", "-n", "default"],
            )?;
        }
        eprintln!(
            "mesh-lab: kube-controller-manager ready ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        if options.workloads {
            self.start_workloads(options)?;
        }

        if options.crds {
            self.install_crds()?;
            eprintln!(
                "mesh-lab: CRDs established ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
        if options.load_balancers {
            self.start_load_balancers(options.timeout)?;
        }
        self.save()?;
        // istiod's pods run as processes whoever installed them: the operator, istioctl, Helm.
        for i in 0..self.clusters.len() {
            if options.workloads {
                self.start_pod_runner(i)?;
            }
            if options.crds && options.operator {
                self.start_operator(i)?;
            }
        }
        Ok(())
    }

    /// Polls a kubectl command against cluster `i` until it succeeds; fails at once, with the
    /// log, when one of the cluster's processes exits.
    fn wait_kubectl(
        &mut self,
        i: usize,
        what: &str,
        timeout: Duration,
        args: &[&str],
    ) -> Result<()> {
        let ctx = self.clusters[i].name.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self
                .kubectl_quiet(&ctx, args)
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if let Some(p) = self.exited_proc(i) {
                bail!("{ctx}: {p}");
            }
            if Instant::now() > deadline {
                bail!(
                    "{ctx}: timed out after {timeout:?} waiting for {what}; logs in {}",
                    self.clusters[i].dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn spawn(
        &mut self,
        cluster: usize,
        name: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<()> {
        let bin = find_bin(&self.bin_dir, name)?;
        let dir = self.clusters[cluster].dir.clone();
        let proc = Proc::spawn(
            name,
            &bin,
            args,
            env,
            &dir.join(format!("{name}.log")),
            &dir,
        )?;
        self.procs.push((cluster, proc));
        Ok(())
    }

    /// Starts another program for cluster `cluster` (istiod …), stopped with the lab and
    /// recorded in its state file.
    pub fn spawn_extra(
        &mut self,
        cluster: usize,
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<u32> {
        let dir = self.clusters[cluster].dir.clone();
        let proc = Proc::spawn(name, bin, args, env, &dir.join(format!("{name}.log")), &dir)?;
        let pid = proc.pid;
        self.procs.push((cluster, proc));
        self.save()?;
        Ok(pid)
    }

    /// Takes over a started process: recorded in the state file, stopped with the lab.
    pub fn adopt_process(&mut self, cluster: usize, proc: Proc) -> Result<()> {
        self.procs.push((cluster, proc));
        self.save()
    }

    /// The newest process named `name` of a cluster (one started again after a stop).
    pub(crate) fn procs_named(&mut self, cluster: usize, name: &str) -> Vec<&mut Proc> {
        self.procs
            .iter_mut()
            .rev()
            .filter(|(c, p)| *c == cluster && p.name == name)
            .map(|(_, p)| p)
            .take(1)
            .collect()
    }

    fn procs_of(&mut self, cluster: usize) -> Vec<&mut Proc> {
        self.procs
            .iter_mut()
            .filter(|(c, _)| *c == cluster)
            .map(|(_, p)| p)
            .collect()
    }

    fn exited_proc(&mut self, cluster: usize) -> Option<String> {
        for p in self.procs_of(cluster) {
            if let Some(status) = p.exited() {
                return Some(format!(
                    "{} of lab-{} exited ({status}); its log ({}) ends with:\n{}",
                    p.name,
                    cluster + 1,
                    p.log.display(),
                    p.log_tail(15)
                ));
            }
        }
        None
    }

    fn save(&self) -> Result<()> {
        let clusters = self
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| ClusterState {
                name: c.name.clone(),
                server: c.server.clone(),
                api_port: c.api_port,
                etcd_port: c.etcd_port,
                dir: c.dir.clone(),
                processes: self
                    .procs
                    .iter()
                    .filter(|(ci, _)| *ci == i)
                    .map(|(_, p)| ProcState {
                        name: p.name.clone(),
                        pid: p.pid,
                        log: p.log.clone(),
                    })
                    .collect(),
            })
            .collect();
        LabState {
            kubeconfig: self.kubeconfig(),
            clusters,
        }
        .save(&self.dir)
    }

    /// The kubeconfig with contexts `lab-1` … `lab-N`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the lab's binaries are.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A lab program's path (`kubectl`, `istioctl`, …).
    pub fn bin(&self, name: &str) -> Result<PathBuf> {
        find_bin(&self.bin_dir, name)
    }

    /// The clusters.
    pub fn clusters(&self) -> &[LabCluster] {
        &self.clusters
    }

    /// The context names, `lab-1` … `lab-N`.
    pub fn contexts(&self) -> Vec<String> {
        self.clusters.iter().map(|c| c.name.clone()).collect()
    }

    /// The lab's kubectl for `context`, with `--kubeconfig` and `--context` set.
    pub fn kubectl(&self, context: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .arg(format!("--context={context}"));
        cmd
    }

    fn kubectl_quiet(&self, context: &str, args: &[&str]) -> Result<std::process::Output> {
        Ok(self.kubectl(context).args(args).output()?)
    }

    /// Stops one cluster's processes (fault injection: an API server going away).
    pub fn stop_cluster(&mut self, cluster: usize) {
        for (c, p) in self.procs.iter_mut().rev() {
            if *c == cluster {
                p.stop(Duration::from_secs(5));
            }
        }
    }

    /// Stops a named program of one cluster (e.g. `kube-apiserver`).
    pub fn stop_process(&mut self, cluster: usize, name: &str) {
        for (c, p) in self.procs.iter_mut() {
            if *c == cluster && p.name == name {
                p.stop(Duration::from_secs(5));
            }
        }
    }

    /// Freezes or thaws a named program of one cluster (fault injection: an API server that
    /// stops answering, then answers again with all its state).
    pub fn freeze_process(&self, cluster: usize, name: &str, frozen: bool) {
        for (c, p) in &self.procs {
            if *c == cluster && p.name == name {
                p.freeze(frozen);
            }
        }
    }

    /// Resident memory of each cluster's processes, in KiB.
    pub fn memory_kib(&self) -> Vec<u64> {
        (0..self.clusters.len())
            .map(|i| {
                self.procs
                    .iter()
                    .filter(|(c, _)| *c == i)
                    .filter_map(|(_, p)| p.rss_kib())
                    .sum()
            })
            .collect()
    }

    /// Leaves the processes running after this handle is dropped (`mesh-lab up`).
    pub fn detach(mut self) -> Result<PathBuf> {
        self.save()?;
        for (_, p) in self.procs.iter_mut() {
            p.detach();
        }
        self.detached = true;
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
        Ok(self.dir.clone())
    }

    /// Stops every process, newest first.
    pub fn stop(&mut self) {
        for (_, p) in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(5));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.detached {
            self.stop();
        }
    }
}

fn read_pki(dir: &Path, ca_pem: &str) -> Result<pki::ClusterPki> {
    Ok(pki::ClusterPki {
        ca_pem: ca_pem.to_string(),
        admin_cert_pem: fs::read_to_string(dir.join("admin.crt"))?,
        admin_key_pem: fs::read_to_string(dir.join("admin.key"))?,
    })
}

fn kubeconfig_yaml(clusters: &[LabCluster], pkis: &[pki::ClusterPki]) -> Result<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": clusters.first().map(|c| c.name.clone()),
        "clusters": clusters.iter().zip(pkis).map(|(c, p)| serde_json::json!({
            "name": c.name,
            "cluster": {"server": c.server, "certificate-authority-data": b64(&p.ca_pem)},
        })).collect::<Vec<_>>(),
        "users": clusters.iter().zip(pkis).map(|(c, p)| serde_json::json!({
            "name": format!("{}-admin", c.name),
            "user": {
                "client-certificate-data": b64(&p.admin_cert_pem),
                "client-key-data": b64(&p.admin_key_pem),
            },
        })).collect::<Vec<_>>(),
        "contexts": clusters.iter().map(|c| serde_json::json!({
            "name": c.name,
            "context": {"cluster": c.name, "user": format!("{}-admin", c.name)},
        })).collect::<Vec<_>>(),
    });
    Ok(yaml_serde::to_string(&config)?)
}

fn etcd_healthy(port: u16) -> bool {
    http_get(port, "/health").is_some_and(|(code, _)| code == 200)
}

/// A plain HTTP GET on loopback: `(status, body)`.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Path of a kubectl-mesh plugin binary for end-to-end tests of another package: next to
/// the running test's executable (`target/<profile>/`), built with cargo when it is missing.
pub fn plugin_bin(package: &str) -> Result<PathBuf> {
    let file = package.replacen("kubectl-mesh-", "kubectl-mesh_", 1);
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target directory")?;
    let path = profile_dir.join(&file);
    if !path.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package])
            .status()
            .with_context(|| format!("building {package}"))?;
        if !status.success() || !path.is_file() {
            bail!("could not build {package} (expected {})", path.display());
        }
    }
    Ok(path)
}

#[cfg(test)]
mod port_tests {
    #[test]
    fn a_port_handed_out_is_claimed_against_other_processes() {
        let port = super::reserve_ports(1).unwrap_or_default()[0];
        // The claim file exists and is fresh: a second claim (another process) is refused.
        let file = std::env::temp_dir()
            .join("mesh-lab-ports")
            .join(port.to_string());
        assert!(file.is_file(), "{}", file.display());
        assert!(!super::claim(port));
    }
}
