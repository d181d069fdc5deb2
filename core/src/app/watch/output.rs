//! What the watch prints: in a terminal, the whole table redrawn in place under a status line;
//! otherwise the first table, then one line per change; with `-o json`, one JSON line per
//! change (every result on the first evaluation).

use super::diff::Change;
use crate::app::verify::VerifyFormat;
use crate::checks::{Outcome, Report};
use crate::render::checks::{render_short, render_table};
use crate::render::{Style, Tone};

/// Clears a terminal and puts the cursor home (ECMA-48 CUP and ED).
pub const CLEAR: &str = "\x1b[H\x1b[2J";

/// `HH:MM:SS` UTC of `unix` seconds.
pub fn clock(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The table's mark, and ∅ for a check no longer evaluated.
fn mark(o: Option<Outcome>) -> (&'static str, Tone) {
    o.map_or(("∅", Tone::Dim), crate::render::checks::mark)
}

fn word(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Pass) => "pass",
        Some(Outcome::Warn) => "warn",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::Skip) => "skip",
        Some(Outcome::NotApplicable) => "n/a",
        None => "gone",
    }
}

/// One change as a line: `12:00:03 ✖ trust.expiry [east] expired (was pass)`.
pub fn change_line(c: &Change, time: &str, style: Style) -> String {
    let (m, tone) = mark(c.result);
    let subject = match crate::render::checks::where_(c.cluster.as_deref(), c.peer.as_deref()) {
        s if s.is_empty() => s,
        s => format!(" {s}"),
    };
    let was = c
        .previous
        .map(|p| format!(" (was {})", word(Some(p))))
        .unwrap_or_default();
    let hint = if c.hint.is_empty() || c.result == Some(Outcome::Pass) {
        String::new()
    } else {
        format!("\n    hint: {}", c.hint)
    };
    format!(
        "{time} {} {}{subject} {}{was}{hint}",
        style.paint(tone, m),
        c.id,
        c.message
    )
}

/// What one evaluation prints to stdout (`None`: nothing).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The report.
    pub report: &'a Report,
    /// What changed since the last one.
    pub changes: &'a [Change],
    /// Whether this is the first evaluation.
    pub first: bool,
    /// `HH:MM:SS`.
    pub time: &'a str,
    /// Why it ran (`start`, `interval`, what changed).
    pub cause: &'a str,
}

/// The text of a frame in `format`; `redraw` when stdout is a terminal.
pub fn render(f: &Frame, format: VerifyFormat, redraw: bool, style: Style) -> Option<String> {
    match format {
        VerifyFormat::Json => {
            let lines: Vec<String> = f
                .changes
                .iter()
                .filter_map(|c| {
                    let mut v = serde_json::to_value(c).ok()?;
                    v["time"] = f.time.into();
                    serde_json::to_string(&v).ok()
                })
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        }
        _ if redraw => {
            let body = match format {
                VerifyFormat::Short => render_short(f.report, style),
                _ => render_table(f.report, style),
            };
            Some(format!(
                "{CLEAR}{}\n{body}",
                style.paint(
                    Tone::Dim,
                    &format!(
                        "{} evaluated ({}); watching, Ctrl-C to stop",
                        f.time, f.cause
                    )
                )
            ))
        }
        _ if f.first => Some(match format {
            VerifyFormat::Short => render_short(f.report, style),
            _ => render_table(f.report, style),
        }),
        _ => {
            let lines: Vec<String> = f
                .changes
                .iter()
                .map(|c| change_line(c, f.time, style))
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        }
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
