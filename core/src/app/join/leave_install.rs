//! `leave --purge` of a cluster whose control plane a join installed with istioctl or Helm:
//! the installer's own uninstall (only what the namespace's record says a join installed),
//! and the Istio CRDs that installer created and kept (both keep them by design) when no
//! resource of theirs lives outside the namespace the purge deletes.

use super::Installer;
use super::install::{self, argv::Target, program};
use super::install_step::install_record;
use crate::app::fleet::Fleet;
use crate::cluster::{Cluster, describe};
use crate::error::Error;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::istio;
use crate::mesh::{ClusterSpec, MeshSpec};
use crate::plan::{Op, Step};
use crate::render::Printer;
use serde_json::{Value, json};

/// What a purge undoes of a join's install in one cluster.
#[derive(Debug)]
pub struct Uninstall {
    /// The installer the namespace's record names.
    pub installer: Installer,
    /// The record.
    pub record: String,
    /// Deletes of the CRDs that installer made, where nothing outside the namespace uses them.
    pub crds: Vec<Step>,
    /// CRDs kept, with why.
    pub kept: Vec<String>,
}

/// Whether a CRD was created by `installer` for this cluster's install (pure): istioctl
/// labels what it installs with the `IstioOperator`'s name, Helm annotates its release.
pub fn made_by(crd: &Value, installer: Installer, operator_name: &str) -> bool {
    let m = &crd["metadata"];
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    if !group.ends_with("istio.io") {
        return false;
    }
    match installer {
        Installer::Istioctl => {
            m["labels"]["install.operator.istio.io/owning-resource"] == operator_name
        }
        Installer::Helm => {
            m["annotations"]["meta.helm.sh/release-name"] == "istio-base"
                && m["annotations"]["meta.helm.sh/release-namespace"] == ISTIO_NAMESPACE
        }
        Installer::Sail => false,
    }
}

/// Instances that would outlive the purge: those outside the Istio namespace (pure).
pub fn outliving(instances: &[Value]) -> Vec<String> {
    instances
        .iter()
        .filter(|i| i["metadata"]["namespace"] != ISTIO_NAMESPACE)
        .map(describe)
        .collect()
}

/// What `leave --purge` uninstalls in `c` (`None`: no join installed its control plane).
pub async fn plan(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    k: &impl Cluster,
) -> Result<Option<Uninstall>, Error> {
    let record = install_record(k).await?;
    let Some(installer) = install::recorded_installer(record.as_deref()) else {
        return Ok(None);
    };
    let name = istio::istio_operator(mesh, c, None)["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut crds = Vec::new();
    let mut kept = Vec::new();
    let all = k
        .list(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            None,
        )
        .await?;
    for crd in all.iter().filter(|d| made_by(d, installer, &name)) {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
        let version = crd["spec"]["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
            .and_then(|v| v["name"].as_str())
            .unwrap_or("v1");
        let instances = k
            .list(&format!("{group}/{version}"), kind, None, None)
            .await?;
        let outside = outliving(&instances);
        let crd_name = crd["metadata"]["name"].as_str().unwrap_or_default();
        if outside.is_empty() {
            crds.push(Step {
                op: Op::Delete,
                manifest: json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": crd_name}}),
                note: Some(format!("{} installed it and keeps it; nothing outside {ISTIO_NAMESPACE} uses it", program(installer))),
                secret: false,
                changes: Vec::new(),
            });
        } else {
            kept.push(format!("{crd_name}: in use by {}", outside.join(", ")));
        }
    }
    Ok(Some(Uninstall {
        installer,
        record: record.unwrap_or_default(),
        crds,
        kept,
    }))
}

/// Says what the uninstall will do (before the plan table).
pub fn describe_plan(c: &ClusterSpec, u: &Uninstall, printer: &Printer) {
    let what = match u.installer {
        Installer::Helm => {
            "helm uninstall istiod, then istio-base (the releases a join installed)".to_string()
        }
        _ => "istioctl uninstall -f of the join's IstioOperator (that install only, no --purge)"
            .to_string(),
    };
    printer.progress(&format!("{}: {what}; recorded: {}", c.name, u.record));
    for k in &u.kept {
        printer.warn(&format!("{}: kept CRD {k}", c.name));
    }
}

/// Runs the uninstall.
pub async fn run(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    fleet: &Fleet,
    kubeconfig: Option<std::path::PathBuf>,
    u: &Uninstall,
    printer: &Printer,
) -> Result<(), Error> {
    let target = Target {
        kubeconfig,
        context: c.context.clone(),
    };
    let rendered = istio::istio_operator(mesh, c, None);
    install::uninstall(u.installer, &target, &c.name, &rendered, printer).await?;
    fleet.kube(&c.name)?.forget_discovery().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_installers_own_istio_crds_are_candidates() {
        let crd = |labels: Value, annotations: Value, group: &str| json!({"metadata": {"labels": labels, "annotations": annotations}, "spec": {"group": group}});
        let istioctl = crd(
            json!({"install.operator.istio.io/owning-resource": "mesh1-east"}),
            json!({}),
            "networking.istio.io",
        );
        assert!(made_by(&istioctl, Installer::Istioctl, "mesh1-east"));
        assert!(!made_by(&istioctl, Installer::Istioctl, "mesh1-west"));
        assert!(!made_by(&istioctl, Installer::Helm, "mesh1-east"));
        let helm = crd(
            json!({}),
            json!({"meta.helm.sh/release-name": "istio-base", "meta.helm.sh/release-namespace": "istio-system"}),
            "security.istio.io",
        );
        assert!(made_by(&helm, Installer::Helm, "x"));
        let other_release = crd(
            json!({}),
            json!({"meta.helm.sh/release-name": "istio-base", "meta.helm.sh/release-namespace": "other"}),
            "security.istio.io",
        );
        assert!(!made_by(&other_release, Installer::Helm, "x"));
        let not_istio = crd(
            json!({"install.operator.istio.io/owning-resource": "mesh1-east"}),
            json!({}),
            "example.com",
        );
        assert!(!made_by(&not_istio, Installer::Istioctl, "mesh1-east"));
        assert!(!made_by(&istioctl, Installer::Sail, "mesh1-east"));
    }

    #[test]
    fn instances_outside_the_istio_namespace_keep_a_crd() {
        let gw = |ns: &str| json!({"kind": "Gateway", "metadata": {"name": "g", "namespace": ns}});
        assert!(outliving(&[gw("istio-system")]).is_empty());
        assert_eq!(
            outliving(&[gw("istio-system"), gw("apps")]),
            ["Gateway apps/g"]
        );
    }
}
