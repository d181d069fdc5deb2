//! How a report looks: grouped by category with ✔/‼/✖, or one line per finding. Checks that
//! do not apply to this mesh are counted in the summary, listed by `-o json`.

use super::{Style, Tone};
use crate::checks::{Category, Outcome, Report};

/// The mark and tone of an outcome (✔ ‼ ✖ -).
pub(crate) fn mark(o: Outcome) -> (&'static str, Tone) {
    match o {
        Outcome::Pass => ("✔", Tone::Good),
        Outcome::Warn => ("‼", Tone::Warn),
        Outcome::Fail => ("✖", Tone::Bad),
        Outcome::Skip => ("-", Tone::Dim),
        Outcome::NotApplicable => ("·", Tone::Dim),
    }
}

fn subject(c: &crate::checks::CheckResult) -> String {
    let s = where_(c.cluster.as_deref(), c.peer.as_deref());
    if s.is_empty() { s } else { format!("{s} ") }
}

/// What a result concerns: `[east → west]`, `[east]`, or nothing for a mesh-wide check.
pub(crate) fn where_(cluster: Option<&str>, peer: Option<&str>) -> String {
    match (cluster, peer) {
        (Some(a), Some(b)) => format!("[{a} → {b}]"),
        (Some(a), None) => format!("[{a}]"),
        _ => String::new(),
    }
}

/// The table: one section per category, one line per result, hints under problems.
pub fn render_table(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let mut current: Option<Category> = None;
    for c in report
        .checks
        .iter()
        .filter(|c| c.result != Outcome::NotApplicable)
    {
        if current != Some(c.category) {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&style.paint(Tone::Bold, c.category.title()));
            out.push('\n');
            out.push_str(&"-".repeat(c.category.title().chars().count()));
            out.push('\n');
            current = Some(c.category);
        }
        let (m, tone) = mark(c.result);
        out.push_str(&format!(
            "{} {}{} ({})\n",
            style.paint(tone, m),
            subject(c),
            c.message,
            c.id
        ));
        if matches!(c.result, Outcome::Warn | Outcome::Fail) && !c.hint.is_empty() {
            out.push_str(&format!("    hint: {}\n    see: {}\n", c.hint, c.docs));
        }
    }
    out.push('\n');
    out.push_str(&summary(report, style));
    out.push('\n');
    out
}

/// Only what needs attention, then the summary.
pub fn render_short(report: &Report, style: Style) -> String {
    let mut out = String::new();
    for c in report
        .checks
        .iter()
        .filter(|c| matches!(c.result, Outcome::Warn | Outcome::Fail))
    {
        let (m, tone) = mark(c.result);
        out.push_str(&format!(
            "{} {} {}{}\n",
            style.paint(tone, m),
            c.id,
            subject(c),
            c.message
        ));
    }
    out.push_str(&summary(report, style));
    out.push('\n');
    out
}

fn summary(report: &Report, style: Style) -> String {
    let count = |o| report.checks.iter().filter(|c| c.result == o).count();
    let (pass, warn, fail, skip, na) = (
        count(Outcome::Pass),
        count(Outcome::Warn),
        count(Outcome::Fail),
        count(Outcome::Skip),
        count(Outcome::NotApplicable),
    );
    let status = if fail > 0 {
        style.paint(Tone::Bad, "Status check results are ✖")
    } else if warn > 0 {
        style.paint(Tone::Warn, "Status check results are ‼")
    } else {
        style.paint(Tone::Good, "Status check results are ✔")
    };
    let na = match na {
        0 => String::new(),
        n => format!("; {n} not applicable, listed by -o json"),
    };
    format!("{status}  ({pass} passed, {warn} warnings, {fail} failed, {skip} not evaluated{na})")
}
