//! `kubectl mesh-verify install-watch`: the manifests that run the watch inside a cluster —
//! a Deployment of the plugin's image, its ServiceAccount with least-privilege RBAC (each
//! rule is one read the checks make, or the Events `--events` records), a Service for the
//! metrics, and a ServiceMonitor and PrometheusRule for the Prometheus operator. Rendered,
//! not applied: the output goes through review and `kubectl apply` (or a GitOps repository).

use crate::checks::installed::{INJECTOR_CONFIG_MAP, VALUES_CONFIG_MAP};
use crate::kubeconfig::IN_CLUSTER_CONTEXT;
use crate::labels::{ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use serde_json::{Value, json};
use std::time::Duration;

/// The name of every object rendered.
pub const NAME: &str = "kubectl-mesh-watch";
/// The port the metrics are served on.
pub const METRICS_PORT: u16 = 9464;

/// What `install-watch` renders.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The namespace of the Deployment (created too).
    pub namespace: String,
    /// The image (built from the repository's Dockerfile).
    pub image: String,
    /// `--interval` of the watch.
    pub interval: Duration,
    /// Record Events (`--events`), and grant what that needs.
    pub events: bool,
    /// Render the ServiceMonitor and PrometheusRule (the cluster serves them).
    pub monitoring: bool,
}

/// One RBAC rule: API group, resources, verbs, and the names it is limited to (empty: all).
type Rule = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const READ: &[&str] = &["get", "list", "watch"];
const RECORD: &[&str] = &["create", "patch"];

/// Cluster-wide reads: the istio-system Namespace (its network label), every namespace's
/// root-cert ConfigMap, the Sail operator's resources, and ServiceEntries.
const CLUSTER_RULES: &[Rule] = &[
    ("", &["namespaces"], READ, &[ISTIO_NAMESPACE]),
    (
        "",
        &["configmaps"],
        &["list", "watch"],
        &[ROOT_CERT_CONFIGMAP],
    ),
    ("sailoperator.io", &["istios", "istiocnis"], READ, &[]),
    (
        "networking.istio.io",
        &["serviceentries"],
        &["list", "watch"],
        &[],
    ),
];

/// Reads in istio-system: cacerts and the remote secrets, the gateway Service, service
/// accounts, istiod's pods and Deployment, Gateways and VirtualServices, and the ConfigMaps
/// an installation without the Sail operator keeps its values in.
const ISTIO_RULES: &[Rule] = &[
    (
        "",
        &["secrets", "services", "serviceaccounts", "pods"],
        READ,
        &[],
    ),
    (
        "",
        &["configmaps"],
        &["get"],
        &[VALUES_CONFIG_MAP, INJECTOR_CONFIG_MAP],
    ),
    ("apps", &["deployments"], READ, &[]),
    (
        "networking.istio.io",
        &["gateways", "virtualservices"],
        READ,
        &[],
    ),
];

/// CoreDNS's configuration (the legacy `.global` stub domain check).
const KUBE_SYSTEM_RULES: &[Rule] = &[("", &["configmaps"], READ, &["coredns"])];

/// Events on istio-system objects, and on the cluster-scoped Namespace (recorded in default).
const EVENT_RULES: &[Rule] = &[("events.k8s.io", &["events"], RECORD, &[])];

fn rules(rules: &[Rule]) -> Value {
    rules
        .iter()
        .map(|(group, resources, verbs, names)| {
            let mut r = json!({"apiGroups": [group], "resources": resources, "verbs": verbs});
            if !names.is_empty() {
                r["resourceNames"] = json!(names);
            }
            r
        })
        .collect()
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kubectl-mesh"})
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// A Role in `namespace` and its RoleBinding to the watch's ServiceAccount.
fn role(o: &InstallOptions, namespace: &str, r: &[Rule]) -> [Value; 2] {
    [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": meta(NAME, Some(namespace)), "rules": rules(r)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": meta(NAME, Some(namespace)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": o.namespace}]}),
    ]
}

/// The ServiceAccount, ClusterRole, Roles and their bindings.
fn access(o: &InstallOptions) -> Vec<Value> {
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, Some(&o.namespace))}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": meta(NAME, None), "rules": rules(CLUSTER_RULES)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": meta(NAME, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": o.namespace}]}),
    ];
    let mut istio: Vec<Rule> = ISTIO_RULES.to_vec();
    if o.events {
        istio.extend_from_slice(EVENT_RULES);
    }
    out.extend(role(o, ISTIO_NAMESPACE, &istio));
    out.extend(role(o, "kube-system", KUBE_SYSTEM_RULES));
    if o.events {
        out.extend(role(o, "default", EVENT_RULES));
    }
    out
}

/// The watch's arguments in the pod: its own cluster, istiod through its Service (no
/// port-forward permission needed), JSON lines to the log.
pub fn args(o: &InstallOptions) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--watch".into(),
        "-o".into(),
        "json".into(),
        "--interval".into(),
        format!("{}s", o.interval.as_secs()),
        "--metrics-address".into(),
        format!("0.0.0.0:{METRICS_PORT}"),
        "--istiod-address".into(),
        format!("{IN_CLUSTER_CONTEXT}=istiod.{ISTIO_NAMESPACE}.svc:15014"),
    ];
    if o.events {
        a.push("--events".into());
    }
    a
}

fn probe(path: &str) -> Value {
    json!({"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": 20})
}

fn deployment(o: &InstallOptions) -> Value {
    let container = json!({
        "name": "watch",
        "image": o.image,
        "args": args(o),
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "readinessProbe": probe("/readyz"),
        "livenessProbe": probe("/healthz"),
        "resources": {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}},
    });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(NAME, Some(&o.namespace)),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    })
}

fn service(o: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta(NAME, Some(&o.namespace)),
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}],
        },
    })
}

fn service_monitor(o: &InstallOptions) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": meta(NAME, Some(&o.namespace)),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
    })
}

/// Every manifest, in the order `kubectl apply` takes them.
pub fn manifests(o: &InstallOptions) -> Vec<Value> {
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": meta(&o.namespace, None)})];
    out.extend(access(o));
    out.push(deployment(o));
    out.push(service(o));
    if o.monitoring {
        out.push(service_monitor(o));
        let metadata = meta(NAME, Some(&o.namespace));
        out.push(super::alerts::prometheus_rule(metadata));
    }
    out
}

/// Whether `context` serves the Prometheus operator's ServiceMonitor and PrometheusRule
/// (read only: the discovery of one group-version).
pub async fn serves_monitoring(
    access: &crate::app::trust::Access,
    context: &str,
) -> Result<bool, crate::error::Error> {
    let source = crate::kubeconfig::KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let kube = crate::cluster::Kube::connect(&source, context, access.timeout).await?;
    let api = "monitoring.coreos.com/v1";
    Ok(kube.serves(api, "ServiceMonitor").await? && kube.serves(api, "PrometheusRule").await?)
}

/// The manifests as one YAML stream.
pub fn render(o: &InstallOptions) -> String {
    manifests(o)
        .iter()
        .map(|m| format!("---\n{}", yaml_serde::to_string(m).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
