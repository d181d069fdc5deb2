//! Gateways (reference §4.1–§4.3): the east-west gateway, the cross-network `Gateway` and the
//! objects that expose istiod to remotes. Embedded here, never downloaded.

use crate::labels::{ISTIO_NAMESPACE, NETWORK_LABEL};
use serde_json::{Value, json};

/// Name of the east-west gateway's objects.
pub const EAST_WEST: &str = "istio-eastwestgateway";
/// The cross-network `Gateway`.
pub const CROSS_NETWORK_GATEWAY: &str = "cross-network-gateway";
/// The `Gateway` exposing istiod.
pub const ISTIOD_GATEWAY: &str = "istiod-gateway";
/// The `VirtualService` routing to istiod.
pub const ISTIOD_VIRTUAL_SERVICE: &str = "istiod-vs";

/// Where to run the gateway pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Anywhere the scheduler likes.
    #[default]
    Any,
    /// On infra nodes (`node-role.kubernetes.io/infra`, seed 004).
    Infra,
}

fn labels(network: &str) -> Value {
    json!({
        "app": EAST_WEST,
        "istio": "eastwestgateway",
        "istio.io/rev": "default",
        "operator.istio.io/component": "IngressGateways",
        "release": "istio",
        NETWORK_LABEL: network,
    })
}

/// Every object of the east-west gateway of a cluster on `network`. An IP `address` (the mesh
/// file's `eastWestAddress`) becomes the Service's `externalIPs`, which istiod reads as the
/// gateway's address where no load balancer reports one (a hostname is left to DNS).
pub fn east_west(network: &str, placement: Placement, address: Option<&str>) -> Vec<Value> {
    let selector = json!({"app": EAST_WEST, "istio": "eastwestgateway", NETWORK_LABEL: network});
    let meta = |kind_labels: Value| json!({"name": EAST_WEST, "namespace": ISTIO_NAMESPACE, "labels": kind_labels});
    let mut pod_labels = labels(network);
    pod_labels["sidecar.istio.io/inject"] = json!("true");
    let mut pod_spec = json!({
        "serviceAccountName": format!("{EAST_WEST}-service-account"),
        "containers": [{
            "name": "istio-proxy",
            "image": "auto",
            "env": [
                {"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": network},
                {"name": "ISTIO_META_UNPRIVILEGED_POD", "value": "true"},
            ],
            "ports": [
                {"containerPort": 15021, "protocol": "TCP"},
                {"containerPort": 15443, "protocol": "TCP"},
                {"containerPort": 15012, "protocol": "TCP"},
                {"containerPort": 15017, "protocol": "TCP"},
                {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"},
            ],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "2", "memory": "1Gi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": true,
            },
        }],
    });
    if placement == Placement::Infra {
        pod_spec["nodeSelector"] = json!({"node-role.kubernetes.io/infra": ""});
        pod_spec["tolerations"] = json!([{
            "effect": "NoSchedule", "key": "node-role.kubernetes.io/infra",
            "operator": "Equal", "value": "reserved",
        }]);
    }
    vec![
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": format!("{EAST_WEST}-service-account"), "namespace": ISTIO_NAMESPACE, "labels": labels(network)},
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(labels(network)),
            "spec": {
                "selector": {"matchLabels": selector},
                "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {
                        "labels": pod_labels,
                        "annotations": {
                            "inject.istio.io/templates": "gateway",
                            "sidecar.istio.io/inject": "true",
                            "prometheus.io/path": "/stats/prometheus",
                            "prometheus.io/port": "15020",
                            "prometheus.io/scrape": "true",
                        },
                    },
                    "spec": pod_spec,
                },
            },
        }),
        json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": meta(labels(network)),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": format!("{EAST_WEST}-sds"), "namespace": ISTIO_NAMESPACE},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "watch", "list"]}],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("{EAST_WEST}-sds"), "namespace": ISTIO_NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("{EAST_WEST}-sds")},
            "subjects": [{"kind": "ServiceAccount", "name": format!("{EAST_WEST}-service-account")}],
        }),
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta(labels(network)),
            "spec": {
                "minReplicas": 1, "maxReplicas": 5,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": EAST_WEST},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
            },
        }),
        service(network, selector, address),
    ]
}

fn service(network: &str, selector: Value, address: Option<&str>) -> Value {
    let mut svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": EAST_WEST, "namespace": ISTIO_NAMESPACE, "labels": labels(network)},
            "spec": {
                "type": "LoadBalancer",
                "selector": selector,
                "ports": [
                    {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
                    {"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"},
                    {"name": "tls-istiod", "port": 15012, "targetPort": 15012, "protocol": "TCP"},
                    {"name": "tls-webhook", "port": 15017, "targetPort": 15017, "protocol": "TCP"},
                ],
            },
    });
    if let Some(ip) = address.filter(|a| a.parse::<std::net::IpAddr>().is_ok()) {
        svc["spec"]["externalIPs"] = json!([ip]);
    }
    svc
}

/// The `Gateway` that lets other networks reach this one's services (§4.2).
pub fn cross_network_gateway() -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": CROSS_NETWORK_GATEWAY, "namespace": ISTIO_NAMESPACE},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [{
                "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": ["*.local"],
            }],
        },
    })
}

/// The `Gateway` and `VirtualService` that expose istiod to remotes (§4.3).
pub fn expose_istiod() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": ISTIOD_GATEWAY, "namespace": ISTIO_NAMESPACE},
            "spec": {
                "selector": {"istio": "eastwestgateway"},
                "servers": [
                    {"port": {"number": 15012, "name": "tls-istiod", "protocol": "tls"}, "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
                    {"port": {"number": 15017, "name": "tls-istiodwebhook", "protocol": "tls"}, "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
                ],
            },
        }),
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": ISTIOD_VIRTUAL_SERVICE, "namespace": ISTIO_NAMESPACE},
            "spec": {
                "hosts": ["*"],
                "gateways": [ISTIOD_GATEWAY],
                "tls": [
                    {"match": [{"port": 15012, "sniHosts": ["*"]}],
                     "route": [{"destination": {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 15012}}}]},
                    {"match": [{"port": 15017, "sniHosts": ["*"]}],
                     "route": [{"destination": {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 443}}}]},
                ],
            },
        }),
    ]
}
