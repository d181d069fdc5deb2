//! The two exposition formats `/metrics` answers in: OpenMetrics (what `prometheus-client`
//! writes, and what Prometheus asks for first) and the classic Prometheus text format 0.0.4
//! (what a client that does not ask for OpenMetrics gets — curl, `promtool check metrics`).
//!
//! The classic form is the OpenMetrics text with three differences undone: a counter's
//! metadata names it with its `_total` suffix, there are no `# UNIT` lines or `_created`
//! samples, and no `# EOF` terminator. Gauges and histograms are written alike in both.

/// The content type of the OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a request's `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// One evaluation's series in the classic text format, as a one-off `mesh-verify -o
/// prometheus` prints them: what `--watch` serves after a single evaluation (trigger `once`).
pub fn once(
    report: &crate::checks::Report,
    lifetimes: &[crate::checks::lifetimes::Lifetime],
    now: time::OffsetDateTime,
) -> String {
    let mut m = super::metrics::Metrics::new();
    m.record(report, lifetimes, 0.0, "once", now.unix_timestamp());
    prometheus_text(&m.encode())
}

/// The classic text format of an OpenMetrics text (pure).
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        let created = counters.iter().any(|c| {
            line.strip_prefix(c)
                .and_then(|r| r.strip_prefix("_created"))
                .is_some_and(|r| r.starts_with(['{', ' ']))
        });
        if created {
            continue;
        }
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OM: &str = "# HELP a_requests Requests sent.\n# TYPE a_requests counter\n\
        a_requests_total{cluster=\"east\"} 3\na_requests_created{cluster=\"east\"} 1.7e9\n\
        # HELP a_up Up.\n# TYPE a_up gauge\n# UNIT a_up seconds\na_up 1\n# EOF\n";

    #[test]
    fn counters_are_named_with_total_and_open_metrics_only_lines_go() {
        let text = prometheus_text(OM);
        assert_eq!(
            text,
            "# HELP a_requests_total Requests sent.\n# TYPE a_requests_total counter\n\
             a_requests_total{cluster=\"east\"} 3\n# HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
        // Positive control: the input had each line the conversion removes.
        for gone in ["# EOF", "# UNIT", "_created"] {
            assert!(OM.contains(gone) && !text.contains(gone), "{gone}");
        }
    }

    #[test]
    fn one_evaluation_prints_the_watchs_series_in_the_classic_format() {
        use crate::checks::{CheckId, Emit, Report};
        let report = Report::new(vec![
            Emit::new(CheckId::ControlPlaneMeshId).pass(None, "one mesh id"),
            Emit::new(CheckId::ClusterFacts).fail(Some("west"), "unreachable", "start it"),
            Emit::new(CheckId::NetworkExposeIstiod).not_applicable(Some("east"), "no remotes"),
        ]);
        let now = time::macros::datetime!(2026-12-07 12:00 UTC);
        let text = once(&report, &[], now);
        assert!(text.contains("kubectl_mesh_check{id=\"control-plane.mesh-id\",category=\"control-plane\",cluster=\"\",peer=\"\"} 1\n"), "{text}");
        assert!(text.contains("kubectl_mesh_check{id=\"cluster.facts\",category=\"cluster\",cluster=\"west\",peer=\"\"} 0\n"), "{text}");
        assert!(
            !text.contains("network.expose-istiod"),
            "n/a has no series: {text}"
        );
        assert!(
            text.contains(&format!(
                "kubectl_mesh_last_evaluation_timestamp_seconds {}",
                now.unix_timestamp()
            )),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
