//! The reader credential as the source cluster has it: the record on the reader
//! ServiceAccount, and the token Secrets the controller manager fills.

use super::record::{self, TokenRecord};
use crate::cluster::{Cluster, ClusterError};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use std::time::{Duration, Instant};

/// The record on `source`'s reader ServiceAccount; refused when the account is missing.
pub async fn read_record(kube: &impl Cluster, source: &str) -> Result<TokenRecord, Error> {
    let sa = kube
        .get("v1", "ServiceAccount", Some(ISTIO_NAMESPACE), READER_SERVICE_ACCOUNT)
        .await?
        .ok_or_else(|| {
            Error::input(
                format!("cluster '{source}' (context {}): {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT} does not exist: the cluster was not joined", kube.context()),
                "run kubectl mesh-join -f FILE first (with --create-reader where no Istio installer made the account)",
            )
        })?;
    let record = record::of_service_account(&sa).map_err(|e| {
        Error::input(
            format!("cluster '{source}' (context {}): {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT}: {e}", kube.context()),
            "remove the annotation (kubectl annotate sa … kubectl-mesh.io/reader-token-) and run again",
        )
    })?;
    Ok(super::mode::complete(kube, record).await?)
}

/// Reads the token Secret `name`: `(ca.crt base64, token)` once filled.
pub async fn read_token_named(
    kube: &impl Cluster,
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

/// Waits until the controller manager has filled the token Secret `name`.
pub async fn wait_token_named(
    kube: &impl Cluster,
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
                    kube.context(),
                    timeout.as_secs()
                ),
                "the cluster's kube-controller-manager fills service-account-token Secrets; check that it runs (and has --service-account-private-key-file)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
