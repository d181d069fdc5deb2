//! The facts only `mesh-verify --pre` reads, before a join: nodes, load balancers, the Sail
//! versions served, Multus, and what the current user may create.

use super::facts::{ClusterFacts, istio_api};
use crate::cluster::{ClusterError, Kube};
use crate::labels::ISTIO_NAMESPACE;
use serde_json::Value;

pub(super) async fn fill_pre(kube: &Kube, f: &mut ClusterFacts) -> Result<(), ClusterError> {
    f.version = kube.version().await?;
    kube.discover_all().await?;
    f.istio_api = istio_api(kube).await?;
    f.nodes = kube.list("v1", "Node", None, None).await?;
    if let Some(api) = &f.istio_api {
        let crd = kube
            .get(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                "istios.sailoperator.io",
            )
            .await?;
        f.istio_versions = crd
            .map(|c| served_istio_versions(&c, api))
            .unwrap_or_default();
    }
    f.multus = kube
        .serves("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
        .await?;
    f.load_balancers_with_address = kube
        .list("v1", "Service", None, None)
        .await?
        .iter()
        .filter(|s| {
            s["spec"]["type"] == "LoadBalancer" && !s["status"]["loadBalancer"]["ingress"].is_null()
        })
        .count();
    let rbac = "rbac.authorization.k8s.io";
    let ns = Some(ISTIO_NAMESPACE);
    for (verb, group, resource, ns) in [
        ("create", "", "namespaces", None),
        ("create", "", "secrets", ns),
        ("create", "", "serviceaccounts", ns),
        ("create", rbac, "clusterroles", None),
        ("create", rbac, "clusterrolebindings", None),
        ("create", "sailoperator.io", "istios", None),
        ("create", "networking.istio.io", "gateways", ns),
    ] {
        let allowed = access_review(kube, verb, group, resource, ns).await?;
        f.permissions.push((format!("{verb} {resource}"), allowed));
    }
    Ok(())
}

/// The versions the served version `api` of the `Istio` CRD installs
/// ([`crate::version_gates::installable_in`]).
pub(super) fn served_istio_versions(crd: &Value, api: &str) -> Vec<String> {
    let version = api.rsplit('/').next().unwrap_or_default();
    crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == version)
        .map(|v| {
            crate::version_gates::installable_in(
                &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["version"],
            )
        })
        .unwrap_or_default()
}

/// `SelfSubjectAccessReview`: may the current user do `verb` on `resource`?
pub async fn access_review(
    kube: &Kube,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool, ClusterError> {
    kube.access_review(verb, group, resource, namespace).await
}
