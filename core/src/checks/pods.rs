//! Status decisions for the control plane: what the operator wrote on `Istio/default`, and how
//! istiod's pods are doing. Pure: JSON and the injected `now` in, a state kind out.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What `Istio/default`'s status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IstioState {
    /// The Sail API is not served.
    ApiNotServed,
    /// No `Istio/default`.
    Missing,
    /// No conditions yet, created `age_secs` ago (`None`: no creation time), within the grace.
    Pending { age_secs: Option<i64> },
    /// No conditions after the grace period: no operator reconciled it.
    NeverReconciled { age_secs: Option<i64> },
    /// The status describes an earlier generation than the spec's.
    Stale {
        generation: i64,
        observed: Option<i64>,
    },
    /// `Reconciled=False`.
    NotReconciled { reason: String, message: String },
    /// `Ready=False` (or unknown).
    NotReady { reason: String, message: String },
    /// Observed for the current generation, `Reconciled=True` (when present),
    /// `DependenciesHealthy=True` (when present) and `Ready=True`.
    Ready,
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// Judges `Istio/default` as of `now`, allowing `grace` for a first reconcile.
pub(super) fn istio_state(
    api_served: bool,
    istio: Option<&Value>,
    now: OffsetDateTime,
    grace: time::Duration,
) -> IstioState {
    if !api_served {
        return IstioState::ApiNotServed;
    }
    let Some(i) = istio else {
        return IstioState::Missing;
    };
    use crate::readiness::Judgement;
    match crate::readiness::judge(i) {
        Judgement::NoStatus => {
            let created = i["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            let age = created.map(|c| now - c);
            let age_secs = age.map(|a| a.whole_seconds());
            match age {
                Some(a) if a < grace => IstioState::Pending { age_secs },
                _ => IstioState::NeverReconciled { age_secs },
            }
        }
        Judgement::Stale {
            generation,
            observed,
        } => IstioState::Stale {
            generation,
            observed,
        },
        Judgement::Failed {
            condition,
            reason,
            message,
            ..
        } if condition == "Reconciled" => IstioState::NotReconciled { reason, message },
        Judgement::Failed {
            condition,
            status,
            reason,
            message,
        } if condition == "DependenciesHealthy" => IstioState::NotReady {
            reason: format!("{condition}={status} {reason}"),
            message,
        },
        Judgement::Failed {
            reason, message, ..
        } => IstioState::NotReady { reason, message },
        Judgement::Ready => IstioState::Ready,
    }
}

/// One istiod pod, as its status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PodState {
    /// Pod name.
    pub name: String,
    /// `status.phase`.
    pub phase: String,
    /// The `Ready` condition is True.
    pub ready: bool,
    /// Restarts over all containers.
    pub restarts: i64,
    /// Why a container waits (`CrashLoopBackOff`, `ImagePullBackOff`, …).
    pub waiting: Option<String>,
    /// The last termination: reason and exit code.
    pub last_terminated: Option<(String, i64)>,
}

impl PodState {
    /// From a Pod object.
    pub(super) fn of(pod: &Value) -> PodState {
        let statuses: Vec<&Value> = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        PodState {
            name: text(&pod["metadata"], "name"),
            phase: pod["status"]["phase"].as_str().unwrap_or("Unknown").into(),
            ready: pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True"),
            restarts: statuses
                .iter()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum(),
            waiting: statuses
                .iter()
                .find_map(|s| s["state"]["waiting"]["reason"].as_str().map(String::from)),
            last_terminated: statuses.iter().find_map(|s| {
                let t = &s["lastState"]["terminated"];
                Some((
                    t["reason"].as_str()?.to_string(),
                    t["exitCode"].as_i64().unwrap_or(0),
                ))
            }),
        }
    }

    /// Running, Ready and not waiting on a container.
    pub(super) fn healthy(&self) -> bool {
        self.phase == "Running" && self.ready && self.waiting.is_none()
    }

    /// `istiod-1 Running, not Ready, CrashLoopBackOff, 7 restarts, last terminated: Error (exit 1)`.
    pub(super) fn describe(&self) -> String {
        let mut parts = vec![format!("{} {}", self.name, self.phase)];
        parts.push(if self.ready { "Ready" } else { "not Ready" }.into());
        if let Some(w) = &self.waiting {
            parts.push(w.clone());
        }
        parts.push(format!("{} restart(s)", self.restarts));
        if let Some((reason, code)) = &self.last_terminated {
            parts.push(format!("last terminated: {reason} (exit {code})"));
        }
        parts.join(", ")
    }
}

/// How istiod's pods are doing, as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IstiodPods {
    /// No pod labelled `app=istiod`.
    None,
    /// Every pod Running and Ready.
    Healthy(Vec<PodState>),
    /// Some pods serve, others do not (a rollout, or one crashing replica).
    Degraded(Vec<PodState>),
    /// No pod serves.
    Down(Vec<PodState>),
}

/// Judges the `app=istiod` pods.
pub(super) fn istiod_pods(pods: &[&Value]) -> IstiodPods {
    let states: Vec<PodState> = pods.iter().map(|p| PodState::of(p)).collect();
    let healthy = states.iter().filter(|s| s.healthy()).count();
    match (states.len(), healthy) {
        (0, _) => IstiodPods::None,
        (n, h) if n == h => IstiodPods::Healthy(states),
        (_, 0) => IstiodPods::Down(states),
        _ => IstiodPods::Degraded(states),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);
    const GRACE: time::Duration = time::Duration::minutes(5);

    fn istio(status: Value) -> Value {
        json!({"metadata": {"creationTimestamp": "2026-01-01T11:58:00Z"}, "status": status})
    }

    #[test]
    fn istio_status_decisions() {
        assert_eq!(
            istio_state(false, None, NOW, GRACE),
            IstioState::ApiNotServed
        );
        assert_eq!(istio_state(true, None, NOW, GRACE), IstioState::Missing);
        let fresh = istio(json!({}));
        assert_eq!(
            istio_state(true, Some(&fresh), NOW, GRACE),
            IstioState::Pending {
                age_secs: Some(120)
            }
        );
        let later = NOW + time::Duration::minutes(10);
        assert_eq!(
            istio_state(true, Some(&fresh), later, GRACE),
            IstioState::NeverReconciled {
                age_secs: Some(720)
            }
        );
        let unreconciled = istio(json!({"conditions": [
            {"type": "Reconciled", "status": "False", "reason": "ReconcileError", "message": "bad values"},
            {"type": "Ready", "status": "True"}]}));
        assert!(matches!(istio_state(true, Some(&unreconciled), NOW, GRACE),
            IstioState::NotReconciled { reason, message } if reason == "ReconcileError" && message == "bad values"));
        let not_ready = istio(json!({"conditions": [
            {"type": "Reconciled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "IstiodNotReady", "message": "istiod has 0 ready replicas"}]}));
        assert!(matches!(istio_state(true, Some(&not_ready), NOW, GRACE),
            IstioState::NotReady { message, .. } if message.contains("0 ready")));
        let ready = istio(json!({"conditions": [
            {"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}));
        assert_eq!(
            istio_state(true, Some(&ready), NOW, GRACE),
            IstioState::Ready
        );
        // The same Ready for a spec the operator has not seen (generation 2, observed 1).
        let mut stale = ready.clone();
        stale["metadata"]["generation"] = json!(2);
        stale["status"]["observedGeneration"] = json!(1);
        assert_eq!(
            istio_state(true, Some(&stale), NOW, GRACE),
            IstioState::Stale {
                generation: 2,
                observed: Some(1)
            }
        );
        let cni_missing = istio(json!({"conditions": [
            {"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"},
            {"type": "DependenciesHealthy", "status": "False", "reason": "IstioCNINotFound",
             "message": "IstioCNI resource does not exist"}]}));
        assert!(matches!(istio_state(true, Some(&cni_missing), NOW, GRACE),
            IstioState::NotReady { reason, .. } if reason == "DependenciesHealthy=False IstioCNINotFound"));
        let no_time = json!({"status": {}});
        assert_eq!(
            istio_state(true, Some(&no_time), NOW, GRACE),
            IstioState::NeverReconciled { age_secs: None }
        );
    }

    fn pod(name: &str, phase: &str, ready: bool, extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": name, "labels": {"app": "istiod"}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        p["status"]["containerStatuses"] = extra;
        p
    }

    #[test]
    fn istiod_pod_decisions() {
        assert_eq!(istiod_pods(&[]), IstiodPods::None);
        let ok = pod(
            "istiod-a",
            "Running",
            true,
            json!([{"restartCount": 0, "state": {"running": {}}}]),
        );
        assert!(matches!(istiod_pods(&[&ok]), IstiodPods::Healthy(_)));
        let crash = pod(
            "istiod-b",
            "Running",
            false,
            json!([{"restartCount": 7,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]),
        );
        let IstiodPods::Down(states) = istiod_pods(&[&crash]) else {
            panic!("a crash-looping istiod is down")
        };
        assert_eq!(
            states[0].describe(),
            "istiod-b Running, not Ready, CrashLoopBackOff, 7 restart(s), last terminated: Error (exit 1)"
        );
        assert!(matches!(
            istiod_pods(&[&ok, &crash]),
            IstiodPods::Degraded(_)
        ));
        let pending = pod("istiod-c", "Pending", false, Value::Null);
        assert!(matches!(istiod_pods(&[&pending]), IstiodPods::Down(_)));
    }
}
