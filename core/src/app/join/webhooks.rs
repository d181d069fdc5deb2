//! Istio config (Gateways, VirtualServices) passes the cluster's validating webhook, which its
//! istiod serves. Right after a change of role (a remote turned primary) the charts re-render
//! the webhook configurations and the new istiod has yet to patch in its CA bundle: the API
//! server then refuses with `failed calling webhook "validation.istio.io": … x509: certificate
//! signed by unknown authority`. Such a refusal means "not served yet", not "invalid": it is
//! waited out (every 2 s, up to `--timeout`); a webhook that answers and denies, and any other
//! error, stops the run at once.

use crate::cluster::ClusterError;
use crate::error::Error;
use std::time::{Duration, Instant};

/// How often a stage refused by an unserved webhook is tried again.
pub const EVERY: Duration = Duration::from_secs(2);

/// True when a stage failed because an API server could not reach or trust a webhook
/// ([`ClusterError::WebhookNotServed`], classified where the server's answer is read), as
/// opposed to a webhook that answered and denied, or any other failure.
pub fn not_served(error: &Error) -> bool {
    let cluster = match error {
        Error::Stage { source, .. } => source.as_ref(),
        Error::Cluster(e) => e,
        _ => return false,
    };
    matches!(cluster, ClusterError::WebhookNotServed { .. })
}

/// Whether a stage that failed with `error` is tried again: an unserved webhook, while the
/// next try still falls before `deadline`.
pub fn worth_waiting(error: &Error, deadline: Instant) -> bool {
    not_served(error) && Instant::now() + EVERY < deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_failed(source: ClusterError) -> Error {
        Error::Stage {
            stage: "apply gateways".into(),
            cluster: "east".into(),
            source: Box::new(source),
            finished: "no other cluster finished this step".into(),
        }
    }

    fn unserved() -> Error {
        stage_failed(ClusterError::WebhookNotServed {
            context: "lab-1".into(),
            operation: "apply Gateway istio-system/cross-network-gateway".into(),
            message: r#"failed calling webhook "validation.istio.io": x509: certificate signed by unknown authority"#.into(),
        })
    }

    fn denied() -> Error {
        stage_failed(ClusterError::Rejected {
            context: "lab-1".into(),
            operation: "apply Gateway istio-system/cross-network-gateway".into(),
            code: 400,
            message: r#"admission webhook "validation.istio.io" denied the request: failed calling webhook (quoted by the webhook)"#.into(),
        })
    }

    #[test]
    fn an_unreachable_or_untrusted_webhook_is_not_served_and_a_denial_is_an_answer() {
        assert!(not_served(&unserved()));
        // A denial stays a denial whatever its text says.
        assert!(!not_served(&denied()));
    }

    #[test]
    fn only_an_unserved_webhook_is_waited_for_and_only_until_the_deadline() {
        let later = Instant::now() + Duration::from_secs(60);
        assert!(worth_waiting(&unserved(), later));
        assert!(!worth_waiting(&denied(), later), "a denial is final");
        assert!(!worth_waiting(
            &unserved(),
            Instant::now() + Duration::from_secs(1)
        ));
    }
}
