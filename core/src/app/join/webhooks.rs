//! Istio config (Gateways, VirtualServices) passes the cluster's validating webhook, which its
//! istiod serves. Right after a change of role (a remote turned primary) the charts re-render
//! the webhook configurations and the new istiod has yet to patch in its CA bundle: the API
//! server then refuses with `failed calling webhook "validation.istio.io": … x509: certificate
//! signed by unknown authority`. Such a refusal means "not served yet", not "invalid": it is
//! waited out (every 2 s, up to `--timeout`); a webhook that answers and denies, and any other
//! error, stops the run at once.

use std::time::{Duration, Instant};

/// How often a stage refused by an unserved webhook is tried again.
pub const EVERY: Duration = Duration::from_secs(2);

/// True when an API server's refusal says it could not reach or trust a webhook (as opposed
/// to a webhook that answered and denied: "admission webhook … denied the request").
pub fn not_served(message: &str) -> bool {
    message.contains("failed calling webhook")
}

/// Whether a stage refused with `message` is tried again: an unserved webhook, while the
/// next try still falls before `deadline`.
pub fn worth_waiting(message: &str, deadline: Instant) -> bool {
    not_served(message) && Instant::now() + EVERY < deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    const X509: &str = r#"apply Gateway istio-system/cross-network-gateway failed: Internal error occurred: failed calling webhook "validation.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority"#;
    const DENIED: &str = r#"admission webhook "validation.istio.io" denied the request: configuration is invalid: port name must be set"#;

    #[test]
    fn an_unreachable_or_untrusted_webhook_is_not_served_and_a_denial_is_an_answer() {
        assert!(not_served(X509));
        assert!(!not_served(DENIED));
    }

    #[test]
    fn only_an_unserved_webhook_is_waited_for_and_only_until_the_deadline() {
        let later = Instant::now() + Duration::from_secs(60);
        assert!(worth_waiting(X509, later));
        assert!(!worth_waiting(DENIED, later), "a denial is final");
        assert!(!worth_waiting(
            X509,
            Instant::now() + Duration::from_secs(1)
        ));
    }
}
