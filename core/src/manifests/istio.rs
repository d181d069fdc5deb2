//! The control plane resources (reference §4.4, §6): Sail `Istio` and `IstioCNI`, and the same
//! intent as an `IstioOperator` (istioctl installs) or Helm values.

use crate::labels::ISTIO_NAMESPACE;
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use serde_json::{Value, json};

/// Name of the Sail resources (`Istio` named `default` is the default revision).
pub const CONTROL_PLANE_NAME: &str = "default";

/// The injection webhook path of a remote: `/inject/cluster/<name>/net/<network>` (§6.5).
pub fn injection_path(cluster: &ClusterSpec) -> String {
    format!("/inject/cluster/{}/net/{}", cluster.name, cluster.network)
}

/// Helm values for one cluster, shared by every installer.
///
/// `remote_pilot_address` is the primary's east-west gateway address (remotes only).
pub fn values(mesh: &MeshSpec, cluster: &ClusterSpec, remote_pilot_address: Option<&str>) -> Value {
    let mut values = json!({
        "global": {
            "meshID": mesh.mesh_id,
            "network": cluster.network,
            "multiCluster": {"clusterName": cluster.name},
        },
    });
    match cluster.role {
        Role::Primary if !mesh.remotes_of(&cluster.name).is_empty() => {
            values["global"]["externalIstiod"] = json!(true);
            values["pilot"] = json!({"env": {"EXTERNAL_ISTIOD": "true"}});
        }
        Role::Primary => {}
        Role::Remote => {
            values["profile"] = json!("remote");
            values["istiodRemote"] = json!({"injectionPath": injection_path(cluster)});
            if let Some(addr) = remote_pilot_address {
                values["global"]["remotePilotAddress"] = json!(addr);
            }
        }
    }
    values
}

/// The Sail `Istio` resource of a cluster (`api_version` as discovery found it served).
pub fn istio(
    mesh: &MeshSpec,
    cluster: &ClusterSpec,
    api_version: &str,
    remote_pilot_address: Option<&str>,
) -> Value {
    let mut spec = json!({
        "version": mesh.istio.version(),
        "namespace": ISTIO_NAMESPACE,
        "values": values(mesh, cluster, remote_pilot_address),
    });
    if cluster.role == Role::Remote {
        spec["profile"] = json!("remote");
    }
    json!({
        "apiVersion": api_version,
        "kind": "Istio",
        "metadata": {"name": CONTROL_PLANE_NAME},
        "spec": spec,
    })
}

/// The Sail `IstioCNI` resource (seed 004: Multus-style conf dir, system namespaces excluded).
pub fn istio_cni(mesh: &MeshSpec, api_version: &str) -> Value {
    let mut cni = json!({"excludeNamespaces": ["istio-cni", "kube-system"]});
    if let Some(dir) = &mesh.istio.cni_conf_dir {
        cni["cniConfDir"] = json!(dir);
    }
    json!({
        "apiVersion": api_version,
        "kind": "IstioCNI",
        "metadata": {"name": CONTROL_PLANE_NAME},
        "spec": {
            "version": mesh.istio.version(),
            "namespace": "istio-cni",
            "values": {"cni": cni},
        },
    })
}

/// The namespace `IstioCNI` installs into. Labelled as ours: a server-side apply of a bare
/// name leaves no managed field, so without the label nothing would record that we made it
/// and `leave --purge` would keep it as another tool's.
pub fn cni_namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-cni",
        "labels": {crate::labels::MANAGED_BY_LABEL: crate::labels::MANAGED_BY}}})
}

/// The same control plane as an `IstioOperator` for `istioctl install -f`.
pub fn istio_operator(
    mesh: &MeshSpec,
    cluster: &ClusterSpec,
    remote_pilot_address: Option<&str>,
) -> Value {
    let mut values = values(mesh, cluster, remote_pilot_address);
    let profile = values
        .as_object_mut()
        .and_then(|v| v.remove("profile"))
        .and_then(|p| p.as_str().map(String::from));
    let mut spec = json!({
        "values": values,
    });
    if let Some(p) = profile {
        spec["profile"] = json!(p);
    }
    json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": format!("{}-{}", mesh.mesh_id, cluster.name), "namespace": ISTIO_NAMESPACE},
        "spec": spec,
    })
}
