//! Every label, annotation, Secret key and well-known name kubectl-mesh reads or writes, in one
//! place (reference: istio-multicluster-facts.md).

/// Namespace of the Istio control plane.
pub const ISTIO_NAMESPACE: &str = "istio-system";
/// Network label on the Istio namespace, gateways and pods.
pub const NETWORK_LABEL: &str = "topology.istio.io/network";
/// Annotation on a remote's Istio namespace naming the clusters whose istiod controls it.
pub const CONTROL_PLANE_CLUSTERS: &str = "topology.istio.io/controlPlaneClusters";
/// Label istiod selects remote secrets by.
pub const MULTICLUSTER_SECRET_LABEL: &str = "istio/multiCluster";
/// Informational annotation naming the cluster of a remote secret.
pub const CLUSTER_ANNOTATION: &str = "networking.istio.io/cluster";
/// Prefix of remote secret names.
pub const REMOTE_SECRET_PREFIX: &str = "istio-remote-secret-";
/// Name of the plugged-in CA Secret.
pub const CACERTS_SECRET: &str = "cacerts";
/// Keys of `cacerts`, in istiod's order.
pub const CACERTS_KEYS: [&str; 4] = [
    "ca-cert.pem",
    "ca-key.pem",
    "root-cert.pem",
    "cert-chain.pem",
];
/// The ConfigMap istiod writes into every namespace with the root bundle.
pub const ROOT_CERT_CONFIGMAP: &str = "istio-ca-root-cert";
/// The service account remote secrets use.
pub const READER_SERVICE_ACCOUNT: &str = "istio-reader-service-account";
/// Annotation on the reader ServiceAccount recording which token Secret remote secrets use
/// and where a credential rotation stands (`mesh-join rotate-credentials`).
pub const READER_TOKEN_ANNOTATION: &str = "kubectl-mesh.io/reader-token";
/// On an anchor Secret: the lifetime in seconds of the short-lived tokens bound to it (how a
/// cluster joined with `--token-ttl` keeps its mode before any rotation is recorded).
pub const TOKEN_TTL_ANNOTATION: &str = "kubectl-mesh.io/token-ttl";
/// On the Istio namespace: what `mesh-join --installer istioctl|helm` installed (the installer,
/// its version and a digest of its rendered input), so a rerun installs only on a change and
/// `leave --purge` uninstalls only a join's install.
pub const INSTALL_ANNOTATION: &str = "kubectl-mesh.io/installed";
/// Label marking objects this tool manages.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "kubectl-mesh";
