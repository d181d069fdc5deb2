use super::*;
use crate::app::watch::diff::changes;
use crate::checks::{CheckId, Emit};

fn two() -> (Report, Report) {
    let pass = Emit::new(CheckId::TrustExpiry).pass(Some("east"), "valid for 20 more days");
    let fail = Emit::new(CheckId::TrustExpiry).fail(Some("east"), "expired", "rotate it");
    (Report::new(vec![pass]), Report::new(vec![fail]))
}

fn frame<'a>(report: &'a Report, changes: &'a [Change], first: bool) -> Frame<'a> {
    Frame {
        report,
        changes,
        first,
        time: "12:00:03",
        cause: "Secret istio-system/cacerts changed",
    }
}

#[test]
fn json_is_one_line_per_change_with_its_time_and_nothing_when_nothing_changed() {
    let (a, b) = two();
    let c = changes(Some(&a), &b);
    let text = render(
        &frame(&b, &c, false),
        VerifyFormat::Json,
        false,
        Style::plain(),
    )
    .unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["result"].as_str(), v["previous"].as_str()),
        (Some("fail"), Some("pass"))
    );
    assert_eq!(v["time"], "12:00:03");
    assert_eq!(
        render(
            &frame(&b, &[], false),
            VerifyFormat::Json,
            false,
            Style::plain()
        ),
        None
    );
}

#[test]
fn a_pipe_gets_the_table_once_then_change_lines() {
    let (a, b) = two();
    let first = changes(None, &a);
    let text = render(
        &frame(&a, &first, true),
        VerifyFormat::Table,
        false,
        Style::plain(),
    )
    .unwrap();
    assert!(
        text.contains("Status check results are ✔") && !text.contains(CLEAR),
        "{text}"
    );
    let c = changes(Some(&a), &b);
    let text = render(
        &frame(&b, &c, false),
        VerifyFormat::Table,
        false,
        Style::plain(),
    )
    .unwrap();
    assert_eq!(
        text,
        "12:00:03 ✖ trust.expiry [east] expired (was pass)\n    hint: rotate it"
    );
    assert_eq!(
        render(
            &frame(&b, &[], false),
            VerifyFormat::Table,
            false,
            Style::plain()
        ),
        None
    );
}

#[test]
fn a_terminal_gets_the_whole_table_redrawn_under_what_triggered_it() {
    let (_, b) = two();
    let text = render(
        &frame(&b, &[], false),
        VerifyFormat::Table,
        true,
        Style::plain(),
    )
    .unwrap();
    assert!(text.starts_with(CLEAR), "{text:?}");
    assert!(
        text.contains("12:00:03 evaluated (Secret istio-system/cacerts changed)"),
        "{text}"
    );
    assert!(text.contains("Status check results are ✖"), "{text}");
    // Plain style (NO_COLOR or a pipe) carries no colour codes besides the redraw.
    assert!(!text.trim_start_matches(CLEAR).contains('\x1b'), "{text:?}");
}

#[test]
fn clock_reads_utc_time_of_day() {
    assert_eq!(clock(0), "00:00:00");
    assert_eq!(clock(1_764_936_183), "12:03:03");
}
