//! Which credential mode a cluster is in (a long-lived token Secret, or short-lived tokens
//! bound to an anchor), and which one a join may start.
//!
//! A cluster joined with `--token-ttl` has no rotation recorded yet: its generation-0 Secret
//! is an anchor whose annotation ([`TOKEN_TTL_ANNOTATION`]) holds the lifetime, so the anchor,
//! which the join's plan shows, is where that mode is kept until a rotation records one.

use super::record::TokenRecord;
use crate::cluster::{Cluster, ClusterError};
use crate::labels::{ISTIO_NAMESPACE, TOKEN_TTL_ANNOTATION};
use serde_json::Value;

/// `record` completed with what the live generation-0 Secret says (see the module).
pub fn with_anchor(record: TokenRecord, live: Option<&Value>) -> TokenRecord {
    if record.generation != 0 || record.ttl_seconds.is_some() {
        return record;
    }
    let ttl = live
        .filter(|s| s["type"] == "Opaque")
        .and_then(|s| s["metadata"]["annotations"][TOKEN_TTL_ANNOTATION].as_str())
        .and_then(|t| t.parse().ok());
    TokenRecord {
        ttl_seconds: ttl,
        ..record
    }
}

/// [`with_anchor`] against the cluster (one read, only for a record of generation 0).
pub async fn complete(
    kube: &impl Cluster,
    record: TokenRecord,
) -> Result<TokenRecord, ClusterError> {
    if record.generation != 0 || record.ttl_seconds.is_some() {
        return Ok(record);
    }
    let live = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), &record.token)
        .await?;
    Ok(with_anchor(record, live.as_ref()))
}

/// The mode in words, for messages.
pub fn describe(record: &TokenRecord) -> String {
    match record.ttl_seconds {
        Some(t) => format!(
            "short-lived reader tokens ({} each, bound to {ISTIO_NAMESPACE}/{})",
            crate::cli::format_duration(std::time::Duration::from_secs(t)),
            record.token
        ),
        None => format!(
            "a long-lived reader token ({ISTIO_NAMESPACE}/{})",
            record.token
        ),
    }
}

/// The lifetime a join renders for a cluster that is read: `requested` (`--token-ttl`; 0 is
/// long-lived) where the cluster has no reader credential yet or already is in that mode;
/// without a request, the mode the cluster has. A request for another mode on a cluster that
/// has a credential is refused with the mode it has: switching revokes the tokens in use,
/// which `rotate-credentials` does only once every istiod confirmed the new ones.
pub fn join_ttl(
    record: &TokenRecord,
    credential_exists: bool,
    requested: Option<u64>,
) -> Result<Option<u64>, String> {
    let Some(requested) = requested else {
        return Ok(record.ttl_seconds);
    };
    let wanted = (requested != 0).then_some(requested);
    let fresh = record.generation == 0 && !credential_exists;
    if fresh || wanted == record.ttl_seconds {
        return Ok(wanted);
    }
    Err(format!(
        "it has {}; a join does not switch credential modes",
        describe(record)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn anchor(ttl: &str) -> Value {
        json!({"type": "Opaque", "metadata": {"annotations": {TOKEN_TTL_ANNOTATION: ttl}}})
    }

    #[test]
    fn a_generation_zero_anchor_carries_the_mode_until_a_rotation_records_one() {
        let r0 = TokenRecord::initial();
        assert_eq!(
            with_anchor(r0.clone(), Some(&anchor("600"))).ttl_seconds,
            Some(600)
        );
        assert_eq!(with_anchor(r0.clone(), None).ttl_seconds, None);
        let token_secret = json!({"type": "kubernetes.io/service-account-token",
            "metadata": {"annotations": {TOKEN_TTL_ANNOTATION: "600"}}});
        assert_eq!(
            with_anchor(r0.clone(), Some(&token_secret)).ttl_seconds,
            None
        );
        assert_eq!(
            with_anchor(r0.clone(), Some(&anchor("x"))).ttl_seconds,
            None
        );
        // A recorded rotation decides; the anchor is not read.
        let r1 = r0.next("t", None).finish("t");
        assert_eq!(with_anchor(r1, Some(&anchor("600"))).ttl_seconds, None);
    }

    #[test]
    fn a_join_starts_a_mode_only_on_a_cluster_without_a_credential() {
        let r0 = TokenRecord::initial();
        assert_eq!(join_ttl(&r0, false, None), Ok(None));
        assert_eq!(join_ttl(&r0, false, Some(3600)), Ok(Some(3600)));
        assert_eq!(join_ttl(&r0, false, Some(0)), Ok(None));
        // Joined long-lived: the same mode is fine, another is refused naming the one it has.
        assert_eq!(join_ttl(&r0, true, Some(0)), Ok(None));
        let e = join_ttl(&r0, true, Some(3600)).unwrap_err();
        assert!(e.contains("a long-lived reader token"), "{e}");
        // Short-lived: kept without a request, refused for another lifetime or long-lived.
        let bound = TokenRecord {
            ttl_seconds: Some(3600),
            ..r0.clone()
        };
        assert_eq!(join_ttl(&bound, true, None), Ok(Some(3600)));
        assert_eq!(join_ttl(&bound, true, Some(3600)), Ok(Some(3600)));
        let e = join_ttl(&bound, true, Some(600)).unwrap_err();
        assert!(e.contains("short-lived reader tokens (1h each"), "{e}");
        assert!(join_ttl(&bound, true, Some(0)).is_err());
        // A rotated cluster is never fresh, even if its Secret is gone.
        let r1 = r0.next("t", None).finish("t");
        assert!(join_ttl(&r1, false, Some(600)).is_err());
    }
}
