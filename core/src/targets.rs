//! Connecting to every cluster a command concerns, in parallel, before anything is planned.
//!
//! A multi-cluster command first proves it can reach each API server (`GET /version`), so an
//! unreachable context stops it before any cluster is changed, with that context named.

use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::kubeconfig::KubeconfigSource;
use std::time::Duration;

/// A cluster to work on: the mesh's name for it and the connection.
#[derive(Debug, Clone)]
pub struct Target {
    /// Cluster name (mesh name, or the context when none is given).
    pub name: String,
    /// The connection.
    pub kube: Kube,
    /// The API server's version, from the reachability probe.
    pub version: String,
}

/// Connects to each `(name, context)` and probes it, all in parallel.
pub async fn connect_all(
    source: &KubeconfigSource,
    clusters: &[(String, String)],
    timeout: Option<Duration>,
) -> Result<Vec<Target>, ClusterError> {
    let tasks = clusters.iter().map(|(name, context)| async move {
        let kube = Kube::connect(source, context, timeout).await?;
        let version = match timeout {
            Some(t) => tokio::time::timeout(t, kube.version())
                .await
                .map_err(|_| ClusterError::Unreachable {
                    context: context.clone(),
                    operation: "GET /version".into(),
                    reason: format!("no answer within {}s", t.as_secs_f64()),
                })??,
            None => kube.version().await?,
        };
        Ok::<_, ClusterError>(Target {
            name: name.clone(),
            kube,
            version,
        })
    });
    futures::future::join_all(tasks).await.into_iter().collect()
}

/// Parses kubectl's `--request-timeout` (`0`, `30s`, `2m`, `1h30m`, or plain seconds) with the
/// one duration parser ([`crate::cli::parse_duration`]); `None` for `0` (no limit).
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, Error> {
    let d = crate::cli::parse_duration(text).map_err(|e| {
        Error::input(
            format!("invalid --request-timeout: {e}"),
            "give a duration such as 10s, 1m or 0 (no limit)",
        )
    })?;
    Ok((!d.is_zero()).then_some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_durations() {
        assert_eq!(parse_timeout("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert!(
            parse_timeout("soon")
                .unwrap_err()
                .to_string()
                .contains("'soon'")
        );
    }
}
