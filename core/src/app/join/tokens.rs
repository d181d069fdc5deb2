//! The reader credential a join embeds in remote secrets, and the mode it renders the reader
//! token Secret in: the current token is named by the record on the reader ServiceAccount
//! (see [`crate::app::tokens::record`]).

use crate::app::tokens::{bound, embedding, mode, read_token_named, record, wait_token_named};
use crate::cluster::Cluster;
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use std::time::Duration;

/// The record on the reader ServiceAccount ([`record::TokenRecord::initial`] without one).
pub async fn current_record(kube: &impl Cluster) -> Result<record::TokenRecord, Error> {
    let sa = kube
        .get(
            "v1",
            "ServiceAccount",
            Some(ISTIO_NAMESPACE),
            READER_SERVICE_ACCOUNT,
        )
        .await?;
    let record = match sa {
        None => record::TokenRecord::initial(),
        Some(sa) => record::of_service_account(&sa).map_err(|e| {
            Error::input(
                format!("context {}: {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT}: {e}", kube.context()),
                "remove the annotation to fall back to the join's token, then run kubectl mesh-join rotate-credentials",
            )
        })?,
    };
    Ok(mode::complete(kube, record).await?)
}

/// The cluster's credential record and the lifetime its reader Secret is rendered with (see
/// [`mode::join_ttl`]): `--token-ttl` starts short-lived tokens on a cluster that has no
/// reader credential yet; on one that has another mode it is refused, naming the mode.
pub async fn reader_mode(
    opts: &super::JoinOptions,
    c: &crate::mesh::ClusterSpec,
    kube: &impl Cluster,
) -> Result<(record::TokenRecord, Option<u64>), Error> {
    let record = current_record(kube).await?;
    if opts.token_ttl.is_none() || !crate::topology::is_read(&opts.mesh, &c.name) {
        return Ok((record.clone(), record.ttl_seconds));
    }
    let exists = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), &record.token)
        .await?
        .is_some();
    match mode::join_ttl(&record, exists, opts.token_ttl) {
        Ok(ttl) => Ok((record, ttl)),
        Err(e) => Err(Error::input(
            format!(
                "--token-ttl: cluster '{}' (context {}): {e}",
                c.name,
                kube.context()
            ),
            "switch it with kubectl mesh-join rotate-credentials -f FILE --token-ttl DURATION (the old tokens are revoked once every istiod confirmed the new ones); nothing was written",
        )),
    }
}

/// The credential remote secrets for a source embed: `(ca.crt base64, token)`. A long-lived
/// token Secret's token (waited for with `wait`, else `None` until filled); in short-lived
/// mode (the record has a TTL) a fresh token bound to the current anchor that one of the
/// `readers`' remote secrets already holds (so a second join changes nothing), else with
/// `wait` a newly minted one, else `None`.
pub async fn credential<C: Cluster>(
    source: &C,
    source_name: &str,
    readers: &[&C],
    wait: bool,
) -> Result<Option<(String, String)>, Error> {
    let record = current_record(source).await?;
    let Some(ttl) = record.ttl_seconds else {
        return Ok(match wait {
            true => Some(wait_token_named(source, &record.token, Duration::from_secs(30)).await?),
            false => read_token_named(source, &record.token).await?,
        });
    };
    let (Some(uid), Some(ca)) = (
        bound::anchor_uid(source, &record.token).await?,
        bound::root_ca(source).await?,
    ) else {
        return Ok(None);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let name = format!("{}{source_name}", crate::labels::REMOTE_SECRET_PREFIX);
    for r in readers {
        let live = r.get("v1", "Secret", Some(ISTIO_NAMESPACE), &name).await?;
        let held = live.as_ref().and_then(|s| embedding(s, source_name));
        if let Some(e) = held.filter(|e| bound::fresh(e.token.expose(), (&record.token, &uid), now))
        {
            return Ok(Some((ca, e.token.expose().clone())));
        }
    }
    match wait {
        true => Ok(Some(bound::mint(source, &record.token, ttl).await?)),
        false => Ok(None),
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
