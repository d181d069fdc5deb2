//! Flags of `kubectl mesh-certs`, resolved once into `mesh-core` options.

use clap::{Args, Parser, Subcommand};
use mesh_core::ca::{CaSettings, CertDir, CreateOptions, ImportRoot, KeyType};
use mesh_core::cli::{CertsDirArgs, OutputArgs};
use mesh_core::clock::SystemClock;
use mesh_core::names::ClusterName;
use mesh_core::render::Printer;
use mesh_core::{Error, ExitStatus, app};
use std::path::PathBuf;

/// Create, inspect and distribute the certificate authority of an Istio multi-cluster mesh:
/// one shared root CA and one intermediate CA per cluster.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mesh_certs",
    bin_name = "kubectl mesh-certs",
    version = mesh_core::version::VERSION,
    after_help = "Exit codes: 0 ok, 1 problems found, 2 could not run.\nDocs: kubectl mesh-certs <command> --help"
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

    /// Key algorithm and size for new keys
    #[arg(long, value_enum, default_value_t = KeyType::Rsa4096)]
    key_type: KeyType,

    /// Validity of a new root CA, in days
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    root_days: u32,

    /// Validity of new intermediate CAs, in days (never beyond the root's end)
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    intermediate_days: u32,

    /// Organization (O=) of the subjects
    #[arg(long = "org", default_value = "Istio", value_name = "ORG")]
    organization: String,

    /// Extra subject alternative name for the intermediates (DNS name or IP); repeatable
    #[arg(long = "san", value_name = "NAME")]
    sans: Vec<String>,

    /// Use this existing root certificate (PEM) instead of generating one
    #[arg(long, value_name = "FILE", requires = "root_key")]
    root_cert: Option<PathBuf>,

    /// The private key of --root-cert (PKCS#1, PKCS#8 or SEC1 PEM)
    #[arg(long, value_name = "FILE", requires = "root_cert")]
    root_key: Option<PathBuf>,

    /// Replace existing material (the old files are copied to DIR/backup/<time>/ first)
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
        }
    }
}

impl CreateArgs {
    fn options(&self) -> Result<CreateOptions, Error> {
        Ok(CreateOptions {
            dir: CertDir::new(&self.dir.dir),
            clusters: ClusterName::parse_list(&self.clusters)?,
            settings: CaSettings {
                key_type: self.key_type,
                root_days: self.root_days,
                intermediate_days: self.intermediate_days,
                organization: self.organization.clone(),
                extra_sans: self.sans.clone(),
            },
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
