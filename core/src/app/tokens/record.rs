//! The record of a cluster's reader credential: an annotation on the reader ServiceAccount in
//! the cluster being read ([`READER_TOKEN_ANNOTATION`]).
//!
//! Why there and not in a file beside the certificates: the record describes an object of
//! that cluster (which token Secret is current, which one waits to be revoked), so it travels
//! with the cluster: every operator and every machine sees the same record, `mesh-join` reads
//! it to embed the current token (instead of minting the join's token again), and losing a
//! workstation loses nothing. It holds names only, never a token. It is written by a merge
//! patch of that one annotation, so whoever made the ServiceAccount (the Istio charts) keeps
//! every other field.

use crate::labels::READER_TOKEN_ANNOTATION;
use crate::manifests::remote_secret::token_secret_name_of;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a cluster's reader credential stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The generation of the current token Secret (0: the join's).
    pub generation: u32,
    /// The current token Secret (what remote secrets embed, or are being moved to).
    pub token: String,
    /// The token Secret being replaced; set while a rotation is in progress, gone once it
    /// was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// When the last rotation started (RFC 3339).
    pub started: String,
    /// When the last rotation revoked the previous token (RFC 3339); `None` while in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Short-lived mode: the current Secret is an anchor (Opaque, no token) that bound tokens
    /// of this lifetime are minted against (TokenRequest); `None`: a long-lived token Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

impl TokenRecord {
    /// The record of a cluster no rotation has touched: the join's token.
    pub fn initial() -> TokenRecord {
        TokenRecord {
            generation: 0,
            token: token_secret_name_of(0),
            previous: None,
            started: String::new(),
            finished: None,
            ttl_seconds: None,
        }
    }

    /// The record of a rotation that starts now from `self`, to a credential of lifetime
    /// `ttl_seconds` (`None`: a long-lived token Secret).
    pub fn next(&self, now: &str, ttl_seconds: Option<u64>) -> TokenRecord {
        let generation = self.generation + 1;
        TokenRecord {
            generation,
            token: token_secret_name_of(generation),
            previous: Some(self.token.clone()),
            started: now.to_string(),
            finished: None,
            ttl_seconds,
        }
    }

    /// The record once the previous token was revoked.
    pub fn finish(&self, now: &str) -> TokenRecord {
        TokenRecord {
            previous: None,
            finished: Some(now.to_string()),
            ..self.clone()
        }
    }

    /// Whether a rotation is in progress (a previous token is still to be revoked).
    pub fn in_progress(&self) -> bool {
        self.previous.is_some()
    }

    /// The annotation's value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The record on a live reader ServiceAccount: [`TokenRecord::initial`] without the
/// annotation, an error naming the annotation when it is not a record.
pub fn of_service_account(sa: &Value) -> Result<TokenRecord, String> {
    match sa["metadata"]["annotations"][READER_TOKEN_ANNOTATION].as_str() {
        None => Ok(TokenRecord::initial()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("annotation {READER_TOKEN_ANNOTATION} is not a record: {e}")),
    }
}

/// A merge patch that sets the record (and nothing else).
pub fn patch(record: &TokenRecord) -> Value {
    serde_json::json!({"metadata": {"annotations": {READER_TOKEN_ANNOTATION: record.to_annotation()}}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rotation_moves_one_generation_and_remembers_what_to_revoke() {
        let r0 = TokenRecord::initial();
        assert_eq!(
            r0.token,
            "istio-reader-service-account-istio-remote-secret-token"
        );
        assert!(!r0.in_progress());
        let r1 = r0.next("2026-01-01T00:00:00Z", None);
        assert_eq!(r1.generation, 1);
        assert_eq!(
            r1.token,
            "istio-reader-service-account-istio-remote-secret-token-1"
        );
        assert_eq!(r1.previous.as_deref(), Some(r0.token.as_str()));
        assert!(r1.in_progress());
        let done = r1.finish("2026-01-01T00:01:00Z");
        assert!(!done.in_progress());
        assert_eq!(done.token, r1.token);
        assert_eq!(
            done.next("t", None).previous.as_deref(),
            Some(r1.token.as_str())
        );
    }

    #[test]
    fn the_record_round_trips_through_the_annotation_and_a_bad_one_is_named() {
        let r = TokenRecord::initial().next("t", Some(600));
        let sa = json!({"metadata": {"annotations": {READER_TOKEN_ANNOTATION: r.to_annotation()}}});
        assert_eq!(of_service_account(&sa).unwrap(), r);
        assert_eq!(
            of_service_account(&json!({"metadata": {}})).unwrap(),
            TokenRecord::initial()
        );
        let bad = json!({"metadata": {"annotations": {READER_TOKEN_ANNOTATION: "{"}}});
        assert!(
            of_service_account(&bad)
                .unwrap_err()
                .contains(READER_TOKEN_ANNOTATION)
        );
        assert!(!r.to_annotation().contains("token\":\"ey"), "names only");
        assert_eq!(
            patch(&r)["metadata"]["annotations"][READER_TOKEN_ANNOTATION],
            r.to_annotation()
        );
    }
}
