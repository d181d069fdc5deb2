//! Everything the checks look at, read once per cluster, in parallel.

use crate::ca::Bundle;
use crate::cluster::{ClusterError, Kube};
use crate::labels::{
    CACERTS_SECRET, ISTIO_NAMESPACE, MULTICLUSTER_SECRET_LABEL, ROOT_CERT_CONFIGMAP,
};
use crate::manifests::gateway;
use crate::mesh::Role;
use serde_json::Value;

/// One cluster of the mesh being verified.
#[derive(Debug, Clone)]
pub struct Member {
    /// Cluster name (cluster ID).
    pub name: String,
    /// Kube context.
    pub context: String,
    /// Network from the mesh file (or observed).
    pub network: Option<String>,
    /// Role from the mesh file (or observed).
    pub role: Option<Role>,
    /// A remote's primary.
    pub primary: Option<String>,
    /// The east-west address given in the mesh file.
    pub east_west_address: Option<String>,
}

/// What a cluster looks like, as read through its API server.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// Cluster name.
    pub name: String,
    /// Kube context.
    pub context: String,
    /// Why the cluster could not be read (then nothing else is set).
    pub error: Option<String>,
    /// `gitVersion` of the API server.
    pub version: String,
    /// The Istio namespace.
    pub namespace: Option<Value>,
    /// `cacerts` as a bundle.
    pub cacerts: Option<Bundle>,
    /// `istio-ca-root-cert` ConfigMaps.
    pub root_config_maps: Vec<Value>,
    /// The Istio API version served (Sail), if any.
    pub istio_api: Option<String>,
    /// `Istio/default`.
    pub istio: Option<Value>,
    /// The east-west gateway Service.
    pub east_west_service: Option<Value>,
    /// `Gateway`s in the Istio namespace.
    pub gateways: Vec<Value>,
    /// `VirtualService`s in the Istio namespace.
    pub virtual_services: Vec<Value>,
    /// Remote secrets (label `istio/multiCluster=true`) in the Istio namespace.
    pub remote_secrets: Vec<Value>,
    /// CoreDNS configuration (`kube-system/coredns`).
    pub coredns: Option<Value>,
    /// ServiceEntries (all namespaces) when the API is served.
    pub service_entries: Vec<Value>,
    /// Whether `istiocoredns` runs in the Istio namespace.
    pub istiocoredns: bool,
    /// Nodes (pre-join only).
    pub nodes: Vec<Value>,
    /// Access reviews (pre-join only): (verb resource, allowed).
    pub permissions: Vec<(String, bool)>,
    /// Whether the Multus CRD is served (pre-join only).
    pub multus: bool,
    /// Services of type LoadBalancer with an address (pre-join only).
    pub load_balancers_with_address: usize,
}

impl ClusterFacts {
    /// The observed `values.global` of `Istio/default`.
    pub fn global(&self) -> &Value {
        self.istio
            .as_ref()
            .map(|i| &i["spec"]["values"]["global"])
            .unwrap_or(&Value::Null)
    }

    /// The observed role: `remote` profile or a primary.
    pub fn role(&self) -> Option<Role> {
        let i = self.istio.as_ref()?;
        let remote = i["spec"]["profile"] == "remote" || i["spec"]["values"]["profile"] == "remote";
        Some(if remote { Role::Remote } else { Role::Primary })
    }
}

fn opt<T>(r: Result<T, ClusterError>) -> Result<Option<T>, ClusterError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ClusterError::NotServed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads one cluster. Post-join facts by default; `pre` reads nodes, permissions and CRDs.
pub async fn gather(kube: &Kube, name: &str, pre: bool) -> ClusterFacts {
    let mut f = ClusterFacts {
        name: name.into(),
        context: kube.context.clone(),
        ..Default::default()
    };
    if let Err(e) = fill(kube, &mut f, pre).await {
        f.error = Some(e.to_string());
    }
    f
}

async fn fill(kube: &Kube, f: &mut ClusterFacts, pre: bool) -> Result<(), ClusterError> {
    f.version = kube.version().await?;
    f.istio_api = if kube.serves("sailoperator.io/v1", "Istio").await? {
        Some("sailoperator.io/v1".into())
    } else if kube.serves("sailoperator.io/v1alpha1", "Istio").await? {
        Some("sailoperator.io/v1alpha1".into())
    } else {
        None
    };
    if pre {
        f.nodes = kube.list("v1", "Node", None, None).await?;
        f.multus = kube
            .serves("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
            .await?;
        f.load_balancers_with_address = kube
            .list("v1", "Service", None, None)
            .await?
            .iter()
            .filter(|s| {
                s["spec"]["type"] == "LoadBalancer"
                    && !s["status"]["loadBalancer"]["ingress"].is_null()
            })
            .count();
        for (verb, group, resource, ns) in [
            ("create", "", "namespaces", None),
            ("create", "", "secrets", Some(ISTIO_NAMESPACE)),
            ("create", "", "serviceaccounts", Some(ISTIO_NAMESPACE)),
            ("create", "rbac.authorization.k8s.io", "clusterroles", None),
            (
                "create",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                None,
            ),
            ("create", "sailoperator.io", "istios", None),
            (
                "create",
                "networking.istio.io",
                "gateways",
                Some(ISTIO_NAMESPACE),
            ),
        ] {
            let allowed = access_review(kube, verb, group, resource, ns).await?;
            f.permissions.push((format!("{verb} {resource}"), allowed));
        }
        return Ok(());
    }
    let ns = Some(ISTIO_NAMESPACE);
    let cm_field = format!("metadata.name={ROOT_CERT_CONFIGMAP}");
    let secret_label = format!("{MULTICLUSTER_SECRET_LABEL}=true");
    let (namespace, cacerts, maps, svc, secrets) = futures::join!(
        kube.get("v1", "Namespace", None, ISTIO_NAMESPACE),
        kube.get("v1", "Secret", ns, CACERTS_SECRET),
        kube.list_selected("v1", "ConfigMap", None, None, Some(&cm_field)),
        kube.get("v1", "Service", ns, gateway::EAST_WEST),
        kube.list("v1", "Secret", ns, Some(&secret_label)),
    );
    f.namespace = namespace?;
    f.cacerts = cacerts?.map(|s| {
        Bundle::from_secret(
            &format!(
                "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
                kube.context
            ),
            &s,
        )
    });
    f.root_config_maps = maps?;
    f.east_west_service = svc?;
    f.remote_secrets = secrets?;
    if let Some(api) = &f.istio_api {
        f.istio = opt(kube.get(api, "Istio", None, "default").await)?.flatten();
    }
    let (gws, vss, ses) = futures::join!(
        kube.list("networking.istio.io/v1", "Gateway", ns, None),
        kube.list("networking.istio.io/v1", "VirtualService", ns, None),
        kube.list("networking.istio.io/v1", "ServiceEntry", None, None),
    );
    f.gateways = opt(gws)?.unwrap_or_default();
    f.virtual_services = opt(vss)?.unwrap_or_default();
    f.service_entries = opt(ses)?.unwrap_or_default();
    let (coredns, icd) = futures::join!(
        kube.get("v1", "ConfigMap", Some("kube-system"), "coredns"),
        kube.get("apps/v1", "Deployment", ns, "istiocoredns"),
    );
    f.coredns = coredns?;
    f.istiocoredns = icd?.is_some();
    Ok(())
}

/// `SelfSubjectAccessReview`: may the current user do `verb` on `resource`?
pub async fn access_review(
    kube: &Kube,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool, ClusterError> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(kube.client());
    let done = api
        .create(&kube::api::PostParams::default(), &review)
        .await
        .map_err(|e| ClusterError::api(&kube.context, &format!("review {verb} {resource}"), e))?;
    Ok(done.status.is_some_and(|s| s.allowed))
}
