//! promtool's rule unit tests over a healthy mesh's own `kubectl_mesh_check` series (as
//! `mesh-verify -o prometheus` prints them, or as the watch serves them): every series is 1
//! (checks that do not apply have none), and held for an hour neither check alert fires. The
//! positive control in the same rule test: one series at -1 (a check that could not be
//! evaluated) fires the warning alert.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Lab;
use std::path::Path;
use std::process::Command;

/// Runs the rule test in `dir` against `rules` (the rule groups as JSON, the body of a rules
/// file); panics naming what promtool said, or a series that is not 1.
pub fn healthy_fires_nothing(lab: &Lab, dir: &Path, exposition: &str, rules: &str) {
    let promtool = lab.bin("promtool").expect("promtool");
    std::fs::write(dir.join("rules.json"), format!("{{\"groups\": {rules}}}")).unwrap();
    std::fs::write(dir.join("healthy_test.yaml"), rule_test(exposition)).unwrap();
    for args in [
        &["check", "rules", "rules.json"][..],
        &["test", "rules", "healthy_test.yaml"],
    ] {
        let o = Command::new(&promtool)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The rule test over `exposition`'s check series (asserting each is 1 first).
pub fn rule_test(exposition: &str) -> String {
    let series: Vec<(&str, f64)> = exposition
        .lines()
        .filter(|l| l.starts_with("kubectl_mesh_check{"))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name, value.parse().unwrap())
        })
        .collect();
    assert!(series.len() >= 15, "{exposition}");
    let not_one: Vec<_> = series.iter().filter(|(_, v)| *v != 1.0).collect();
    assert!(not_one.is_empty(), "a healthy mesh: {not_one:#?}");
    let mut input: Vec<String> = series
        .iter()
        .map(|(name, _)| format!("  - series: '{name}'\n    values: '1x70'"))
        .collect();
    let control = r#"kubectl_mesh_check{id="control",category="cluster",cluster="east",peer=""}"#;
    input.push(format!("  - series: '{control}'\n    values: '-1x70'"));
    format!(
        "rule_files: [rules.json]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n{}\n  alert_rule_test:\n  - eval_time: 65m\n    alertname: KubectlMeshCheckFailed\n    exp_alerts: []\n  - eval_time: 65m\n    alertname: KubectlMeshCheckWarning\n    exp_alerts:\n    - exp_labels: {{severity: warning, id: control, category: cluster, cluster: east}}\n      exp_annotations:\n        summary: mesh check control warns (or was not evaluated) in cluster east\n        description: Run `kubectl mesh-verify` to see why; a check that cannot be evaluated says what it could not read.\n",
        input.join("\n")
    )
}
