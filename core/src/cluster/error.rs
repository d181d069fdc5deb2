//! Cluster errors: always the context, the operation and the object, plus a hint.

use crate::error::Hinted;
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
            | ClusterError::NotServed { context, .. } => context,
        }
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
            ClusterError::NotServed { api_version, .. } if api_version.starts_with("sailoperator.io") => "install the Sail operator (its CRDs) on that cluster first, or choose --installer istioctl|helm".into(),
            ClusterError::NotServed { .. } => "install the CRDs for that API on the cluster".into(),
        })
    }
}
