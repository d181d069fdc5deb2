//! Everything the checks look at, read once per cluster, in parallel, with few requests:
//! one Secret list serves `cacerts` and the remote secrets, one Pod list serves istiod, the
//! gateways and `istiocoredns`.

pub use super::facts_pre::access_review;
use super::facts_pre::fill_pre;
use super::{CheckId, CheckResult, Emit};
use crate::ca::Bundle;
use crate::cluster::{ClusterError, Kube};
use crate::hint::Hinted;
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

/// Why a request failed, as a kind (decisions match on it, never on the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactErrorKind {
    /// The API server did not answer (network, TLS, timeout).
    Unreachable,
    /// The credentials were rejected (401).
    Unauthorized,
    /// The user may not make the request (403, RBAC).
    Forbidden,
    /// Anything else the server or the client refused.
    Other,
}

/// A request that failed while reading a cluster's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactError {
    /// The request, e.g. `list ConfigMap in all namespaces`.
    pub request: String,
    /// The cause as the server or client gave it.
    pub cause: String,
    /// Its kind.
    pub kind: FactErrorKind,
    /// The next step.
    pub hint: String,
}

impl FactError {
    /// Classifies a cluster error.
    pub fn from_cluster(e: &ClusterError) -> FactError {
        let hint = e.hint().unwrap_or_default();
        let (request, cause, kind) = match e {
            ClusterError::Unreachable {
                operation, reason, ..
            } => (
                operation.clone(),
                reason.clone(),
                FactErrorKind::Unreachable,
            ),
            ClusterError::Forbidden {
                operation, message, ..
            } => (operation.clone(), message.clone(), FactErrorKind::Forbidden),
            ClusterError::Unauthorized { operation, .. } => (
                operation.clone(),
                "the credentials were rejected (401)".into(),
                FactErrorKind::Unauthorized,
            ),
            ClusterError::Rejected {
                operation, message, ..
            } => (operation.clone(), message.clone(), FactErrorKind::Other),
            other => ("connect".into(), other.to_string(), FactErrorKind::Other),
        };
        FactError {
            request,
            cause,
            kind,
            hint,
        }
    }
}

/// What a cluster looks like, as read through its API server.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// Cluster name.
    pub name: String,
    /// Kube context.
    pub context: String,
    /// The request that failed (then the facts are incomplete and no check reads them).
    pub error: Option<FactError>,
    /// `gitVersion` of the API server (empty when it did not answer).
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
    /// A control plane installed by istioctl or Helm, `Istio`-shaped
    /// ([`super::installed`]); read where there is no `Istio/default`.
    pub installed: Option<Value>,
    /// `IstioCNI/default`, read where the mesh uses CNI (or no mesh file says).
    pub istio_cni: Option<Value>,
    /// The east-west gateway Service.
    pub east_west_service: Option<Value>,
    /// `Gateway`s in the Istio namespace.
    pub gateways: Vec<Value>,
    /// `VirtualService`s in the Istio namespace; `None` when not read (the mesh file gives the
    /// cluster no remotes, so nothing needs istiod exposed).
    pub virtual_services: Option<Vec<Value>>,
    /// Remote secrets (label `istio/multiCluster=true`) in the Istio namespace.
    pub remote_secrets: Vec<Value>,
    /// Pods in the Istio namespace (istiod, gateways, istiocoredns).
    pub pods: Vec<Value>,
    /// The east-west gateway's Deployment (`istio-system/istio-eastwestgateway`).
    pub east_west_deployment: Option<Value>,
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
    /// The Istio versions the served `Istio` CRD accepts (`spec.version`'s enum; pre-join only;
    /// empty when the CRD lists none).
    pub istio_versions: Vec<String>,
    /// Services of type LoadBalancer with an address (pre-join only).
    pub load_balancers_with_address: usize,
}

impl ClusterFacts {
    /// `Istio/default`, else the installed control plane's `Istio`-shaped view.
    pub fn control_plane(&self) -> Option<&Value> {
        self.istio.as_ref().or(self.installed.as_ref())
    }

    /// The observed `values.global` of the control plane.
    pub fn global(&self) -> &Value {
        self.control_plane()
            .map(|i| &i["spec"]["values"]["global"])
            .unwrap_or(&Value::Null)
    }

    /// The observed role: `remote` profile or a primary.
    pub fn role(&self) -> Option<Role> {
        let i = self.control_plane()?;
        let remote = i["spec"]["profile"] == "remote" || i["spec"]["values"]["profile"] == "remote";
        Some(if remote { Role::Remote } else { Role::Primary })
    }

    /// Pods of the Istio namespace carrying label `key=value`.
    pub fn pods_labelled(&self, key: &str, value: &str) -> Vec<&Value> {
        self.pods
            .iter()
            .filter(|p| p["metadata"]["labels"][key] == value)
            .collect()
    }
}

fn opt<T>(r: Result<T, ClusterError>) -> Result<Option<T>, ClusterError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ClusterError::NotServed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What to read of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Pre-join: nodes, permissions, CRDs.
    Pre,
    /// Post-join facts; VirtualServices only where istiod may be exposed to remotes.
    Post {
        /// Read the VirtualServices of the Istio namespace.
        virtual_services: bool,
        /// Read `IstioCNI/default`.
        cni: bool,
    },
}

/// Reads one cluster.
pub async fn gather(kube: &Kube, name: &str, read: Read) -> ClusterFacts {
    let mut f = ClusterFacts {
        name: name.into(),
        context: kube.context.clone(),
        ..Default::default()
    };
    let done = match read {
        Read::Pre => fill_pre(kube, &mut f).await,
        Read::Post {
            virtual_services,
            cni,
        } => fill(kube, &mut f, virtual_services, cni).await,
    };
    if let Err(e) = done {
        f.error = Some(FactError::from_cluster(&e));
    }
    f
}

pub(super) async fn istio_api(kube: &Kube) -> Result<Option<String>, ClusterError> {
    for api in ["sailoperator.io/v1", "sailoperator.io/v1alpha1"] {
        if kube.serves(api, "Istio").await? {
            return Ok(Some(api.into()));
        }
    }
    Ok(None)
}

async fn fill(kube: &Kube, f: &mut ClusterFacts, vs: bool, cni: bool) -> Result<(), ClusterError> {
    // One discovery request for every group (Sail, networking.istio.io), unless the
    // connection's probe made it already.
    kube.discover_all().await?;
    f.istio_api = istio_api(kube).await?;
    let ns = Some(ISTIO_NAMESPACE);
    let cm_field = format!("metadata.name={ROOT_CERT_CONFIGMAP}");
    let (namespace, secrets, maps, svc, pods, gw) = futures::join!(
        // Always from the server: an evaluation answered from watch caches alone would not
        // notice a cluster that stopped answering (one request per cluster proves it does).
        kube.get_live("v1", "Namespace", None, ISTIO_NAMESPACE),
        kube.list("v1", "Secret", ns, None),
        kube.list_selected("v1", "ConfigMap", None, None, Some(&cm_field)),
        kube.get("v1", "Service", ns, gateway::EAST_WEST),
        kube.list("v1", "Pod", ns, None),
        kube.get("apps/v1", "Deployment", ns, gateway::EAST_WEST),
    );
    f.namespace = namespace?;
    let secrets = secrets?;
    let origin = format!(
        "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
        kube.context
    );
    f.cacerts = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == CACERTS_SECRET)
        .map(|s| Bundle::from_secret(&origin, s));
    f.remote_secrets = secrets
        .into_iter()
        .filter(|s| s["metadata"]["labels"][MULTICLUSTER_SECRET_LABEL] == "true")
        .collect();
    f.root_config_maps = maps?;
    f.east_west_service = svc?;
    f.pods = pods?;
    f.east_west_deployment = gw?;
    f.istiocoredns = !f.pods_labelled("app", "istiocoredns").is_empty();
    if let Some(api) = &f.istio_api {
        let istio_cni = async {
            match cni {
                true => opt(kube.get(api, "IstioCNI", None, "default").await),
                false => Ok(None),
            }
        };
        let (istio, istio_cni) = futures::join!(kube.get(api, "Istio", None, "default"), istio_cni);
        f.istio = opt(istio)?.flatten();
        f.istio_cni = istio_cni?.flatten();
    }
    if f.istio.is_none() {
        f.installed = super::installed::read(kube, f.namespace.as_ref()).await?;
    }
    let net = networking_api(kube).await?;
    let virtual_services = async {
        match vs {
            true => kube.list(net, "VirtualService", ns, None).await.map(Some),
            false => Ok(None),
        }
    };
    let (gws, vss, ses, coredns) = futures::join!(
        kube.list(net, "Gateway", ns, None),
        virtual_services,
        kube.list(net, "ServiceEntry", None, None),
        kube.get("v1", "ConfigMap", Some("kube-system"), "coredns"),
    );
    f.gateways = opt(gws)?.unwrap_or_default();
    f.virtual_services = match opt(vss)? {
        Some(Some(list)) => Some(list),
        Some(None) => None,
        None => Some(Vec::new()),
    };
    f.service_entries = opt(ses)?.unwrap_or_default();
    f.coredns = coredns?;
    Ok(())
}

/// The newest `networking.istio.io` version the cluster serves: Istio 1.4/1.5 serve only
/// `v1alpha3`, so reading `v1` alone would see no Gateway or ServiceEntry of such a mesh.
/// Answered from the discovery already made (no request where aggregated discovery worked).
async fn networking_api(kube: &Kube) -> Result<&'static str, ClusterError> {
    const VERSIONS: [&str; 3] = [
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ];
    for v in VERSIONS {
        if kube.serves(v, "Gateway").await? {
            return Ok(v);
        }
    }
    // None served: the lists below answer NotServed, read as "none".
    Ok(VERSIONS[0])
}

/// `cluster.facts`: one result per cluster; a failed read names the request and its cause.
pub(super) fn evaluate(facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let e = Emit::new(CheckId::ClusterFacts);
    for f in facts {
        let c = Some(f.name.as_str());
        out.push(match &f.error {
            None => e.pass(c, format!("context {}: every fact read", f.context)),
            Some(err) => e.problem(c, unread_message(f, err), &err.hint),
        });
    }
}

/// "context lab-2: list ConfigMap in all namespaces was forbidden: …".
pub(super) fn unread_message(f: &ClusterFacts, err: &FactError) -> String {
    let what = match err.kind {
        FactErrorKind::Unreachable => "got no answer",
        FactErrorKind::Unauthorized => "was refused (401)",
        FactErrorKind::Forbidden => "was forbidden (403)",
        FactErrorKind::Other => "failed",
    };
    format!(
        "context {}: {} {what}: {}; the checks of {} could not run",
        f.context, err.request, err.cause, f.name
    )
}
