//! The example alerting rules `install-watch` renders as a PrometheusRule: one alert per way
//! the mesh or the watch itself goes wrong, each naming what to run next.

use serde_json::{Value, json};

/// A check that stays at `0` (fail) this long alerts.
pub const FAIL_FOR: &str = "5m";
/// Certificates that end within this many days alert (as `mesh-verify --warn-days` warns).
pub const EXPIRY_DAYS: u64 = 30;
/// The watch is stale when it has not evaluated for this many seconds.
pub const STALE_SECONDS: u64 = 600;

fn alert(name: &str, expr: &str, for_: &str, severity: &str, summary: &str, hint: &str) -> Value {
    json!({
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": hint},
    })
}

/// The rule groups (the body of a Prometheus rules file, and of a PrometheusRule's spec).
pub fn groups() -> Value {
    let rules = vec![
        alert(
            "KubectlMeshCheckFailed",
            "kubectl_mesh_check == 0",
            FAIL_FOR,
            "critical",
            "mesh check {{ $labels.id }} fails in cluster {{ $labels.cluster }}",
            "Run `kubectl mesh-verify` for the check's message and hint (docs/checks.md describes {{ $labels.id }}); the watch's log has the change as a JSON line.",
        ),
        alert(
            "KubectlMeshCheckWarning",
            "kubectl_mesh_check == -1",
            "1h",
            "warning",
            "mesh check {{ $labels.id }} warns (or was not evaluated) in cluster {{ $labels.cluster }}",
            "Run `kubectl mesh-verify` to see why; a check that cannot be evaluated says what it could not read.",
        ),
        alert(
            "KubectlMeshCertificateExpiring",
            &format!(
                "kubectl_mesh_certificate_expiry_seconds < {} * 86400",
                EXPIRY_DAYS
            ),
            "1h",
            "warning",
            &format!(
                "the {{{{ $labels.kind }}}} CA of cluster {{{{ $labels.cluster }}}} ends in less than {EXPIRY_DAYS} days"
            ),
            "Rotate it with `kubectl mesh-certs rotate` (an intermediate) before it ends; `kubectl mesh-certs inventory` lists every certificate.",
        ),
        alert(
            "KubectlMeshWatchStale",
            &format!("time() - kubectl_mesh_last_evaluation_timestamp_seconds > {STALE_SECONDS}"),
            "5m",
            "warning",
            "kubectl-mesh's watch has not evaluated the mesh for 10 minutes",
            "Look at the watch's log and its /healthz; an API server that does not answer stalls an evaluation until --request-timeout.",
        ),
    ];
    json!([{"name": "kubectl-mesh", "rules": rules}])
}

/// The PrometheusRule with [`groups`], `metadata` given.
pub fn prometheus_rule(metadata: Value) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": groups()},
    })
}
