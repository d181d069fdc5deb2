//! The Kubernetes kinds kubectl-mesh reads and writes, as data: API version, kind, plural and
//! scope. Known kinds need no discovery round-trip; everything else goes through discovery.

use kube::discovery::ApiResource;

/// One kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// `group/version` or `v1`.
    pub api_version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Namespaced (else cluster-scoped).
    pub namespaced: bool,
}

macro_rules! kinds {
    ($($api:literal $kind:literal $plural:literal $ns:literal;)*) => {
        /// Every kind kubectl-mesh knows.
        pub const KINDS: &[KindInfo] = &[$(KindInfo { api_version: $api, kind: $kind, plural: $plural, namespaced: $ns }),*];
    };
}

kinds! {
    "v1" "Namespace" "namespaces" false;
    "v1" "Secret" "secrets" true;
    "v1" "ConfigMap" "configmaps" true;
    "v1" "ServiceAccount" "serviceaccounts" true;
    "v1" "Service" "services" true;
    "v1" "Pod" "pods" true;
    "v1" "Node" "nodes" false;
    "apps/v1" "Deployment" "deployments" true;
    "policy/v1" "PodDisruptionBudget" "poddisruptionbudgets" true;
    "autoscaling/v2" "HorizontalPodAutoscaler" "horizontalpodautoscalers" true;
    "rbac.authorization.k8s.io/v1" "Role" "roles" true;
    "rbac.authorization.k8s.io/v1" "RoleBinding" "rolebindings" true;
    "rbac.authorization.k8s.io/v1" "ClusterRole" "clusterroles" false;
    "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" "clusterrolebindings" false;
    "discovery.k8s.io/v1" "EndpointSlice" "endpointslices" true;
    "apiextensions.k8s.io/v1" "CustomResourceDefinition" "customresourcedefinitions" false;
    "networking.istio.io/v1" "Gateway" "gateways" true;
    "networking.istio.io/v1" "VirtualService" "virtualservices" true;
    "networking.istio.io/v1" "DestinationRule" "destinationrules" true;
    "networking.istio.io/v1" "ServiceEntry" "serviceentries" true;
    "networking.istio.io/v1alpha3" "Gateway" "gateways" true;
    "networking.istio.io/v1alpha3" "VirtualService" "virtualservices" true;
    "networking.istio.io/v1alpha3" "ServiceEntry" "serviceentries" true;
    "sailoperator.io/v1" "Istio" "istios" false;
    "sailoperator.io/v1" "IstioCNI" "istiocnis" false;
    "sailoperator.io/v1" "IstioRevision" "istiorevisions" false;
    "sailoperator.io/v1alpha1" "Istio" "istios" false;
    "sailoperator.io/v1alpha1" "IstioCNI" "istiocnis" false;
    "install.istio.io/v1alpha1" "IstioOperator" "istiooperators" true;
}

/// The entry for `api_version`/`kind`.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

impl KindInfo {
    /// As kube-rs's `ApiResource`.
    pub fn api_resource(&self) -> ApiResource {
        let (group, version) = match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version),
        };
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}
