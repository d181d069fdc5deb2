use super::*;
use crate::checks::{Category, CheckId, Emit};

fn report() -> Report {
    Report::new(vec![
        Emit::new(CheckId::TrustExpiry).warn(Some("east"), "expires in 5 days", "rotate"),
        Emit::new(CheckId::ControlPlaneMeshId).pass(None, "one mesh id"),
        Emit::new(CheckId::ClusterFacts).fail(Some("west"), "unreachable", "start it"),
    ])
}

fn line<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn every_category_name_is_its_json_name() {
    for info in crate::checks::CHECKS {
        let json = serde_json::to_value(info.category).unwrap_or_default();
        assert_eq!(json, info.category.as_str(), "{:?}", info.category);
    }
    assert_eq!(Category::RemoteAccess.as_str(), "remote-access");
}

#[test]
fn each_check_is_one_series_valued_by_its_outcome() {
    let mut m = Metrics::new();
    let lifetimes = vec![Lifetime {
        cluster: "east".into(),
        kind: "intermediate",
        seconds: 432_000,
    }];
    m.record(&report(), &lifetimes, 0.2, "start", 1_764_000_000);
    let text = m.encode();
    assert!(
        line(
            &text,
            r#"kubectl_mesh_check{id="trust.expiry",category="trust",cluster="east",peer=""} -1"#
        )
        .is_some(),
        "{text}"
    );
    assert!(line(&text, r#"kubectl_mesh_check{id="control-plane.mesh-id",category="control-plane",cluster="",peer=""} 1"#).is_some(), "{text}");
    assert!(
        line(
            &text,
            r#"kubectl_mesh_check{id="cluster.facts",category="cluster",cluster="west",peer=""} 0"#
        )
        .is_some(),
        "{text}"
    );
    assert!(
        line(&text, r#"kubectl_mesh_checks{result="fail"} 1"#).is_some(),
        "{text}"
    );
    assert!(
        line(
            &text,
            r#"kubectl_mesh_certificate_expiry_seconds{cluster="east",kind="intermediate"} 432000"#
        )
        .is_some(),
        "{text}"
    );
    assert!(
        line(
            &text,
            r#"kubectl_mesh_evaluations_total{trigger="start"} 1"#
        )
        .is_some(),
        "{text}"
    );
    assert!(
        line(&text, "kubectl_mesh_evaluation_duration_seconds_count 1").is_some(),
        "{text}"
    );
    assert!(
        line(
            &text,
            "kubectl_mesh_last_evaluation_timestamp_seconds 1764000000"
        )
        .is_some(),
        "{text}"
    );
    assert!(
        text.contains("# HELP kubectl_mesh_check Outcome of each check"),
        "{text}"
    );
}

#[test]
fn a_check_that_is_gone_leaves_no_stale_series() {
    let mut m = Metrics::new();
    m.record(&report(), &[], 0.1, "start", 0);
    // Positive control: the series is there after the first evaluation.
    assert!(m.encode().contains(r#"cluster="west""#));
    let fewer = Report::new(vec![
        Emit::new(CheckId::ControlPlaneMeshId).pass(None, "one mesh id"),
    ]);
    m.record(&fewer, &[], 0.1, "change", 0);
    let text = m.encode();
    assert!(!text.contains(r#"cluster="west""#), "{text}");
    assert!(
        line(
            &text,
            r#"kubectl_mesh_evaluations_total{trigger="change"} 1"#
        )
        .is_some(),
        "{text}"
    );
}

#[test]
fn request_counters_follow_running_totals_and_never_go_back() {
    let mut m = Metrics::new();
    m.count_requests(&[("east".into(), 12)]);
    m.count_requests(&[("east".into(), 30)]);
    // A total that went down (a reconnected client) adds nothing.
    m.count_requests(&[("east".into(), 5)]);
    let text = m.encode();
    assert!(
        line(
            &text,
            r#"kubectl_mesh_api_requests_total{cluster="east"} 30"#
        )
        .is_some(),
        "{text}"
    );
}

#[test]
fn a_check_that_does_not_apply_has_no_series_and_one_not_evaluated_is_minus_one() {
    let mut m = Metrics::new();
    let report = Report::new(vec![
        Emit::new(CheckId::NetworkExposeIstiod).not_applicable(Some("east"), "no remote"),
        Emit::new(CheckId::NetworkExposeIstiod).pass(Some("west"), "exposed"),
        Emit::new(CheckId::TrustExpiry).skip(Some("east"), "not evaluated: x failed"),
    ]);
    m.record(&report, &[], 0.1, "start", 1_764_000_000);
    let text = m.encode();
    // Positive control: the same check id has a series where it applies.
    let west = r#"kubectl_mesh_check{id="network.expose-istiod",category="network",cluster="west",peer=""} 1"#;
    assert!(line(&text, west).is_some(), "{text}");
    let east = r#"kubectl_mesh_check{id="network.expose-istiod",category="network",cluster="east""#;
    assert!(line(&text, east).is_none(), "{text}");
    let skipped =
        r#"kubectl_mesh_check{id="trust.expiry",category="trust",cluster="east",peer=""} -1"#;
    assert!(line(&text, skipped).is_some(), "{text}");
    assert!(
        line(&text, r#"kubectl_mesh_checks{result="n/a"} 1"#).is_some(),
        "{text}"
    );
}
