//! The install step of `--installer istioctl|helm` inside a join: whether a cluster needs it,
//! and running it.

use super::JoinOptions;
use super::fleet::Fleet;
use super::install::{self, argv::Target};
use super::phases::install_record;
use crate::error::Error;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::istio;
use crate::mesh::{ClusterSpec, Role};
use crate::render::Printer;
use serde_json::Value;

/// The tool's rendered input for `c` (the `IstioOperator`, or Helm's values).
pub fn rendered(opts: &JoinOptions, c: &ClusterSpec, pilot: Option<&str>) -> Option<Value> {
    let tool = opts.tool.as_ref()?;
    Some(match tool.installer {
        super::Installer::Helm => istio::values(&opts.mesh, c, pilot),
        _ => istio::istio_operator(&opts.mesh, c, pilot),
    })
}

/// Whether the install must run: what the namespace records differs from this run's input
/// (or there is no record), or a primary has no istiod Deployment (removed since).
pub fn decide(recorded: Option<&str>, wanted: &str, primary: bool, has_istiod: bool) -> bool {
    recorded != Some(wanted) || (primary && !has_istiod)
}

/// [`decide`] for a cluster, read from it.
pub async fn needed(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet,
    pilot: Option<&str>,
) -> Result<bool, Error> {
    let (Some(tool), Some(input)) = (&opts.tool, rendered(opts, c, pilot)) else {
        return Ok(false);
    };
    let k = fleet.kube(&c.name)?;
    let recorded = install_record(k).await?;
    let istiod = k
        .get("apps/v1", "Deployment", Some(ISTIO_NAMESPACE), "istiod")
        .await?;
    Ok(decide(
        recorded.as_deref(),
        &install::record(tool, &input),
        c.role == Role::Primary,
        istiod.is_some(),
    ))
}

/// Runs the installer for `c`, then forgets discovery (it installed CRDs).
pub async fn run(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet,
    input: Option<&Value>,
    printer: &Printer,
) -> Result<(), Error> {
    let (Some(tool), Some(input)) = (&opts.tool, input) else {
        return Ok(());
    };
    let target = Target {
        kubeconfig: opts.install.kubeconfig.clone(),
        context: c.context.clone(),
    };
    install::install(tool, &target, &c.name, input, opts.wait_timeout, printer).await?;
    fleet.kube(&c.name)?.forget_discovery().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn an_install_runs_on_a_new_or_changed_record_or_a_missing_istiod() {
        assert!(decide(None, "istioctl 1.31 sha256:aa", true, false));
        assert!(decide(
            Some("istioctl 1.31 sha256:bb"),
            "istioctl 1.31 sha256:aa",
            true,
            true
        ));
        assert!(decide(
            Some("helm 1.31 sha256:aa"),
            "istioctl 1.31 sha256:aa",
            false,
            false
        ));
        assert!(!decide(
            Some("istioctl 1.31 sha256:aa"),
            "istioctl 1.31 sha256:aa",
            true,
            true
        ));
        // A primary whose istiod was removed since is installed again; a remote has none.
        assert!(decide(
            Some("istioctl 1.31 sha256:aa"),
            "istioctl 1.31 sha256:aa",
            true,
            false
        ));
        assert!(!decide(
            Some("helm 1.31 sha256:aa"),
            "helm 1.31 sha256:aa",
            false,
            false
        ));
    }
}
