//! Whether a Sail resource (`Istio`, `IstioCNI`) is ready for the spec it has now.
//!
//! A status describes the generation its writer observed. After a change to the spec, the
//! `Ready=True` left from the previous generation is still there until the operator reconciles
//! again: believing it would end a join's wait at once and show ✔ in verify for a spec nothing
//! has applied. So a status counts only when `status.observedGeneration` equals
//! `metadata.generation` (the Sail operator sets it on every reconcile:
//! `status.ObservedGeneration = istio.Generation` in its `determineStatus`). Then the
//! conditions are read in the order that names the cause first: `Reconciled` (the operator
//! could not apply it), `DependenciesHealthy` (the revision waits on something else, such as an
//! `IstioCNI` the profile needs: `IstioCNINotFound`), then `Ready`.
//!
//! One pure judgement, used by `mesh-join`'s wait and by `mesh-verify`'s
//! `control-plane.istio-ready` and `control-plane.cni-ready`.

use serde_json::Value;
use std::fmt;

/// What a Sail resource's status says about its current spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// No conditions at all: no operator has reconciled it yet.
    NoStatus,
    /// The status describes an earlier generation (`observed`; `None`: it names none).
    Stale {
        /// `metadata.generation`.
        generation: i64,
        /// `status.observedGeneration`.
        observed: Option<i64>,
    },
    /// A condition that is not `True`: `Reconciled`, `DependenciesHealthy` or `Ready` (or
    /// `Ready` missing, reason `NoReadyCondition`).
    Failed {
        /// The condition type.
        condition: String,
        /// Its status (`False`, `Unknown`, or empty when missing).
        status: String,
        /// Its reason.
        reason: String,
        /// Its message.
        message: String,
    },
    /// Observed for the current generation, reconciled, dependencies healthy and `Ready=True`.
    Ready,
}

fn condition<'a>(resource: &'a Value, kind: &str) -> Option<&'a Value> {
    resource["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// Judges `resource` (a Sail `Istio` or `IstioCNI` as the API server returns it).
pub fn judge(resource: &Value) -> Judgement {
    let has_conditions = resource["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| !cs.is_empty());
    if !has_conditions {
        return Judgement::NoStatus;
    }
    if let Some(generation) = resource["metadata"]["generation"].as_i64() {
        let observed = resource["status"]["observedGeneration"].as_i64();
        if observed != Some(generation) {
            return Judgement::Stale {
                generation,
                observed,
            };
        }
    }
    for kind in ["Reconciled", "DependenciesHealthy", "Ready"] {
        if let Some(c) = condition(resource, kind).filter(|c| c["status"] != "True") {
            return Judgement::Failed {
                condition: kind.into(),
                status: text(c, "status"),
                reason: text(c, "reason"),
                message: text(c, "message"),
            };
        }
    }
    match condition(resource, "Ready") {
        Some(_) => Judgement::Ready,
        None => Judgement::Failed {
            condition: "Ready".into(),
            status: String::new(),
            reason: "NoReadyCondition".into(),
            message: "the status has no Ready condition".into(),
        },
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judgement::NoStatus => f.write_str("no status: no operator has reconciled it"),
            Judgement::Stale {
                generation,
                observed: Some(o),
            } => write!(
                f,
                "its status describes generation {o}, the spec is at generation {generation}: the operator has not reconciled the current spec"
            ),
            Judgement::Stale {
                generation,
                observed: None,
            } => write!(
                f,
                "its status names no observedGeneration, the spec is at generation {generation}: the operator has not reconciled the current spec"
            ),
            Judgement::Failed {
                condition,
                status,
                reason,
                message,
            } if status.is_empty() => write!(f, "{condition} {reason}: {message}"),
            Judgement::Failed {
                condition,
                status,
                reason,
                message,
            } => write!(f, "{condition}={status} {reason}: {message}"),
            Judgement::Ready => f.write_str("Ready for the current generation"),
        }
    }
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
