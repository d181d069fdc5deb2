//! Flags of `kubectl mesh-verify`, resolved once into `mesh-core` options.

use clap::Parser;
use mesh_core::app::verify::{self, VerifyFormat, VerifyOptions};
use mesh_core::app::watch::{self, WatchOptions};
use mesh_core::app::{self, trust::Access};
use mesh_core::ca::CertDir;
use mesh_core::checks::discovery::ServiceRef;
use mesh_core::checks::traffic::TrafficOptions;
use mesh_core::checks::{LocalRoot, Selection};
use mesh_core::cli::{CertsDirArgs, KubeArgs};
use mesh_core::cli::{duration_arg, positive_duration_arg};
use mesh_core::clock::{Clock, SystemClock};
use mesh_core::mesh::MeshSpec;
use mesh_core::render::Printer;
use mesh_core::{Error, ExitStatus};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Check that an Istio multi-cluster mesh works, across every cluster: trust, control
/// planes, gateways, remote access and istiod's view — with a hint for every problem.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mesh_verify",
    args_conflicts_with_subcommands = true,
    bin_name = "kubectl mesh-verify",
    version = mesh_core::version::VERSION,
    after_help = "Examples:\n  kubectl mesh-verify -f mesh.yaml\n  kubectl mesh-verify --context east,west -o json\n  kubectl mesh-verify --pre -f mesh.yaml\n\nEvery check is described in docs/checks.md.\nExit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 could not run.\nShell completion: kubectl mesh-verify completion bash|zsh|fish|kubectl (the kubectl plugin helper)"
)]
pub struct Cli {
    /// The mesh file (every cluster, its context, network and role)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    mesh: Option<PathBuf>,

    /// Run the pre-join checks instead (reachability, versions, CRDs, permissions, nodes)
    #[arg(long)]
    pre: bool,

    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t = VerifyFormat::Table)]
    output: VerifyFormat,

    /// Retry failing checks until they pass or this much time has passed (e.g. 2m)
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    wait: Option<Duration>,

    /// Report certificates that end within this many days
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    warn_days: i64,

    /// How long an Istio resource may stay without a status (the operator reconciling it)
    /// before that is a failure
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = duration_arg)]
    reconcile_grace: std::time::Duration,

    /// Accept loopback API server addresses in remote secrets (every cluster on this host)
    #[arg(long)]
    allow_loopback: bool,

    /// istiod's monitoring address for a cluster whose istiod runs outside it (a local
    /// istiod in the lab) or to skip the port-forward, as CLUSTER=HOST:PORT (CLUSTER: its name
    /// or its context); repeatable
    #[arg(long = "istiod-address", value_name = "CLUSTER=HOST:PORT")]
    istiod_addresses: Vec<String>,

    /// A Service (NAMESPACE/NAME) whose endpoints every primary's istiod must hold from each
    /// cluster that runs it, with that cluster's network (discovery.endpoints)
    #[arg(long, value_name = "NAMESPACE/NAME", value_parser = ServiceRef::parse)]
    service: Option<ServiceRef>,

    /// Also send traffic: helloworld v1, v2, … and curl in a temporary namespace of every
    /// cluster, N requests from each, a matrix of which versions answered from where
    #[arg(long)]
    traffic: bool,

    /// Requests from each cluster (--traffic)
    #[arg(long, default_value_t = 10, value_name = "N")]
    traffic_requests: usize,

    /// How long to wait for the traffic pods (--traffic)
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = positive_duration_arg)]
    traffic_timeout: Duration,

    /// Keep the traffic namespace afterwards (--traffic)
    #[arg(long)]
    keep: bool,

    /// helloworld image (for registries behind a firewall); each cluster's version (v1, v2, …)
    /// is set as SERVICE_VERSION, and `{version}` in the name is replaced by it
    #[arg(long, value_name = "IMAGE", default_value = mesh_core::checks::traffic::HELLOWORLD_IMAGE)]
    helloworld_image: String,

    /// curl image (for registries behind a firewall)
    #[arg(
        long,
        value_name = "IMAGE",
        default_value = "docker.io/curlimages/curl:8.16.0"
    )]
    curl_image: String,

    /// Keep watching: re-evaluate when an object the checks read changes (and every
    /// --interval), print what changed (one JSON line per change with -o json); Ctrl-C stops
    #[arg(long, conflicts_with_all = ["pre", "traffic", "wait"])]
    watch: bool,

    /// With --watch: re-evaluate at least this often, changes or not (expiry, istiod's sync)
    #[arg(long, default_value = "1m", value_name = "DURATION", value_parser = positive_duration_arg, requires = "watch")]
    interval: Duration,

    /// With --watch: serve Prometheus metrics on /metrics (and /healthz, /readyz) at HOST:PORT
    #[arg(long, value_name = "HOST:PORT", requires = "watch")]
    metrics_address: Option<std::net::SocketAddr>,

    /// With --watch: record a Kubernetes Event on the object a check concerns when the check
    /// changes state (Warning when it fails or warns, Normal when it recovers)
    #[arg(long, requires = "watch")]
    events: bool,

    #[command(flatten)]
    certs: CertsDirArgs,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands (without one, the checks run).
#[derive(Debug, clap::Subcommand)]
enum Command {
    InstallWatch(crate::install_watch::InstallWatch),
}

impl Cli {
    /// Runs the checks.
    pub fn run(&self, printer: &Printer) -> Result<ExitStatus, Error> {
        if let Some(Command::InstallWatch(i)) = &self.command {
            return i.run(&self.kube, printer);
        }
        let (members, from_mesh, certs, istio) = match &self.mesh {
            Some(path) => {
                if !self.kube.contexts.is_empty() {
                    return Err(Error::input(
                        format!("both -f {} and --context were given", path.display()),
                        "use the mesh file alone, or --context alone",
                    ));
                }
                let mesh = MeshSpec::load(path)?;
                let istio = Some((mesh.istio.clone(), mesh.mesh_id.clone()));
                (
                    verify::members_from_mesh(&mesh),
                    true,
                    mesh.certs.clone(),
                    istio,
                )
            }
            // Inside a pod with no kubeconfig: its own cluster (the installed watch).
            None if self.kube.contexts.is_empty()
                && mesh_core::kubeconfig::runs_in_cluster(self.kube.kubeconfig.as_deref()) =>
            {
                let own = [mesh_core::kubeconfig::IN_CLUSTER_CONTEXT.to_string()];
                (verify::members_from_contexts(&own), false, None, None)
            }
            None if self.kube.contexts.is_empty() => {
                return Err(Error::input(
                    "no clusters given",
                    "name them with --context CTX[,CTX…] or describe the mesh with -f mesh.yaml",
                ));
            }
            None => (
                verify::members_from_contexts(&self.kube.contexts),
                false,
                None,
                None,
            ),
        };
        let local_root = match certs {
            // A folder the mesh file names must hold the root: a missing one is a failure.
            Some(folder) => match CertDir::new(folder.clone()).root_fingerprint()? {
                Some(root) => LocalRoot::Root(root),
                None => LocalRoot::Missing {
                    folder: folder.display().to_string(),
                },
            },
            None => match CertDir::new(self.certs.dir.clone()).root_fingerprint()? {
                Some(root) => LocalRoot::Root(root),
                None => LocalRoot::NotGiven,
            },
        };
        let grace = self.reconcile_grace;
        let mut istiod_addresses = BTreeMap::new();
        for a in &self.istiod_addresses {
            let (c, addr) = a.split_once('=').ok_or_else(|| {
                Error::input(
                    format!("'{a}' is not CLUSTER=HOST:PORT"),
                    "for example --istiod-address east=127.0.0.1:15014",
                )
            })?;
            istiod_addresses.insert(c.to_string(), addr.to_string());
        }
        let opts = VerifyOptions {
            members,
            from_mesh,
            selection: Selection {
                pre: self.pre,
                allow_loopback: self.allow_loopback,
                warn_days: self.warn_days,
                local_root,
                istio_grace: grace,
                istio: istio.as_ref().map(|(i, _)| i.clone()),
                mesh_id: istio.map(|(_, id)| id),
                // Each run of the verify loop judges as of its own start.
                ..Selection::new(SystemClock.now())
            },
            format: self.output,
            wait: self.wait,
            istiod_addresses,
            service: self.followed_service(),
            traffic: if self.traffic {
                Some(TrafficOptions {
                    requests: self.traffic_requests,
                    timeout: self.traffic_timeout,
                    keep: self.keep,
                    helloworld_image: self.helloworld_image.clone(),
                    curl_image: self.curl_image.clone(),
                    ..TrafficOptions::default()
                })
            } else {
                None
            },
        };
        let access = Access::from_args(&self.kube)?;
        if self.watch {
            let w = WatchOptions {
                interval: self.interval,
                metrics_address: self.metrics_address,
                events: self.events,
                redraw: std::io::IsTerminal::is_terminal(&std::io::stdout()),
            };
            return app::block_on(watch::watch(&opts, &w, &access, printer));
        }
        app::block_on(verify::verify(&opts, &access, printer))
    }

    /// `--service`, else the helloworld `--traffic --keep` leaves in place (without `--keep`
    /// the traffic check removes it before the other checks run).
    fn followed_service(&self) -> Option<ServiceRef> {
        self.service.clone().or_else(|| {
            (self.traffic && self.keep).then(|| ServiceRef {
                namespace: TrafficOptions::default().namespace,
                name: "helloworld".into(),
            })
        })
    }
}
