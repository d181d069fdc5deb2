use super::*;
use crate::checks::Emit;

fn report(results: Vec<CheckResult>) -> Report {
    Report::new(results)
}

fn expiry_pass(days: u32) -> CheckResult {
    Emit::new(CheckId::TrustExpiry).pass(Some("east"), format!("valid for {days} more days"))
}

#[test]
fn the_first_evaluation_lists_every_result_with_no_previous() {
    let r = report(vec![
        expiry_pass(20),
        Emit::new(CheckId::ControlPlaneMeshId).pass(None, "one mesh id"),
    ]);
    let c = changes(None, &r);
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.previous.is_none() && c.result.is_some()));
}

#[test]
fn a_new_message_with_the_same_outcome_is_no_change_but_a_new_outcome_is() {
    let before = report(vec![expiry_pass(20)]);
    // Same outcome, other text: nothing to say.
    assert!(changes(Some(&before), &report(vec![expiry_pass(19)])).is_empty());
    // Positive control: the same check turning into a warning is one change.
    let warn = Emit::new(CheckId::TrustExpiry).warn(Some("east"), "expires in 5 days", "rotate");
    let c = changes(Some(&before), &report(vec![warn]));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].previous, Some(Outcome::Pass));
    assert_eq!(c[0].result, Some(Outcome::Warn));
    assert_eq!(c[0].hint, "rotate");
    assert!(c[0].worsened() && !c[0].recovered());
}

#[test]
fn the_same_id_in_another_cluster_is_another_check() {
    let before = report(vec![expiry_pass(20)]);
    let west = Emit::new(CheckId::TrustExpiry).fail(Some("west"), "expired", "rotate");
    let c = changes(Some(&before), &report(vec![expiry_pass(20), west]));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].cluster.as_deref(), Some("west"));
    assert_eq!(c[0].previous, None);
    assert!(c[0].worsened());
}

#[test]
fn a_check_no_longer_evaluated_is_reported_gone() {
    let before = report(vec![expiry_pass(20)]);
    let c = changes(Some(&before), &report(vec![]));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].result, None);
    assert_eq!(c[0].previous, Some(Outcome::Pass));
    assert!(
        c[0].message.contains("no longer evaluated"),
        "{}",
        c[0].message
    );
}

#[test]
fn recovery_is_a_failure_or_warning_turning_into_a_pass_only() {
    let failed = Emit::new(CheckId::TrustExpiry).fail(Some("east"), "expired", "rotate");
    let c = changes(
        Some(&report(vec![failed.clone()])),
        &report(vec![expiry_pass(300)]),
    );
    assert!(c[0].recovered() && !c[0].worsened());
    // A failure that becomes a warning is neither news of worse nor a recovery.
    let warn = Emit::new(CheckId::TrustExpiry).warn(Some("east"), "expires soon", "rotate");
    let c = changes(Some(&report(vec![failed])), &report(vec![warn]));
    assert!(!c[0].recovered() && !c[0].worsened(), "{c:?}");
    // A skip turning into a pass is no recovery either.
    let skip = Emit::new(CheckId::TrustExpiry).skip(Some("east"), "not evaluated");
    let c = changes(Some(&report(vec![skip])), &report(vec![expiry_pass(300)]));
    assert_eq!(c.len(), 1);
    assert!(!c[0].recovered());
}

#[test]
fn a_change_is_one_json_line_with_stable_names() {
    let c = changes(None, &report(vec![expiry_pass(20)]));
    let line = serde_json::to_string(&c[0]).unwrap();
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["id"], "trust.expiry");
    assert_eq!(v["category"], "trust");
    assert_eq!(v["result"], "pass");
    assert_eq!(v["previous"], serde_json::Value::Null);
    assert_eq!(v["cluster"], "east");
}
