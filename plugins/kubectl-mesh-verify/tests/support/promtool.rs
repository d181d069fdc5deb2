//! promtool against the installed watch: its exposition, its PrometheusRule's rules, and rule
//! unit tests over synthetic series and over the healthy mesh's own scraped series.

use super::watch::Watcher;
use mesh_lab::Lab;
use mesh_lab::testing::kubectl_json;
use std::path::Path;
use std::process::Command;

/// promtool lints the classic exposition and the PrometheusRule's rules, and its rule unit
/// tests prove the alerts fire on a failing check and an ending certificate, and only then.
pub fn lints(lab: &Lab, watch: &Watcher, w: &Path, namespace: &str) {
    let promtool = lab.bin("promtool").unwrap();
    let (_, body) = watch.get("/metrics").unwrap();
    assert!(body.contains("kubectl_mesh_check{"), "{body}");
    let metrics = w.join("metrics.txt");
    std::fs::write(&metrics, &body).unwrap();
    let lint = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let rule = kubectl_json(
        lab,
        "lab-1",
        &[
            "get",
            "prometheusrule",
            "kubectl-mesh-watch",
            "-n",
            namespace,
        ],
    )
    .unwrap();
    std::fs::write(w.join("rules.json"), rule["spec"].to_string()).unwrap();
    std::fs::write(w.join("rules_test.yaml"), RULE_TESTS).unwrap();
    std::fs::write(
        w.join("healthy_test.yaml"),
        mesh_lab::promtool::rule_test(&body),
    )
    .unwrap();
    mesh_lab::promtool::passes(
        lab,
        w,
        &[
            &["check", "rules", "rules.json"],
            &["test", "rules", "rules_test.yaml"],
            &["test", "rules", "healthy_test.yaml"],
        ],
    );
}

/// Alert unit tests: a failing check fires after 5m and a passing one never; an intermediate
/// with 10 days left fires, one with 100 days does not; a watch that stopped evaluating fires.
const RULE_TESTS: &str = r#"rule_files: [rules.json]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'kubectl_mesh_check{id="trust.expiry",category="trust",cluster="east",peer=""}'
    values: '0x10'
  - series: 'kubectl_mesh_check{id="trust.chain-valid",category="trust",cluster="east",peer=""}'
    values: '1x10'
  - series: 'kubectl_mesh_certificate_expiry_seconds{cluster="east",kind="intermediate"}'
    values: '864000x90'
  - series: 'kubectl_mesh_certificate_expiry_seconds{cluster="west",kind="intermediate"}'
    values: '8640000x90'
  - series: 'kubectl_mesh_last_evaluation_timestamp_seconds'
    values: '0x30'
  alert_rule_test:
  - eval_time: 3m
    alertname: KubectlMeshCheckFailed
    exp_alerts: []
  - eval_time: 6m
    alertname: KubectlMeshCheckFailed
    exp_alerts:
    - exp_labels: {severity: critical, id: trust.expiry, category: trust, cluster: east}
      exp_annotations:
        summary: mesh check trust.expiry fails in cluster east
        description: Run `kubectl mesh-verify` for the check's message and hint (docs/checks.md describes trust.expiry); the watch's log has the change as a JSON line.
  - eval_time: 61m
    alertname: KubectlMeshCertificateExpiring
    exp_alerts:
    - exp_labels: {severity: warning, cluster: east, kind: intermediate}
      exp_annotations:
        summary: the intermediate CA of cluster east ends in less than 30 days
        description: Rotate it with `kubectl mesh-certs rotate` (an intermediate) before it ends; `kubectl mesh-certs inventory` lists every certificate.
  - eval_time: 20m
    alertname: KubectlMeshWatchStale
    exp_alerts:
    - exp_labels: {severity: warning}
      exp_annotations:
        summary: kubectl-mesh's watch has not evaluated the mesh for 10 minutes
        description: Look at the watch's log and its /healthz; an API server that does not answer stalls an evaluation until --request-timeout.
"#;
