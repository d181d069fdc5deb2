//! Reading what a rotation decides from: the record and token Secrets in the source cluster,
//! and the remote secret for it in each reading cluster.

use super::plan::{Embedded, Observed};
use super::record::{self, TokenRecord};
use crate::app::join::tokens::read_token_named;
use crate::cluster::Kube;
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT, REMOTE_SECRET_PREFIX};
use crate::secret::Secret;

/// A reader's remote secret for the source: the API server it names and its token.
#[derive(Debug, Clone, Default)]
pub struct Embedding {
    /// The server of its kubeconfig's current context (shown, never written back: a rewrite
    /// uses the server the mesh file or the user's kubeconfig gives).
    pub server: String,
    /// The inline token of its current context (empty for any other credential).
    pub token: Secret<String>,
}

/// The server and token inside a remote secret's kubeconfig for `source` (`None`: no such
/// key). The kubeconfig passes the gate for untrusted kubeconfigs first: one it refuses embeds
/// nothing usable (empty server and token), so it counts as another credential and is
/// rewritten, never used.
pub fn embedding(secret: &serde_json::Value, source: &str) -> Option<Embedding> {
    let text = crate::kubeconfig_gate::secret_text(secret, source)?;
    let admitted = text
        .ok()
        .and_then(|t| crate::kubeconfig_gate::admit(&t).ok());
    Some(match admitted {
        Some(a) => Embedding {
            token: Secret::new(a.token().unwrap_or_default().to_string()),
            server: a.server,
        },
        None => Embedding::default(),
    })
}

async fn secret_exists(kube: &Kube, name: &str) -> Result<bool, Error> {
    Ok(kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), name)
        .await?
        .is_some())
}

/// The record on `source`'s reader ServiceAccount; refused when the account is missing.
pub async fn read_record(kube: &Kube, source: &str) -> Result<TokenRecord, Error> {
    let sa = kube
        .get("v1", "ServiceAccount", Some(ISTIO_NAMESPACE), READER_SERVICE_ACCOUNT)
        .await?
        .ok_or_else(|| {
            Error::input(
                format!("cluster '{source}' (context {}): {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT} does not exist: the cluster was not joined", kube.context),
                "run kubectl mesh-join -f FILE first (with --create-reader where no Istio installer made the account)",
            )
        })?;
    let record = record::of_service_account(&sa).map_err(|e| {
        Error::input(
            format!("cluster '{source}' (context {}): {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT}: {e}", kube.context),
            "remove the annotation (kubectl annotate sa … kubectl-mesh.io/reader-token-) and run again",
        )
    })?;
    Ok(super::mode::complete(kube, record).await?)
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
            Current::Bound(uid) => uid
                .as_deref()
                .is_some_and(|u| super::bound::fresh(e.token.expose(), (&record.token, u), now)),
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
pub async fn observe(
    source: &str,
    kube: &Kube,
    readers: &[(String, &Kube)],
    now: i64,
) -> Result<(Observed, Vec<Option<Embedding>>), Error> {
    let record = read_record(kube, source).await?;
    let current_exists = secret_exists(kube, &record.token).await?;
    let current = match record.ttl_seconds {
        None => Current::Token(read_token_named(kube, &record.token).await?.map(|(_, t)| t)),
        Some(_) => Current::Bound(super::bound::anchor_uid(kube, &record.token).await?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::join::desired::as_data;
    use crate::manifests::remote_secret;

    #[test]
    fn the_server_and_token_are_read_back_from_a_remote_secret_as_join_writes_it() {
        let kc = remote_secret::kubeconfig("east", "https://10.0.0.1:6443", "Q0E=", "tok-1");
        let s = as_data(remote_secret::remote_secret("east", &kc));
        let e = embedding(&s, "east").unwrap();
        assert_eq!(e.server, "https://10.0.0.1:6443");
        assert_eq!(e.token.expose(), "tok-1");
        assert!(embedding(&s, "west").is_none());
        // A kubeconfig the gate refuses is present but embeds nothing usable.
        let exec = kc.replace("token: tok-1", "exec: {command: /bin/sh}");
        assert_ne!(exec, kc, "the probe must have changed the kubeconfig");
        let e = embedding(
            &as_data(remote_secret::remote_secret("east", &exec)),
            "east",
        )
        .unwrap();
        assert!(e.server.is_empty() && e.token.expose().is_empty(), "{e:?}");
    }
}
