//! The reader token a source cluster's controller manager issues, read and waited for.

use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::remote_secret;
use std::time::{Duration, Instant};

/// Reads the token Secret of a source cluster: `(ca.crt base64, token)` once filled.
pub async fn read_token(kube: &Kube) -> Result<Option<(String, String)>, ClusterError> {
    use base64::Engine as _;
    let name = remote_secret::token_secret_name();
    let Some(s) = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), &name)
        .await?
    else {
        return Ok(None);
    };
    let ca = s["data"]["ca.crt"].as_str().unwrap_or_default().to_string();
    let token = s["data"]["token"]
        .as_str()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .unwrap_or_default();
    Ok((!ca.is_empty() && !token.is_empty()).then_some((ca, token)))
}

/// Waits until the controller manager has filled the token Secret.
pub async fn wait_token(kube: &Kube, timeout: Duration) -> Result<(String, String), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = read_token(kube).await? {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(Error::input(
                format!(
                    "context {}: {ISTIO_NAMESPACE}/{} has no token after {}s",
                    kube.context,
                    remote_secret::token_secret_name(),
                    timeout.as_secs()
                ),
                "the cluster's kube-controller-manager fills service-account-token Secrets; check that it runs (and has --service-account-private-key-file)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
