//! The watch's Prometheus metrics: every check's outcome, certificate lifetimes, how long an
//! evaluation takes, and how many requests each API server has had. Encoded by
//! `prometheus-client` (OpenMetrics text, which Prometheus scrapes natively).

use crate::checks::lifetimes::Lifetime;
use crate::checks::{Outcome, Report};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;

/// Labels of `kubectl_mesh_check`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Check id (`trust.expiry`).
    pub id: String,
    /// Its category (`trust`).
    pub category: String,
    /// The cluster ("" for mesh-wide checks).
    pub cluster: String,
    /// The other cluster of a pair ("" otherwise).
    pub peer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiryLabels {
    cluster: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabel {
    cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabel {
    trigger: String,
}

/// The value of a check's gauge: 1 pass, 0 fail, -1 warning or not evaluated; no series for
/// a check that does not apply to this mesh (no alert can match what is not there).
pub fn gauge_value(o: Outcome) -> Option<i64> {
    match o {
        Outcome::Pass => Some(1),
        Outcome::Fail => Some(0),
        Outcome::Warn | Outcome::Skip => Some(-1),
        Outcome::NotApplicable => None,
    }
}

/// Every metric of the watch, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    checks: Family<CheckLabels, Gauge>,
    totals: Family<ResultLabel, Gauge>,
    expiry: Family<ExpiryLabels, Gauge>,
    duration: Histogram,
    evaluations: Family<TriggerLabel, Counter>,
    requests: Family<ClusterLabel, Counter>,
    requests_seen: BTreeMap<String, u64>,
    last: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry with every metric described.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kubectl_mesh");
        let checks = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "check",
            "Outcome of each check: 1 pass, 0 fail, -1 warning or not evaluated",
            checks.clone(),
        );
        let totals = Family::<ResultLabel, Gauge>::default();
        registry.register(
            "checks",
            "Checks by outcome in the last evaluation",
            totals.clone(),
        );
        let expiry = Family::<ExpiryLabels, Gauge>::default();
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the cluster's CA certificate ends (kind: intermediate, root)",
            expiry.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        registry.register(
            "evaluation_duration_seconds",
            "How long one evaluation of every check took",
            duration.clone(),
        );
        let evaluations = Family::<TriggerLabel, Counter>::default();
        registry.register(
            "evaluations",
            "Evaluations by what triggered them (start, change, interval)",
            evaluations.clone(),
        );
        let requests = Family::<ClusterLabel, Counter>::default();
        registry.register(
            "api_requests",
            "Requests sent to each cluster's API server (a watch counts once, when opened)",
            requests.clone(),
        );
        let last = Gauge::default();
        registry.register(
            "last_evaluation_timestamp_seconds",
            "When the last evaluation finished (Unix time)",
            last.clone(),
        );
        Metrics {
            registry,
            checks,
            totals,
            expiry,
            duration,
            evaluations,
            requests,
            requests_seen: BTreeMap::new(),
            last,
        }
    }

    /// Records one evaluation: every check's outcome (checks no longer evaluated are
    /// dropped), the lifetimes, its duration, its trigger and when it ended.
    pub fn record(
        &mut self,
        report: &Report,
        lifetimes: &[Lifetime],
        seconds: f64,
        trigger: &str,
        unix_now: i64,
    ) {
        self.checks.clear();
        for r in &report.checks {
            let labels = CheckLabels {
                id: r.id.as_str().into(),
                category: r.category.as_str().into(),
                cluster: r.cluster.clone().unwrap_or_default(),
                peer: r.peer.clone().unwrap_or_default(),
            };
            if let Some(v) = gauge_value(r.result) {
                self.checks.get_or_create(&labels).set(v);
            }
        }
        for (o, name) in [
            (Outcome::Pass, "pass"),
            (Outcome::Warn, "warn"),
            (Outcome::Fail, "fail"),
            (Outcome::Skip, "skip"),
            (Outcome::NotApplicable, "n/a"),
        ] {
            let n = report.checks.iter().filter(|c| c.result == o).count();
            let labels = ResultLabel {
                result: name.into(),
            };
            self.totals.get_or_create(&labels).set(n as i64);
        }
        self.expiry.clear();
        for l in lifetimes {
            let labels = ExpiryLabels {
                cluster: l.cluster.clone(),
                kind: l.kind.into(),
            };
            self.expiry.get_or_create(&labels).set(l.seconds);
        }
        self.duration.observe(seconds);
        let labels = TriggerLabel {
            trigger: trigger.into(),
        };
        self.evaluations.get_or_create(&labels).inc();
        self.last.set(unix_now);
    }

    /// Brings the request counters up to each cluster's running total.
    pub fn count_requests(&mut self, totals: &[(String, u64)]) {
        for (cluster, total) in totals {
            let seen = self.requests_seen.entry(cluster.clone()).or_default();
            let labels = ClusterLabel {
                cluster: cluster.clone(),
            };
            self.requests
                .get_or_create(&labels)
                .inc_by(total.saturating_sub(*seen));
            *seen = (*seen).max(*total);
        }
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
