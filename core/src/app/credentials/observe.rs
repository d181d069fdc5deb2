//! Reading what a rotation decides from: the record and token Secrets in the source cluster,
//! and the remote secret for it in each reading cluster.

use super::plan::{Embedded, Observed};
use crate::app::tokens::record::TokenRecord;
use crate::app::tokens::{Embedding, embedding, read_record, read_token_named};
use crate::cluster::Cluster;
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, REMOTE_SECRET_PREFIX};

async fn secret_exists(kube: &impl Cluster, name: &str) -> Result<bool, Error> {
    Ok(kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), name)
        .await?
        .is_some())
}

/// Which token counts as current: the long-lived token Secret's, or (short-lived mode) any
/// fresh token bound to the anchor with this UID.
enum Current {
    Token(Option<String>),
    Bound(Option<String>),
}

impl Current {
    fn embedded_by(&self, e: &Embedding, record: &TokenRecord, now: i64) -> Embedded {
        let current = match self {
            Current::Token(t) => {
                !e.token.expose().is_empty() && t.as_deref() == Some(e.token.expose().as_str())
            }
            Current::Bound(uid) => uid.as_deref().is_some_and(|u| {
                crate::app::tokens::bound::fresh(e.token.expose(), (&record.token, u), now)
            }),
        };
        if current {
            Embedded::Current
        } else {
            Embedded::Other
        }
    }
}

/// Everything the plan of one source needs, plus each reader's embedding (to keep its server).
/// `now` is Unix seconds (a short-lived token past half its life is not current).
pub async fn observe<C: Cluster>(
    source: &str,
    kube: &C,
    readers: &[(String, &C)],
    now: i64,
) -> Result<(Observed, Vec<Option<Embedding>>), Error> {
    let record = read_record(kube, source).await?;
    let current_exists = secret_exists(kube, &record.token).await?;
    let current = match record.ttl_seconds {
        None => Current::Token(read_token_named(kube, &record.token).await?.map(|(_, t)| t)),
        Some(_) => {
            Current::Bound(crate::app::tokens::bound::anchor_uid(kube, &record.token).await?)
        }
    };
    let previous_exists = match &record.previous {
        Some(p) => secret_exists(kube, p).await?,
        None => false,
    };
    let name = format!("{REMOTE_SECRET_PREFIX}{source}");
    let mut states = Vec::new();
    let mut embeddings = Vec::new();
    for (r, rk) in readers {
        let live = rk.get("v1", "Secret", Some(ISTIO_NAMESPACE), &name).await?;
        let emb = live.as_ref().and_then(|s| embedding(s, source));
        let state = match &emb {
            None => Embedded::Missing,
            Some(e) => current.embedded_by(e, &record, now),
        };
        states.push((r.clone(), state));
        embeddings.push(emb);
    }
    let observed = Observed {
        source: source.to_string(),
        record,
        current_exists,
        previous_exists,
        readers: states,
    };
    Ok((observed, embeddings))
}
