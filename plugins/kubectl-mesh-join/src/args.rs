//! Flags of `kubectl mesh-join`, resolved once into `mesh-core` options.

use crate::installer_args::InstallerArgs;
use crate::mesh_args::MeshArgs;
use clap::{Args, Parser, Subcommand};
use mesh_core::app::credentials::{RotateCredentialsOptions, rotate_credentials};
use mesh_core::app::join::{self, JoinOptions, LeaveOptions};
use mesh_core::app::{self, trust::Access};
use mesh_core::ca::CertDir;
use mesh_core::cli::{
    CertsDirArgs, DryRun, DryRunArgs, KubeArgs, OutputArgs, positive_duration_arg,
};
use mesh_core::mesh::MeshSpec;
use mesh_core::render::Printer;
use mesh_core::{Error, ExitStatus};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// Join clusters into one Istio multi-cluster mesh (multi-primary or primary-remote, one
/// network or several): control planes, gateways, exposure and remote secrets, planned first
/// and applied with server-side apply.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mesh_join",
    bin_name = "kubectl mesh-join",
    version = mesh_core::version::VERSION,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  kubectl mesh-join plan -f mesh.yaml\n  kubectl mesh-join -f mesh.yaml\n  kubectl mesh-join --context east --cluster-name east --network net1 --mesh-id mesh1\n  kubectl mesh-join leave -f mesh.yaml --cluster west --yes\n  kubectl mesh-join rotate-credentials -f mesh.yaml\n\nExit codes: 0 ok, 1 problems found (not Ready in time), 2 could not run.\nShell completion: kubectl mesh-join completion bash|zsh|fish|kubectl (the kubectl plugin helper)"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    join: JoinArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every action per cluster without changing anything
    Plan(Box<JoinArgs>),
    /// Remove a cluster from the mesh: remote secrets both ways, gateways, exposure
    Leave(LeaveArgs),
    /// Print a remote secret for a cluster (a drop-in for istioctl create-remote-secret)
    RemoteSecret(RemoteSecretArgs),
    /// Rotate the reader tokens in remote secrets; the old token is revoked only after every
    /// istiod that reads the cluster reports it synced again
    #[command(after_help = ROTATE_HELP)]
    RotateCredentials(RotateCredentialsArgs),
}

const ROTATE_HELP: &str = "Per cluster that others read: a new token Secret for istio-system/istio-reader-service-account (generation N: <sa>-istio-remote-secret-token-N), every remote secret for it rewritten (the server from the mesh file or your kubeconfig, never the one a secret names), then istiod's /debug/clusterz watched in each reading cluster until it reports the cluster synced with the new secret, and only then the old token Secret deleted (revoked). A reading cluster whose istiod is older than 1.30.4 (which does not take a rotated remote secret in place) has its istiod Deployments rolled after the swap, before the wait; --no-istiod-restart refuses instead.\n\nWhere it stands is recorded on the reader ServiceAccount (annotation kubectl-mesh.io/reader-token, names only): an interrupted run resumes, a finished one writes nothing; --again starts the next generation. mesh-join embeds the recorded token. With --token-ttl the credential is short-lived: a bound token minted with the TokenRequest API against an anchor Secret (deleting the anchor revokes it), renewed by a later run once less than half its life is left.\n\nExamples:\n  kubectl mesh-join rotate-credentials -f mesh.yaml --dry-run\n  kubectl mesh-join rotate-credentials -f mesh.yaml --cluster west\n  kubectl mesh-join rotate-credentials -f mesh.yaml --again --timeout 5m\n  kubectl mesh-join rotate-credentials -f mesh.yaml --token-ttl 24h   # then hourly from a schedule\n\nExit codes: 0 rotated (or nothing to do), 1 an istiod did not confirm in time (old token kept; run again to resume), 2 could not run (nothing written).";

#[derive(Debug, Args)]
struct RotateCredentialsArgs {
    /// The mesh file
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    mesh: PathBuf,

    /// Only the credentials for reading these clusters (default: every cluster that is read)
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    cluster: Vec<String>,

    /// Show every step per cluster; write nothing
    #[arg(long)]
    dry_run: bool,

    /// Start another rotation for clusters whose last rotation finished
    #[arg(long)]
    again: bool,

    /// How long to wait for each istiod to report the cluster synced again
    #[arg(long, default_value = "2m", value_parser = positive_duration_arg, value_name = "DURATION")]
    timeout: Duration,

    /// istiod's monitoring address for a cluster whose istiod runs outside it, as
    /// CLUSTER=HOST:PORT (a local istiod in the lab); repeatable. Default: a port-forward to
    /// a Running app=istiod pod
    #[arg(long = "istiod-address", value_name = "CLUSTER=HOST:PORT")]
    istiod_addresses: Vec<String>,

    /// Refuse (exit 2, nothing written) instead of restarting a reading cluster's istiod that
    /// is older than 1.30.4 after the swap (older istiods do not take a rotated remote secret
    /// in place)
    #[arg(long)]
    no_istiod_restart: bool,

    /// Short-lived credentials: tokens from the TokenRequest API valid this long (10m or
    /// more), bound to an anchor Secret whose deletion revokes them, renewed by a later run
    /// once less than half their life is left (run it from a schedule shorter than that).
    /// 0 goes back to a long-lived token Secret. Default: keep the mode the cluster has
    #[arg(long, value_name = "DURATION", value_parser = mesh_core::cli::token_ttl_arg)]
    token_ttl: Option<Duration>,

    #[command(flatten)]
    kube: KubeArgs,
}

impl RotateCredentialsArgs {
    fn options(&self) -> Result<RotateCredentialsOptions, Error> {
        if !self.kube.contexts.is_empty() {
            return Err(Error::input(
                format!(
                    "rotate-credentials: --context {} is not used: each cluster's context comes from the mesh file",
                    self.kube.contexts.join(",")
                ),
                "drop --context; choose the clusters with --cluster NAME (a name from the mesh file)",
            ));
        }
        let mut istiod_addresses = std::collections::BTreeMap::new();
        for a in &self.istiod_addresses {
            let (c, addr) = a.split_once('=').ok_or_else(|| {
                Error::input(
                    format!("--istiod-address '{a}' is not CLUSTER=HOST:PORT"),
                    "for example --istiod-address east=127.0.0.1:15014",
                )
            })?;
            istiod_addresses.insert(c.to_string(), addr.to_string());
        }
        Ok(RotateCredentialsOptions {
            mesh: MeshSpec::load(&self.mesh)?,
            mesh_file: self.mesh.display().to_string(),
            only: self.cluster.clone(),
            dry_run: self.dry_run,
            again: self.again,
            timeout: self.timeout,
            istiod_addresses,
            no_istiod_restart: self.no_istiod_restart,
            token_ttl: self.token_ttl.map(|d| d.as_secs()),
        })
    }
}

#[derive(Debug, Args)]
struct JoinArgs {
    #[command(flatten)]
    mesh: MeshArgs,

    /// Only these clusters of the mesh file (default: all)
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    only: Vec<String>,

    #[command(flatten)]
    certs: CertsDirArgs,

    #[command(flatten)]
    installer: InstallerArgs,

    /// Do not wait for the control planes to be Ready
    #[arg(long)]
    no_wait: bool,

    /// How long to wait for Ready (e.g. 90s, 5m, 1h30m; a bare number is seconds)
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = positive_duration_arg)]
    timeout: Duration,

    /// Accept loopback API server addresses in remote secrets (every cluster on this host)
    #[arg(long)]
    allow_loopback: bool,

    /// Create the reader ServiceAccount and its RBAC (only where no installer does: the Istio charts create them)
    #[arg(long)]
    create_reader: bool,

    /// Write every cluster's manifests into DIR/<cluster>/ instead of applying them
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,

    /// Include secret material (tokens) in -o yaml/json and --export output
    #[arg(long)]
    include_secrets: bool,

    /// Take over fields another field manager (an operator, a GitOps tool) owns, as kubectl's --force-conflicts
    #[arg(long)]
    force_conflicts: bool,

    /// Short-lived reader tokens (10m or more) from the TokenRequest API, bound to an anchor
    /// Secret, for clusters that have no reader credential yet; renew them with
    /// rotate-credentials. A cluster that already has another mode is refused (switch it
    /// with rotate-credentials --token-ttl)
    #[arg(long, value_name = "DURATION", value_parser = mesh_core::cli::token_ttl_arg)]
    token_ttl: Option<Duration>,

    #[command(flatten)]
    dry_run: DryRunArgs,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct LeaveArgs {
    /// The mesh file
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    mesh: PathBuf,

    /// The cluster that leaves (default: the one whose context is --context)
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,

    /// Also remove the control plane resources and the istio-system namespace
    #[arg(long)]
    purge: bool,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,

    /// Take over fields another field manager owns when updating the other clusters
    #[arg(long)]
    force_conflicts: bool,

    #[command(flatten)]
    dry_run: DryRunArgs,

    #[command(flatten)]
    kube: KubeArgs,
}

#[derive(Debug, Args)]
struct RemoteSecretArgs {
    /// Cluster name (the Secret's key and istiod's cluster ID for it)
    #[arg(long, value_name = "NAME")]
    name: String,

    /// API server URL written into the kubeconfig (default: the context's)
    #[arg(long, value_name = "URL")]
    server: Option<String>,

    /// Accept a loopback --server
    #[arg(long)]
    allow_loopback: bool,

    /// Create the reader ServiceAccount, its ClusterRole and binding where missing, as istioctl
    /// create-remote-secret does (existing ones are never rewritten)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    create_service_account: bool,

    /// Print the token inside the kubeconfig (without it, the kubeconfig is redacted)
    #[arg(long)]
    include_secrets: bool,

    #[command(flatten)]
    kube: KubeArgs,
}

impl JoinArgs {
    fn options(&self, plan_only: bool) -> Result<JoinOptions, Error> {
        self.installer.check()?;
        let (mesh, certs) = self.mesh.resolve(&self.kube)?;
        // In flags mode only the named cluster is joined; its peers are read, not changed.
        let only = if self.mesh.mesh.is_none() {
            vec![self.mesh.cluster_name.clone().unwrap_or_default()]
        } else {
            self.only.clone()
        };
        Ok(JoinOptions {
            mesh,
            certs_dir: Some(CertDir::new(
                certs.unwrap_or_else(|| self.certs.dir.clone()),
            )),
            only,
            dry_run: self.dry_run.dry_run,
            format: self.output.output,
            no_wait: self.no_wait,
            wait_timeout: self.timeout,
            allow_loopback: self.allow_loopback,
            installer: self.installer.installer,
            plan_only,
            create_reader: self.create_reader,
            include_secrets: self.include_secrets,
            export: self.export.clone(),
            force_conflicts: self.force_conflicts,
            token_ttl: self.token_ttl.map(|d| d.as_secs()),
            install: self.installer.options(),
            tool: None,
        })
    }
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(&self, printer: &Printer) -> Result<ExitStatus, Error> {
        match &self.command {
            None => {
                let opts = self.join.options(false)?;
                let access = Access::from_args(&self.join.kube)?;
                app::block_on(join::join(&opts, &access, printer))
            }
            Some(Command::Plan(a)) => {
                let opts = a.options(true)?;
                let access = Access::from_args(&a.kube)?;
                app::block_on(join::join(&opts, &access, printer))
            }
            Some(Command::Leave(a)) => {
                let mesh = MeshSpec::load(&a.mesh)?;
                let cluster = match (&a.cluster, a.kube.contexts.as_slice()) {
                    (Some(c), _) => c.clone(),
                    (None, [ctx]) => mesh
                        .clusters
                        .iter()
                        .find(|c| c.context == *ctx)
                        .map(|c| c.name.clone())
                        .ok_or_else(|| {
                            Error::input(
                                format!("no cluster of {} uses context '{ctx}'", a.mesh.display()),
                                "name it with --cluster",
                            )
                        })?,
                    _ => {
                        return Err(Error::input(
                            "which cluster leaves?",
                            "give --cluster NAME or one --context CTX",
                        ));
                    }
                };
                if !a.yes && a.dry_run.dry_run == DryRun::None {
                    confirm(&format!(
                        "remove cluster '{cluster}' from mesh {}{}? [y/N] ",
                        mesh.mesh_id,
                        if a.purge {
                            " and purge its control plane"
                        } else {
                            ""
                        }
                    ))?;
                }
                let opts = LeaveOptions {
                    mesh,
                    cluster,
                    purge: a.purge,
                    dry_run: a.dry_run.dry_run,
                    force_conflicts: a.force_conflicts,
                };
                let access = Access::from_args(&a.kube)?;
                app::block_on(join::leave(&opts, &access, printer))
            }
            Some(Command::RotateCredentials(a)) => {
                let opts = a.options()?;
                let access = Access::from_args(&a.kube)?;
                app::block_on(rotate_credentials(&opts, &access, printer))
            }
            Some(Command::RemoteSecret(a)) => {
                let [context] = a.kube.contexts.as_slice() else {
                    return Err(Error::input(
                        "remote-secret reads one cluster",
                        "give exactly one --context (the cluster to be read)",
                    ));
                };
                let access = Access::from_args(&a.kube)?;
                let opts = join::RemoteSecretOptions {
                    context: context.clone(),
                    name: a.name.clone(),
                    server: a.server.clone(),
                    allow_loopback: a.allow_loopback,
                    create_service_account: a.create_service_account,
                    include_secrets: a.include_secrets,
                };
                app::block_on(join::remote_secret_cmd(&opts, &access, printer))
            }
        }
    }
}

fn confirm(question: &str) -> Result<(), Error> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::input(
            "leave needs confirmation and stdin is not a terminal",
            "add --yes to confirm",
        ));
    }
    eprint!("{question}");
    let mut answer = String::new();
    stdin.read_line(&mut answer).map_err(|e| {
        Error::input(
            format!("cannot read the answer: {e}"),
            "add --yes to confirm",
        )
    })?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::input(
            "not confirmed: nothing was removed",
            "answer y, or pass --yes",
        ))
    }
}
