//! `kubectl mesh-verify install-watch`: render the manifests that run `--watch` in a cluster.

use mesh_core::app::watch::install::{self, InstallOptions};
use mesh_core::app::{self, trust::Access};
use mesh_core::cli::{KubeArgs, positive_duration_arg};
use mesh_core::render::Printer;
use mesh_core::{Error, ExitStatus};
use std::time::Duration;

/// Print the manifests that run `--watch` inside a cluster (nothing is applied)
///
/// A Namespace, a ServiceAccount with least-privilege RBAC, a Deployment serving metrics on
/// :9464, its Service, and a ServiceMonitor and PrometheusRule for the Prometheus operator.
/// Review the output, then `kubectl apply --context C -f -`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  kubectl mesh-verify install-watch --context east | kubectl apply --context east -f -\n  kubectl mesh-verify install-watch --image registry.example/kubectl-mesh:1.0 --no-events > watch.yaml\n\nWith --context the cluster is read (nothing is written) and the Prometheus operator's kinds\nare left out where it does not serve them. The image is built from the repository's Dockerfile. Inside the pod the watch checks its own\ncluster and, through the remote secrets there, its access to the other clusters."
)]
pub struct InstallWatch {
    /// Namespace of the watch's Deployment (rendered too)
    #[arg(
        short = 'n',
        long,
        default_value = "kubectl-mesh",
        value_name = "NAMESPACE"
    )]
    namespace: String,

    /// The image with kubectl-mesh_verify (built from the repository's Dockerfile)
    #[arg(long, value_name = "IMAGE", default_value_t = default_image())]
    image: String,

    /// Re-evaluate at least this often (the watch's --interval)
    #[arg(long, default_value = "1m", value_name = "DURATION", value_parser = positive_duration_arg)]
    interval: Duration,

    /// Record no Kubernetes Events (and grant no Event writes)
    #[arg(long)]
    no_events: bool,
}

fn default_image() -> String {
    format!("kubectl-mesh:{}", env!("CARGO_PKG_VERSION"))
}

impl InstallWatch {
    /// Prints the manifests; with `--context`, for that cluster (read only: the Prometheus
    /// operator's kinds are left out, and said so, where it does not serve them).
    pub fn run(&self, kube: &KubeArgs, printer: &Printer) -> Result<ExitStatus, Error> {
        if let Some(reason) = mesh_core::names::dns_label_problem(&self.namespace) {
            return Err(Error::input(
                format!(
                    "--namespace '{}' is not a namespace name: {reason}",
                    self.namespace
                ),
                "use lowercase letters, digits and '-', at most 63 characters (e.g. kubectl-mesh)",
            ));
        }
        let monitoring = match kube.contexts.as_slice() {
            [] => true,
            [context] => {
                let access = Access::from_args(kube)?;
                let mut served = false;
                app::block_on(async {
                    served = install::serves_monitoring(&access, context).await?;
                    Ok(ExitStatus::Success)
                })?;
                if !served {
                    printer.warn(&format!(
                        "context {context} does not serve monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule (the Prometheus operator): leaving them out; install the operator and render again to include them"
                    ));
                }
                served
            }
            more => {
                return Err(Error::input(
                    format!(
                        "install-watch renders for one cluster, not {}",
                        more.join(", ")
                    ),
                    "render once per cluster: kubectl mesh-verify install-watch --context C | kubectl apply --context C -f -",
                ));
            }
        };
        let o = InstallOptions {
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            interval: self.interval,
            events: !self.no_events,
            monitoring,
        };
        printer.data(&install::render(&o))?;
        Ok(ExitStatus::Success)
    }
}
