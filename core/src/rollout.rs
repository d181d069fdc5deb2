//! Whether a Deployment runs its current spec, as `kubectl rollout status` judges it (pure):
//! the controller observed the current generation, every replica is updated and available,
//! and no old replica is left. A Deployment scaled to 0 is complete for the controller but runs
//! nothing, so it is told apart. Used by `mesh-verify`'s `network.eastwest-pods` and by
//! `rotate-credentials`' wait for a rolled istiod.

use serde_json::Value;
use std::fmt;

/// What a Deployment's status says about its current spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// The status describes an earlier generation.
    Stale {
        /// `metadata.generation`.
        generation: i64,
        /// `status.observedGeneration`.
        observed: i64,
    },
    /// `spec.replicas` is 0: nothing runs.
    ScaledToZero,
    /// Still rolling out, or replicas unavailable.
    Progressing {
        /// `spec.replicas`.
        wanted: i64,
        /// `status.updatedReplicas`.
        updated: i64,
        /// `status.availableReplicas`.
        available: i64,
        /// Replicas of older templates still there.
        old: i64,
    },
    /// Every wanted replica updated and available, none old.
    Complete {
        /// `spec.replicas`.
        replicas: i64,
    },
}

/// Judges a Deployment as the API server returns it.
pub fn rollout(d: &Value) -> Rollout {
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let s = &d["status"];
    let (generation, observed) = (n(&d["metadata"]["generation"]), n(&s["observedGeneration"]));
    if observed < generation {
        return Rollout::Stale {
            generation,
            observed,
        };
    }
    let wanted = d["spec"]["replicas"].as_i64().unwrap_or(1);
    if wanted == 0 {
        return Rollout::ScaledToZero;
    }
    let (updated, available) = (n(&s["updatedReplicas"]), n(&s["availableReplicas"]));
    let old = (n(&s["replicas"]) - updated).max(0);
    if updated >= wanted && old == 0 && available >= wanted {
        Rollout::Complete { replicas: wanted }
    } else {
        Rollout::Progressing {
            wanted,
            updated,
            available,
            old,
        }
    }
}

impl fmt::Display for Rollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollout::Stale {
                generation,
                observed,
            } => write!(
                f,
                "the Deployment controller has not observed generation {generation} yet (status is for {observed})"
            ),
            Rollout::ScaledToZero => f.write_str("scaled to 0 replicas: nothing runs"),
            Rollout::Progressing {
                wanted,
                updated,
                available,
                old,
            } => write!(
                f,
                "{available} of {wanted} replica(s) available, {updated} updated, {old} old"
            ),
            Rollout::Complete { replicas } => {
                write!(f, "{replicas} replica(s) updated and available")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(generation: i64, replicas: i64, status: Value) -> Value {
        json!({"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn complete_needs_the_current_generation_every_replica_updated_available_and_none_old() {
        let done = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(
            rollout(&d(3, 2, done.clone())),
            Rollout::Complete { replicas: 2 }
        );
        assert_eq!(
            rollout(&d(4, 2, done.clone())),
            Rollout::Stale {
                generation: 4,
                observed: 3
            }
        );
        let mut old = done.clone();
        old["replicas"] = json!(3);
        assert!(matches!(
            rollout(&d(3, 2, old)),
            Rollout::Progressing { old: 1, .. }
        ));
        let mut unavailable = done;
        unavailable["availableReplicas"] = json!(1);
        let r = rollout(&d(3, 2, unavailable));
        assert_eq!(
            r.to_string(),
            "1 of 2 replica(s) available, 2 updated, 0 old"
        );
    }

    #[test]
    fn scaled_to_zero_is_told_apart_and_a_missing_replicas_means_one() {
        let status = json!({"observedGeneration": 2});
        assert_eq!(rollout(&d(2, 0, status.clone())), Rollout::ScaledToZero);
        let mut unset = d(2, 0, status);
        unset["spec"] = json!({});
        assert!(matches!(
            rollout(&unset),
            Rollout::Progressing { wanted: 1, .. }
        ));
    }
}
