//! The reader token a source cluster's controller manager issues, read and waited for: the
//! current one is named by the record on the reader ServiceAccount (see
//! [`crate::app::credentials::record`]).

use crate::app::credentials::record;
use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use crate::manifests::remote_secret;
use std::time::{Duration, Instant};

/// The reader token Secret remote secrets embed now: the one the record on the reader
/// ServiceAccount names (a rotated cluster), else the join's.
pub async fn current_token_name(kube: &Kube) -> Result<String, Error> {
    let sa = kube
        .get(
            "v1",
            "ServiceAccount",
            Some(ISTIO_NAMESPACE),
            READER_SERVICE_ACCOUNT,
        )
        .await?;
    let Some(sa) = sa else {
        return Ok(remote_secret::token_secret_name());
    };
    let record = record::of_service_account(&sa).map_err(|e| {
        Error::input(
            format!("context {}: {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT}: {e}", kube.context),
            "remove the annotation to fall back to the join's token, then run kubectl mesh-join rotate-credentials",
        )
    })?;
    Ok(record.token)
}

/// Reads the current token Secret of a source cluster: `(ca.crt base64, token)` once filled.
pub async fn read_token(kube: &Kube) -> Result<Option<(String, String)>, Error> {
    let name = current_token_name(kube).await?;
    Ok(read_token_named(kube, &name).await?)
}

/// Reads the token Secret `name`: `(ca.crt base64, token)` once filled.
pub async fn read_token_named(
    kube: &Kube,
    name: &str,
) -> Result<Option<(String, String)>, ClusterError> {
    use base64::Engine as _;
    let Some(s) = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), name)
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

/// Waits until the controller manager has filled the current token Secret.
pub async fn wait_token(kube: &Kube, timeout: Duration) -> Result<(String, String), Error> {
    let name = current_token_name(kube).await?;
    wait_token_named(kube, &name, timeout).await
}

/// Waits until the controller manager has filled the token Secret `name`.
pub async fn wait_token_named(
    kube: &Kube,
    name: &str,
    timeout: Duration,
) -> Result<(String, String), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = read_token_named(kube, name).await? {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(Error::input(
                format!(
                    "context {}: {ISTIO_NAMESPACE}/{name} has no token after {}s",
                    kube.context,
                    timeout.as_secs()
                ),
                "the cluster's kube-controller-manager fills service-account-token Secrets; check that it runs (and has --service-account-private-key-file)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
