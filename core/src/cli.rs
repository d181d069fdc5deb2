//! Flag groups every plugin shares, so `-o`, `--kubeconfig`, `--context` and `--dry-run`
//! mean the same thing in `mesh-certs`, `mesh-join` and `mesh-verify`.
//!
//! kubectl passes no flags to plugins: each plugin reads these itself.

use crate::render::OutputFormat;
use std::path::PathBuf;

/// `-o table|json|yaml`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format: a table for people, or JSON/YAML for programs (stdout holds only the data)
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Where the certificate directory is.
#[derive(Debug, Clone, clap::Args)]
pub struct CertsDirArgs {
    /// Directory holding the mesh's root CA and one sub-directory per cluster
    #[arg(
        long,
        value_name = "DIR",
        default_value = "mesh-certs",
        env = "MESH_CERTS_DIR"
    )]
    pub dir: PathBuf,
}

/// `--kubeconfig`, `--context`, `--request-timeout`, as kubectl spells them.
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, a list of files, then ~/.kube/config)
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context; repeat it, or give a comma-separated list, for several clusters
    #[arg(
        long = "context",
        value_name = "CONTEXT",
        value_delimiter = ',',
        global = true
    )]
    pub contexts: Vec<String>,

    /// How long to wait for a single API request (e.g. 10s, 1m; 0 means no limit)
    #[arg(long, value_name = "DURATION", default_value = "30s", global = true)]
    pub request_timeout: String,
}

/// `--dry-run=none|client|server`, as kubectl spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Make the changes.
    #[default]
    None,
    /// Print the plan; contact no cluster for writing.
    Client,
    /// Send every change with dryRun=All: the API server validates, nothing is stored.
    Server,
}

/// `--dry-run`.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRunArgs {
    /// Print the plan (client) or have the API server validate it without storing (server)
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: DryRun,
}
