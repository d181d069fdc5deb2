//! The install step of `--installer istioctl|helm` inside a join: whether a cluster needs it,
//! and running it.

use super::install::{self, argv::Target};
use super::{Installer, JoinOptions};
use crate::app::fleet::Fleet;
use crate::error::Error;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::istio;
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::render::Printer;
use serde_json::Value;

/// The installer's rendered input for `c`: the `IstioOperator`, or Helm's values (`None`
/// for the Sail operator, whose `Istio` resource is an object of the plan).
pub fn input(
    installer: Installer,
    mesh: &MeshSpec,
    c: &ClusterSpec,
    pilot: Option<&str>,
) -> Option<Value> {
    match installer {
        Installer::Istioctl => Some(istio::istio_operator(mesh, c, pilot)),
        Installer::Helm => Some(istio::values(mesh, c, pilot)),
        Installer::Sail => None,
    }
}

/// Who installed an istiod Deployment, as its labels and owners say (pure).
pub fn installed_by(d: &Value) -> String {
    let m = &d["metadata"];
    if let Some(r) = m["annotations"]["meta.helm.sh/release-name"].as_str() {
        return format!("Helm release {r}");
    }
    if let Some(o) = m["labels"]["install.operator.istio.io/owning-resource"].as_str() {
        return format!("istioctl (IstioOperator {o})");
    }
    let owners = m["ownerReferences"].as_array().into_iter().flatten();
    if let Some(o) = owners.filter_map(|o| o["kind"].as_str()).next() {
        return format!("the Sail operator or another controller (owner {o})");
    }
    "another tool".into()
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
    match input(opts.installer, &opts.mesh, c, pilot) {
        Some(i) if opts.tool.is_some() => needed_for(opts, c, fleet, &i).await,
        _ => Ok(false),
    }
}

/// Says, before anything is written, which clusters the installer will run in (`installs`:
/// each cluster's rendered input, as planned).
pub async fn announce(
    opts: &JoinOptions,
    installs: &[(String, Value)],
    fleet: &Fleet,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(tool) = &opts.tool else {
        return Ok(());
    };
    for (name, input) in installs {
        let Some(c) = opts.mesh.cluster(name) else {
            continue;
        };
        let what = match needed_for(opts, c, fleet, input).await? {
            true => {
                "installs its control plane in the control-plane step (the namespace's install record changes once it succeeded)"
            }
            false => "is not run: the namespace records this very install",
        };
        printer.progress(&format!(
            "{name}: {} {} {what}",
            install::program(tool.installer),
            tool.version
        ));
    }
    Ok(())
}

async fn needed_for(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet,
    input: &Value,
) -> Result<bool, Error> {
    let Some(tool) = &opts.tool else {
        return Ok(false);
    };
    let k = fleet.kube(&c.name)?;
    let recorded = install_record(k).await?;
    let istiod = k
        .get("apps/v1", "Deployment", Some(ISTIO_NAMESPACE), "istiod")
        .await?;
    if let (None, Some(d), false) = (&recorded, &istiod, opts.force_conflicts) {
        return Err(Error::input(
            format!(
                "{}: istiod is already installed there, by {}, not by a join: installing over it would take it from its owner",
                c.name,
                installed_by(d)
            ),
            "join it with the installer that owns it (or the Sail operator), use --render-only to install yourself, or --force-conflicts to take it over",
        ));
    }
    Ok(decide(
        recorded.as_deref(),
        &install::record(tool, input),
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

/// The install record on a cluster's Istio namespace (`None`: no namespace, or no record).
pub async fn install_record(k: &impl crate::cluster::Cluster) -> Result<Option<String>, Error> {
    let ns = k.get("v1", "Namespace", None, ISTIO_NAMESPACE).await?;
    Ok(ns.and_then(|n| {
        n["metadata"]["annotations"][crate::labels::INSTALL_ANNOTATION]
            .as_str()
            .map(String::from)
    }))
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn the_owner_of_an_istiod_is_named() {
        use super::installed_by;
        use serde_json::json;
        let helm = json!({"metadata": {"annotations": {"meta.helm.sh/release-name": "istiod"}}});
        assert_eq!(installed_by(&helm), "Helm release istiod");
        let ioc =
            json!({"metadata": {"labels": {"install.operator.istio.io/owning-resource": "x"}}});
        assert_eq!(installed_by(&ioc), "istioctl (IstioOperator x)");
        let sail = json!({"metadata": {"ownerReferences": [{"kind": "IstioRevision"}]}});
        assert!(installed_by(&sail).contains("IstioRevision"));
        assert_eq!(installed_by(&json!({"metadata": {}})), "another tool");
    }

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
