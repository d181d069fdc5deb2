//! The judgement on statuses shaped as Sail 1.30.3 writes them (`determineStatus` copies the
//! active revision's Reconciled, Ready and DependenciesHealthy and sets observedGeneration).

use super::*;
use serde_json::json;

fn istio(generation: i64, observed: Option<i64>, conditions: Value) -> Value {
    let mut status = json!({"state": "Healthy", "conditions": conditions});
    if let Some(o) = observed {
        status["observedGeneration"] = json!(o);
    }
    json!({"apiVersion": "sailoperator.io/v1", "kind": "Istio",
        "metadata": {"name": "default", "generation": generation}, "status": status})
}

fn healthy() -> Value {
    json!([
        {"type": "Reconciled", "status": "True", "reason": "", "message": ""},
        {"type": "Ready", "status": "True", "reason": "", "message": ""},
        {"type": "DependenciesHealthy", "status": "True", "reason": "", "message": ""}])
}

#[test]
fn ready_counts_only_for_the_generation_it_observed() {
    assert_eq!(judge(&istio(1, Some(1), healthy())), Judgement::Ready);
    // The spec changed (generation 2), the operator has not run since: the old Ready is stale.
    let stale = judge(&istio(2, Some(1), healthy()));
    assert_eq!(
        stale,
        Judgement::Stale {
            generation: 2,
            observed: Some(1)
        }
    );
    let shown = stale.to_string();
    assert!(
        shown.contains("generation 1") && shown.contains("generation 2"),
        "{shown}"
    );
    assert_eq!(
        judge(&istio(2, None, healthy())),
        Judgement::Stale {
            generation: 2,
            observed: None
        }
    );
}

#[test]
fn the_first_condition_that_is_not_true_names_the_cause() {
    let cni_missing = json!([
        {"type": "Reconciled", "status": "True"},
        {"type": "Ready", "status": "True"},
        {"type": "DependenciesHealthy", "status": "False", "reason": "IstioCNINotFound",
         "message": "IstioCNI resource does not exist"}]);
    let j = judge(&istio(1, Some(1), cni_missing));
    assert_eq!(
        j.to_string(),
        "DependenciesHealthy=False IstioCNINotFound: IstioCNI resource does not exist"
    );
    let error = json!([
        {"type": "Reconciled", "status": "False", "reason": "ReconcileError", "message": "bad values"},
        {"type": "Ready", "status": "Unknown", "reason": "ReconcileError",
         "message": "cannot determine readiness due to reconciliation error"}]);
    assert!(matches!(judge(&istio(3, Some(3), error)),
        Judgement::Failed { condition, reason, .. } if condition == "Reconciled" && reason == "ReconcileError"));
    let scaled = json!([{"type": "Reconciled", "status": "True"},
        {"type": "Ready", "status": "False", "reason": "IstiodNotReady",
         "message": "istiod Deployment is scaled to zero replicas"}]);
    assert_eq!(
        judge(&istio(1, Some(1), scaled)).to_string(),
        "Ready=False IstiodNotReady: istiod Deployment is scaled to zero replicas"
    );
    let no_ready = json!([{"type": "Reconciled", "status": "True"}]);
    assert!(matches!(judge(&istio(1, Some(1), no_ready)),
        Judgement::Failed { reason, .. } if reason == "NoReadyCondition"));
}

#[test]
fn no_conditions_is_no_status_whatever_the_generation() {
    assert_eq!(judge(&istio(4, None, json!([]))), Judgement::NoStatus);
    assert_eq!(judge(&json!({"spec": {}})), Judgement::NoStatus);
    // Without metadata.generation (an object as a test or an old server gives it) the
    // conditions are read as they are.
    let bare = json!({"status": {"conditions": healthy()}});
    assert_eq!(judge(&bare), Judgement::Ready);
}
