//! Cluster errors: always the context, the operation and the object, plus a hint.

use crate::hint::Hinted;
use crate::kubeconfig::KubeconfigError;

/// A failure talking to one cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The kubeconfig does not let us reach the context.
    #[error("context '{context}': {source}")]
    Kubeconfig {
        /// The context.
        context: String,
        /// Why.
        #[source]
        source: KubeconfigError,
    },
    /// The client could not be configured (bad certificate data, unsupported auth).
    #[error("context '{context}': cannot configure a client: {reason}")]
    Config {
        /// The context.
        context: String,
        /// Why.
        reason: String,
    },
    /// The API server could not be reached in time.
    #[error("context '{context}': cannot reach the API server ({operation}): {reason}")]
    Unreachable {
        /// The context.
        context: String,
        /// What we tried.
        operation: String,
        /// Why.
        reason: String,
    },
    /// The API server refused us.
    #[error("context '{context}': {operation} is forbidden: {message}")]
    Forbidden {
        /// The context.
        context: String,
        /// What we tried.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// The credentials were rejected.
    #[error("context '{context}': {operation}: unauthorized (the credentials were rejected)")]
    Unauthorized {
        /// The context.
        context: String,
        /// What we tried.
        operation: String,
    },
    /// The API server rejected the request (validation, conflict, …).
    #[error("context '{context}': {operation} failed: {message}")]
    Rejected {
        /// The context.
        context: String,
        /// What we tried.
        operation: String,
        /// The server's message.
        message: String,
        /// HTTP status.
        code: u16,
    },
    /// An admission webhook the API server must call could not be called (its server, istiod,
    /// is not serving yet, or its CA bundle is not current): not an answer about the object.
    #[error("context '{context}': {operation} failed: {message}")]
    WebhookNotServed {
        /// The context.
        context: String,
        /// What we tried.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// Server-side apply found fields another field manager owns with other values.
    #[error("context '{context}': {object}: {} field(s) are managed by another tool:\n{}", conflicts.len(), conflicts.iter().map(|c| format!("  {} (managed by {:?})", c.field, c.manager)).collect::<Vec<_>>().join("\n"))]
    Conflict {
        /// The context.
        context: String,
        /// `Kind namespace/name`.
        object: String,
        /// The conflicting fields.
        conflicts: Vec<FieldConflict>,
    },
    /// The cluster does not serve an API we need.
    #[error("context '{context}': the cluster does not serve {api_version} {kind}")]
    NotServed {
        /// The context.
        context: String,
        /// API version.
        api_version: String,
        /// Kind.
        kind: String,
    },
}

impl ClusterError {
    /// A kubeconfig problem for `context`.
    pub fn kubeconfig(context: &str, source: KubeconfigError) -> Self {
        ClusterError::Kubeconfig {
            context: context.into(),
            source,
        }
    }

    /// A client configuration problem.
    pub fn config(context: &str, reason: String) -> Self {
        ClusterError::Config {
            context: context.into(),
            reason,
        }
    }

    /// Classifies a kube-rs error.
    pub fn api(context: &str, operation: &str, error: kube::Error) -> Self {
        let context = context.to_string();
        let operation = operation.to_string();
        match error {
            kube::Error::Api(status) => match status.code {
                401 => ClusterError::Unauthorized { context, operation },
                403 => ClusterError::Forbidden {
                    context,
                    operation,
                    message: status.message,
                },
                // The API server's only sign of it: an internal error naming the call.
                500 if status.message.contains("failed calling webhook") => {
                    ClusterError::WebhookNotServed {
                        context,
                        operation,
                        message: status.message,
                    }
                }
                code => ClusterError::Rejected {
                    context,
                    operation,
                    message: status.message,
                    code,
                },
            },
            other => ClusterError::Unreachable {
                context,
                operation,
                reason: error_chain(&other),
            },
        }
    }

    /// The context concerned.
    pub fn context(&self) -> &str {
        match self {
            ClusterError::Kubeconfig { context, .. }
            | ClusterError::Config { context, .. }
            | ClusterError::Unreachable { context, .. }
            | ClusterError::Forbidden { context, .. }
            | ClusterError::Unauthorized { context, .. }
            | ClusterError::Rejected { context, .. }
            | ClusterError::WebhookNotServed { context, .. }
            | ClusterError::Conflict { context, .. }
            | ClusterError::NotServed { context, .. } => context,
        }
    }
}

/// One field another manager owns: `.spec.values.global.network` and the manager's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldConflict {
    /// The field path as the API server names it.
    pub field: String,
    /// The other field manager.
    pub manager: String,
}

/// The conflicts of a 409 answer to a server-side apply, from the status causes
/// (`conflict with "helm" using v1` at `.spec.x`). Empty when it is another kind of 409.
pub fn field_conflicts(status: &kube::core::Status) -> Vec<FieldConflict> {
    let Some(details) = &status.details else {
        return Vec::new();
    };
    details
        .causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| FieldConflict {
            field: c.field.clone(),
            manager: c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(c.message.as_str())
                .to_string(),
        })
        .collect()
}

/// A kube-rs error as a sentence: an API server's answer as its code, reason and message
/// (kube-rs' own text appends a `Debug` dump of the `Status`), anything else with its causes.
pub fn sentence(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", s.reason)
            };
            format!("the API server answered {}{reason}: {}", s.code, s.message)
        }
        other => error_chain(other),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}

impl Hinted for ClusterError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ClusterError::Kubeconfig { source, .. } => return source.hint(),
            ClusterError::Config { context, .. } => format!("check the cluster and user entries of context '{context}' with `kubectl config view --minify --context {context}`"),
            ClusterError::Unreachable { context, .. } => format!("check that the API server is up and reachable: `kubectl --context {context} get --raw /readyz`; raise --request-timeout on slow links"),
            ClusterError::Forbidden { context, .. } => format!("the user of context '{context}' lacks permission; `kubectl --context {context} auth can-i --list` shows what it may do"),
            ClusterError::Unauthorized { context, .. } => format!("refresh the credentials of context '{context}' (expired token or certificate?)"),
            ClusterError::Rejected { .. } => "the API server's message above says what it did not accept".into(),
            ClusterError::WebhookNotServed { context, .. } => format!("istiod does not serve its webhook yet: wait until `kubectl --context {context} -n istio-system get pods -l app=istiod` shows it Ready, then run again (mesh-join waits for it up to --timeout)"),
            ClusterError::Conflict { context, object, .. } => format!("another controller or person manages these fields of {object} in context '{context}'; change them there, or take them over with --force-conflicts (as kubectl apply --server-side --force-conflicts)"),
            ClusterError::NotServed { api_version, .. } if api_version.starts_with("sailoperator.io") => "install the Sail operator (its CRDs) on that cluster first, or choose --installer istioctl|helm".into(),
            ClusterError::NotServed { .. } => "install the CRDs for that API on the cluster".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_reads_as_a_sentence_without_a_debug_dump() {
        let status = kube::core::Status {
            code: 500,
            reason: "InternalError".into(),
            message: "error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused"
                .into(),
            ..Default::default()
        };
        let e = kube::Error::Api(Box::new(status));
        // Positive control: kube-rs' own text carries the dump.
        assert!(e.to_string().contains("Status {"), "{e}");
        let said = sentence(&e);
        assert_eq!(
            said,
            "the API server answered 500 InternalError: error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused"
        );
    }

    #[test]
    fn a_webhook_the_server_could_not_call_is_its_own_kind_and_a_denial_is_not() {
        let status = |message: &str| kube::core::Status {
            code: 500,
            reason: "InternalError".into(),
            message: message.into(),
            ..Default::default()
        };
        let unserved = r#"Internal error occurred: failed calling webhook "validation.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/validate?timeout=10s": no endpoints available for service "istiod""#;
        let e = ClusterError::api(
            "lab-1",
            "apply Gateway istio-system/x",
            kube::Error::Api(Box::new(status(unserved))),
        );
        assert!(matches!(e, ClusterError::WebhookNotServed { .. }), "{e:?}");
        assert!(e.to_string().contains("no endpoints available"), "{e}");
        assert!(e.hint().unwrap_or_default().contains("--context lab-1"));
        // Another internal error stays a rejection (positive control of the classification).
        let other = ClusterError::api(
            "lab-1",
            "apply",
            kube::Error::Api(Box::new(status("etcdserver: request timed out"))),
        );
        assert!(
            matches!(other, ClusterError::Rejected { code: 500, .. }),
            "{other:?}"
        );
    }

    #[test]
    fn conflicts_are_read_from_the_status_causes() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 1 conflict: conflict with \"gitops\" using sailoperator.io/v1: .spec.version",
            "details": {"causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"gitops\" using sailoperator.io/v1", "field": ".spec.version"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"helm\"", "field": ".metadata.labels.a"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            field_conflicts(&status),
            vec![
                FieldConflict {
                    field: ".spec.version".into(),
                    manager: "gitops".into()
                },
                FieldConflict {
                    field: ".metadata.labels.a".into(),
                    manager: "helm".into()
                },
            ]
        );
        let plain: kube::core::Status = serde_json::from_value(
            serde_json::json!({"status": "Failure", "code": 409, "message": "AlreadyExists"}),
        )
        .unwrap();
        assert!(field_conflicts(&plain).is_empty());
    }
}
