//! promtool's rule unit tests over a healthy mesh's own `kubectl_mesh_check` series (as
//! `mesh-verify -o prometheus` prints them, or as the watch serves them): every series is 1
//! (checks that do not apply have none), and held for an hour neither check alert fires. The
//! positive control in the same rule test: one series at -1 (a check that could not be
//! evaluated) fires the warning alert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Lab;
use std::path::Path;
use std::process::Command;

/// Runs promtool with `args` in `dir`; `Err` with what it printed when it fails.
pub fn run(lab: &Lab, dir: &Path, args: &[&str]) -> Result<(), String> {
    let o = Command::new(lab.bin("promtool").expect("promtool"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    if o.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

/// [`run`] for each of `runs`, panicking on the first that fails.
pub fn passes(lab: &Lab, dir: &Path, runs: &[&[&str]]) {
    for args in runs {
        if let Err(e) = run(lab, dir, args) {
            panic!("{e}");
        }
    }
}

/// Runs the rule test in `dir` against `rules` (the rule groups as JSON, the body of a rules
/// file); panics naming what promtool said, or a series that is not 1.
pub fn healthy_fires_nothing(lab: &Lab, dir: &Path, exposition: &str, rules: &str) {
    std::fs::write(dir.join("rules.json"), format!("{{\"groups\": {rules}}}")).unwrap();
    std::fs::write(dir.join("healthy_test.yaml"), rule_test(exposition)).unwrap();
    passes(
        lab,
        dir,
        &[
            &["check", "rules", "rules.json"],
            &["test", "rules", "healthy_test.yaml"],
        ],
    );
}

/// The `kubectl_mesh_check` series of an exposition, with their values.
pub fn check_series(exposition: &str) -> Vec<(&str, f64)> {
    exposition
        .lines()
        .filter(|l| l.starts_with("kubectl_mesh_check{"))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name, value.parse().unwrap())
        })
        .collect()
}

/// The rule test over `exposition`'s check series (asserting each is 1 first).
pub fn rule_test(exposition: &str) -> String {
    let series = check_series(exposition);
    assert!(series.len() >= 15, "{exposition}");
    let not_one: Vec<_> = series.iter().filter(|(_, v)| *v != 1.0).collect();
    assert!(not_one.is_empty(), "a healthy mesh: {not_one:#?}");
    let control = r#"kubectl_mesh_check{id="control",category="cluster",cluster="east",peer=""}"#;
    let mut held = series;
    held.push((control, -1.0));
    rule_test_expecting(&held)
}

/// A rule test holding each series at its value for 70 minutes: the warning rule fires for
/// exactly the -1 series, the failing rule for exactly the 0 series, each with its labels and
/// annotations as the shipped rules write them.
pub fn rule_test_expecting(series: &[(&str, f64)]) -> String {
    let input: Vec<String> = series
        .iter()
        .map(|(name, v)| format!("  - series: '{name}'\n    values: '{v}x70'"))
        .collect();
    let alerts = |want: f64, name: &str, severity: &str| {
        let expected: Vec<String> = series
            .iter()
            .filter(|(_, v)| *v == want)
            .map(|(s, _)| expected_alert(s, severity))
            .collect();
        let list = if expected.is_empty() {
            " []".to_string()
        } else {
            format!("\n{}", expected.join("\n"))
        };
        format!("  - eval_time: 65m\n    alertname: {name}\n    exp_alerts:{list}")
    };
    format!(
        "rule_files: [rules.json]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n{}\n  alert_rule_test:\n{}\n{}\n",
        input.join("\n"),
        alerts(0.0, "KubectlMeshCheckFailed", "critical"),
        alerts(-1.0, "KubectlMeshCheckWarning", "warning"),
    )
}

fn label<'s>(series: &'s str, name: &str) -> &'s str {
    let key = format!("{name}=\"");
    let start = series
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or(series.len());
    let rest = &series[start..];
    &rest[..rest.find('"').unwrap_or(0)]
}

fn expected_alert(series: &str, severity: &str) -> String {
    let (id, category, cluster, peer) = (
        label(series, "id"),
        label(series, "category"),
        label(series, "cluster"),
        label(series, "peer"),
    );
    let peer = if peer.is_empty() {
        String::new()
    } else {
        format!(", peer: '{peer}'")
    };
    let cluster_label = if cluster.is_empty() {
        String::new()
    } else {
        format!(", cluster: '{cluster}'")
    };
    let (summary, description) = if severity == "critical" {
        (
            format!("mesh check {id} fails in cluster {cluster}"),
            format!(
                "Run `kubectl mesh-verify` for the check's message and hint (docs/checks.md describes {id}); the watch's log has the change as a JSON line."
            ),
        )
    } else {
        (
            format!("mesh check {id} warns (or was not evaluated) in cluster {cluster}"),
            "Run `kubectl mesh-verify` to see why; a check that cannot be evaluated says what it could not read.".to_string(),
        )
    };
    // YAML's single-quoted scalars double a quote.
    let (summary, description) = (summary.replace('\'', "''"), description.replace('\'', "''"));
    format!(
        "    - exp_labels: {{severity: {severity}, id: '{id}', category: '{category}'{cluster_label}{peer}}}\n      exp_annotations:\n        summary: '{summary}'\n        description: '{description}'"
    )
}
