//! The Istio namespace and the `cacerts` Secret (reference §2.1): what `mesh-certs apply`
//! puts into a cluster. The root's private key is never part of it.

use crate::ca::Bundle;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, MANAGED_BY, MANAGED_BY_LABEL, NETWORK_LABEL};
use serde_json::{Value, json};

/// Annotation on `cacerts` with the SHA-256 of the root(s) it trusts (for people reading it).
pub const ROOT_ANNOTATION: &str = "kubectl-mesh.io/root-sha256";

/// The Istio namespace, labelled with the cluster's network where one is given.
pub fn istio_namespace(network: Option<&str>) -> Value {
    let mut labels = serde_json::Map::new();
    if let Some(net) = network {
        labels.insert(NETWORK_LABEL.into(), json!(net));
    }
    let mut ns = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ISTIO_NAMESPACE},
    });
    if !labels.is_empty() {
        ns["metadata"]["labels"] = Value::Object(labels);
    }
    ns
}

/// The Opaque Secret `istio-system/cacerts` with the four files of `bundle`.
pub fn cacerts_secret(bundle: &Bundle) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": CACERTS_SECRET,
            "namespace": ISTIO_NAMESPACE,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {ROOT_ANNOTATION: bundle.root_fingerprints().join(",")},
        },
        "data": Value::Object(bundle.secret_data()),
    })
}
