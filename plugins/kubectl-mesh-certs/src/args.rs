//! Flags of `kubectl mesh-certs`, resolved once into `mesh-core` options.

use clap::{Args, Parser, Subcommand};
use mesh_core::app::rotation::{self, Stage};
use mesh_core::app::{members, trust};
use mesh_core::ca::{CertDir, CreateOptions, ImportRoot, KeyType, SettingsFlags};
use mesh_core::cli::{CertsDirArgs, DryRunArgs, KubeArgs, OutputArgs, duration_arg};
use mesh_core::clock::{Clock, SystemClock};
use mesh_core::names::ClusterName;
use mesh_core::render::Printer;
use mesh_core::{Error, ExitStatus, app};
use std::path::PathBuf;
use std::time::Duration;

/// Create, inspect and distribute the certificate authority of an Istio multi-cluster mesh:
/// one shared root CA and one intermediate CA per cluster.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mesh_certs",
    bin_name = "kubectl mesh-certs",
    version = mesh_core::version::VERSION,
    after_help = "Exit codes: 0 ok, 1 problems found, 2 could not run.\nDocs: kubectl mesh-certs <command> --help\nShell completion: kubectl mesh-certs completion bash|zsh|fish|kubectl (the kubectl plugin helper)"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the root CA and an intermediate CA for each cluster, on local disk
    Create(CreateArgs),
    /// Show every certificate in the directory, its expiry, and whether its chain is valid
    Inspect(InspectArgs),
    /// Put each cluster's intermediate CA into its istio-system/cacerts Secret (never the root key)
    Apply(ApplyArgs),
    /// Live inventory of the mesh's trust across clusters: intermediates, roots, chains, expiry
    Status(StatusArgs),
    /// Issue a new intermediate for one cluster under the same root, and apply it
    Rotate(RotateArgs),
    /// Replace the mesh's root CA in stages, without downtime: prepare, trust-both, reissue, finish
    RotateRoot(RotateRootArgs),
}

#[derive(Debug, Args)]
struct RotateRootArgs {
    /// The stage to reach: prepare (a new root beside the old one, on disk only), trust-both
    /// (every cacerts trusts both roots), reissue (new intermediates under the new root),
    /// finish (the old root dropped); run them in this order, each once every cluster holds
    /// the previous one
    #[arg(value_enum, value_name = "STAGE")]
    stage: Stage,

    #[command(flatten)]
    targets: Targets,

    #[command(flatten)]
    dir: CertsDirArgs,

    /// After writing, wait this long for every istiod to distribute the bundle (the
    /// istio-ca-root-cert ConfigMaps); 0 looks once
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration_arg)]
    wait: Duration,

    /// Lifetime of workload certificates: finish refuses until this long after reissue (give
    /// less only once every workload has restarted since)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration_arg)]
    workload_cert_ttl: Duration,

    /// Print the cacerts Secrets' contents (the intermediate keys) with -o yaml|json
    #[arg(long)]
    include_secrets: bool,

    #[command(flatten)]
    dry_run: DryRunArgs,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    output: OutputArgs,
}

/// Clusters by flags or by mesh file.
#[derive(Debug, Args)]
struct Targets {
    /// The mesh file (every cluster, its context and network)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    mesh: Option<PathBuf>,

    /// Cluster names paired with --context by position (default: the context's name)
    #[arg(long = "cluster", value_delimiter = ',', value_name = "NAME")]
    clusters: Vec<String>,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    #[command(flatten)]
    targets: Targets,

    /// Network of each cluster (labels istio-system topology.istio.io/network), paired with --context
    #[arg(long = "network", value_delimiter = ',', value_name = "NET")]
    networks: Vec<String>,

    #[command(flatten)]
    dir: CertsDirArgs,

    /// Replace a cacerts that holds another intermediate under the same root
    #[arg(long)]
    force: bool,

    /// Take over fields of the cacerts Secret another field manager owns (e.g. kubectl create), as kubectl's --force-conflicts
    #[arg(long)]
    force_conflicts: bool,

    #[command(flatten)]
    dry_run: DryRunArgs,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    output: OutputArgs,

    /// With -o yaml/json: print the cacerts Secret's data (the intermediate CA key) instead of leaving it out
    #[arg(long)]
    include_secrets: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    targets: Targets,

    #[command(flatten)]
    dir: CertsDirArgs,

    /// Report certificates that end within this many days (exit code 1)
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    warn_days: i64,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct RotateArgs {
    /// The cluster whose intermediate CA is renewed
    #[arg(long, value_name = "NAME")]
    cluster: String,

    #[command(flatten)]
    dir: CertsDirArgs,

    #[command(flatten)]
    settings: IntermediateSettings,

    /// Issue with settings that differ from those recorded with the root
    #[arg(long)]
    force: bool,

    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    output: OutputArgs,
}

/// Settings of intermediates; unset ones come from the settings recorded with the root
/// (DIR/ca-settings.yaml, or read back from the certificates).
#[derive(Debug, Args)]
struct IntermediateSettings {
    /// Key algorithm and size for new keys [default: recorded, else rsa-4096]
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,

    /// Validity of new intermediate CAs, in days, never beyond the root's end [default:
    /// recorded, else 3650]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    intermediate_days: Option<u32>,

    /// Organization (O=) of the subjects [default: recorded, else Istio]
    #[arg(long = "org", value_name = "ORG")]
    organization: Option<String>,

    /// Extra subject alternative name for the intermediates (DNS name or IP); repeatable
    /// [default: recorded]
    #[arg(long = "san", value_name = "NAME")]
    sans: Vec<String>,
}

impl IntermediateSettings {
    fn flags(&self, root_days: Option<u32>) -> SettingsFlags {
        SettingsFlags {
            key_type: self.key_type,
            root_days,
            intermediate_days: self.intermediate_days,
            organization: self.organization.clone(),
            extra_sans: self.sans.clone(),
        }
    }
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Cluster names (DNS-1123 labels), comma-separated or repeated
    #[arg(
        long,
        short = 'c',
        value_delimiter = ',',
        required = true,
        value_name = "NAME,..."
    )]
    clusters: Vec<String>,

    #[command(flatten)]
    dir: CertsDirArgs,

    /// Validity of a new root CA, in days [default: recorded, else 3650]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
    root_days: Option<u32>,

    #[command(flatten)]
    settings: IntermediateSettings,

    /// Use this existing root certificate (PEM) instead of generating one
    #[arg(long, value_name = "FILE", requires = "root_key")]
    root_cert: Option<PathBuf>,

    /// The private key of --root-cert (PKCS#1, PKCS#8 or SEC1 PEM)
    #[arg(long, value_name = "FILE", requires = "root_cert")]
    root_key: Option<PathBuf>,

    /// Replace existing material, or settings that differ from those recorded with the root
    /// (the old files are copied to DIR/backup/<time>/ first)
    #[arg(long)]
    force: bool,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct InspectArgs {
    #[command(flatten)]
    dir: CertsDirArgs,

    /// Report certificates that end within this many days (exit code 1)
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    warn_days: i64,

    #[command(flatten)]
    output: OutputArgs,
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(&self, printer: &Printer) -> Result<ExitStatus, Error> {
        match &self.command {
            Command::Create(a) => {
                app::certs::create(&a.options()?, &SystemClock, printer, a.output.output)
            }
            Command::Inspect(a) => app::certs::inspect(
                &CertDir::new(&a.dir.dir),
                a.warn_days,
                &SystemClock,
                printer,
                a.output.output,
            ),
            Command::Apply(a) => {
                let m = members::resolve(
                    a.targets.mesh.as_deref(),
                    &a.kube.contexts,
                    &a.targets.clusters,
                    &a.networks,
                )?;
                let opts = trust::ApplyOptions {
                    dir: CertDir::new(m.certs_dir.unwrap_or_else(|| a.dir.dir.clone())),
                    members: m.members,
                    force: a.force,
                    force_conflicts: a.force_conflicts,
                    dry_run: a.dry_run.dry_run,
                    format: a.output.output,
                    include_secrets: a.include_secrets,
                };
                let access = trust::Access::from_args(&a.kube)?;
                app::block_on(trust::apply(&opts, &access, SystemClock.now(), printer))
            }
            Command::Status(a) => {
                let m = members::resolve(
                    a.targets.mesh.as_deref(),
                    &a.kube.contexts,
                    &a.targets.clusters,
                    &[],
                )?;
                let opts = trust::StatusOptions {
                    dir: Some(CertDir::new(
                        m.certs_dir.unwrap_or_else(|| a.dir.dir.clone()),
                    )),
                    members: m.members,
                    warn_days: a.warn_days,
                    format: a.output.output,
                };
                let access = trust::Access::from_args(&a.kube)?;
                app::block_on(trust::status(&opts, &access, SystemClock.now(), printer))
            }
            Command::Rotate(a) => {
                if a.kube.contexts.len() > 1 {
                    return Err(Error::input(
                        "rotate renews one cluster's intermediate and applies it to one context",
                        "give a single --context, or none to only write the new files",
                    ));
                }
                let opts = trust::RotateOptions {
                    dir: CertDir::new(&a.dir.dir),
                    cluster: ClusterName::parse(&a.cluster)?,
                    context: a.kube.contexts.first().cloned(),
                    settings: a.settings.flags(None),
                    force: a.force,
                    format: a.output.output,
                };
                let access = trust::Access::from_args(&a.kube)?;
                app::block_on(trust::rotate(&opts, &access, SystemClock.now(), printer))
            }
            Command::RotateRoot(a) => a.run(printer),
        }
    }
}

impl CreateArgs {
    fn options(&self) -> Result<CreateOptions, Error> {
        Ok(CreateOptions {
            dir: CertDir::new(&self.dir.dir),
            clusters: ClusterName::parse_list(&self.clusters)?,
            settings: self.settings.flags(self.root_days),
            import_root: match (&self.root_cert, &self.root_key) {
                (Some(cert), Some(key)) => Some(ImportRoot {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            force: self.force,
        })
    }
}

impl RotateRootArgs {
    fn run(&self, printer: &Printer) -> Result<ExitStatus, Error> {
        // prepare touches no cluster: it needs only the directory.
        let no_targets = self.targets.mesh.is_none() && self.kube.contexts.is_empty();
        let (members, certs_dir) = if self.stage == Stage::Prepare && no_targets {
            (Vec::new(), None)
        } else {
            let m = members::resolve(
                self.targets.mesh.as_deref(),
                &self.kube.contexts,
                &self.targets.clusters,
                &[],
            )?;
            (m.members, m.certs_dir)
        };
        let opts = rotation::RotateRootOptions {
            dir: CertDir::new(certs_dir.unwrap_or_else(|| self.dir.dir.clone())),
            members,
            stage: self.stage,
            dry_run: self.dry_run.dry_run,
            wait: self.wait,
            workload_cert_ttl: self.workload_cert_ttl,
            include_secrets: self.include_secrets,
            format: self.output.output,
        };
        let access = trust::Access::from_args(&self.kube)?;
        app::block_on(rotation::rotate_root(
            &opts,
            &access,
            SystemClock.now(),
            printer,
        ))
    }
}
