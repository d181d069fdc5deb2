//! Short-lived reader credentials: tokens from the TokenRequest API, bound to an anchor
//! Secret ([`remote_secret::anchor_secret`]) so that deleting the anchor revokes them, and
//! renewed (re-minted against the same anchor) once less than half of their life is left —
//! before `mesh-verify` warns (a third) and well before they expire.

use crate::checks::expiry;
use crate::cluster::{Cluster, ClusterError};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use base64::Engine as _;

/// The shortest lifetime the TokenRequest API issues (`expirationSeconds` ≥ 600).
pub const MIN_TTL_SECONDS: u64 = 600;

/// The Secret a bound token is bound to: `(name, uid)` from its `kubernetes.io` claims.
pub fn binding(token: &str) -> Option<(String, String)> {
    let claims = expiry::claims(token).ok()?;
    let secret = &claims["kubernetes.io"]["secret"];
    Some((
        secret["name"].as_str()?.to_string(),
        secret["uid"].as_str()?.to_string(),
    ))
}

/// Whether `token` is bound to the anchor `(name, uid)` and has more than half of its life
/// left at `now` (Unix seconds): otherwise it is renewed.
pub fn fresh(token: &str, anchor: (&str, &str), now: i64) -> bool {
    let bound = binding(token).is_some_and(|(n, u)| n == anchor.0 && u == anchor.1);
    let left = match expiry::of_token(token) {
        expiry::Lifetime::Until {
            issued: Some(issued),
            expires,
            ..
        } => (expires - now) * 2 > expires - issued,
        _ => false,
    };
    bound && left
}

/// The anchor Secret's UID in the source cluster, if it exists.
pub async fn anchor_uid(kube: &impl Cluster, name: &str) -> Result<Option<String>, ClusterError> {
    let s = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), name)
        .await?;
    Ok(s.and_then(|s| s["metadata"]["uid"].as_str().map(str::to_string)))
}

/// The cluster's CA as remote secrets embed it (base64 PEM), from the namespace's
/// `kube-root-ca.crt`, which the controller manager publishes.
pub async fn root_ca(kube: &impl Cluster) -> Result<Option<String>, ClusterError> {
    let root = kube
        .get("v1", "ConfigMap", Some(ISTIO_NAMESPACE), "kube-root-ca.crt")
        .await?;
    Ok(root
        .as_ref()
        .and_then(|c| c["data"]["ca.crt"].as_str())
        .map(|pem| base64::engine::general_purpose::STANDARD.encode(pem)))
}

/// Mints a token for the reader ServiceAccount bound to the anchor `name`, valid for
/// `ttl_seconds`: `(ca.crt base64, token)`, the CA from the namespace's `kube-root-ca.crt`.
pub async fn mint(
    kube: &impl Cluster,
    name: &str,
    ttl_seconds: u64,
) -> Result<(String, String), Error> {
    let ctx = kube.context();
    let uid = anchor_uid(kube, name).await?.ok_or_else(|| {
        Error::input(
            format!("context {ctx}: {ISTIO_NAMESPACE}/{name} (the anchor of the reader's short-lived tokens) does not exist"),
            "run kubectl mesh-join rotate-credentials again: it creates the anchor first",
        )
    })?;
    let token = kube
        .request_token(
            ISTIO_NAMESPACE,
            READER_SERVICE_ACCOUNT,
            (name, &uid),
            ttl_seconds,
        )
        .await?;
    let ca = root_ca(kube).await?.unwrap_or_default();
    if token.is_empty() || ca.is_empty() {
        return Err(Error::input(
            format!(
                "context {ctx}: no token, or no {ISTIO_NAMESPACE}/kube-root-ca.crt to embed beside it"
            ),
            "the cluster's kube-controller-manager publishes kube-root-ca.crt in every namespace; check that it runs",
        ));
    }
    Ok((ca, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(claims))
    }

    #[test]
    fn a_token_is_fresh_while_bound_to_the_anchor_with_more_than_half_its_life_left() {
        let t =
            jwt(r#"{"iat":1000,"exp":1600,"kubernetes.io":{"secret":{"name":"a-1","uid":"u1"}}}"#);
        assert_eq!(binding(&t), Some(("a-1".into(), "u1".into())));
        assert!(fresh(&t, ("a-1", "u1"), 1000));
        assert!(fresh(&t, ("a-1", "u1"), 1299));
        assert!(!fresh(&t, ("a-1", "u1"), 1300), "half its life is gone");
        assert!(!fresh(&t, ("a-1", "u2"), 1000), "a re-created anchor");
        assert!(
            !fresh(&t, ("a-2", "u1"), 1000),
            "another generation's anchor"
        );
        let legacy = jwt(r#"{"sub":"system:serviceaccount:istio-system:r"}"#);
        assert_eq!(binding(&legacy), None);
        assert!(!fresh(&legacy, ("a-1", "u1"), 1000));
        assert!(!fresh("not-a-jwt", ("a-1", "u1"), 1000));
    }
}
