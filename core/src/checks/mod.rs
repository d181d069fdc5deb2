//! `mesh-verify`'s checks: a registry of typed check ids ([`ids`]), facts gathered once per
//! cluster (in parallel, a bounded number of API requests), pure evaluation of those facts
//! (time comes in through [`Selection::now`]), and reports as a table, a short summary or
//! versioned JSON.
//!
//! Result semantics (`docs/checks.md`, "Results"): `pass` only for what was observed and is
//! correct; `skip` only when a check does not apply to the topology (it says why) or its
//! prerequisite failed (it names it); whatever could not be observed is a `fail` naming the
//! cluster, the request and the cause.

mod control_plane;
mod credentials;
pub mod discovery;
mod emit;
pub mod expiry;
pub mod facts;
mod facts_pre;
mod gateway_pods;
mod gateways;
mod ids;
pub mod installed;
pub mod istiod;
mod legacy;
pub mod lifetimes;
mod mesh_wide;
mod network;
mod pods;
mod pre;
pub mod remote;
mod roles;
mod root_config_maps;
mod rules;
pub mod traffic;
mod trust;

pub use control_plane::role_of;
pub use emit::CheckResult;
pub(crate) use emit::Emit;
pub use facts::{ClusterFacts, FactError, FactErrorKind, Member, Read, gather};
pub use ids::{CHECKS, Category, CheckId, CheckInfo, DOCS, Outcome, info};
pub use root_config_maps::RootConfigMaps;

use serde::Serialize;
use time::OffsetDateTime;

/// The JSON report's schema version (documented in `docs/checks.md`).
pub const SCHEMA_VERSION: &str = "kubectl-mesh.io/verify/v1";

/// How long an `Istio` may exist without a status before that is a failure.
pub const ISTIO_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// The root on the operator's disk, to compare the clusters' roots with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRoot {
    /// No certs folder was named and the default one has no root: nothing to compare.
    NotGiven,
    /// The mesh file names a certs folder that holds no root (a failure, not a silent skip).
    Missing {
        /// The folder as named.
        folder: String,
    },
    /// The root's SHA-256 fingerprint.
    Root(String),
}

/// What to run, and the instant it is judged at.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Pre-join checks (instead of the post-join ones).
    pub pre: bool,
    /// Accept loopback API server addresses (a lab on one host).
    pub allow_loopback: bool,
    /// Days before expiry that count as expiring.
    pub warn_days: i64,
    /// The root on the operator's disk.
    pub local_root: LocalRoot,
    /// Now: every time-dependent decision uses this, never the system clock.
    pub now: OffsetDateTime,
    /// How long an `Istio` may stay without a status (the operator reconciling it).
    pub istio_grace: std::time::Duration,
    /// The mesh file's Istio settings (version, CNI), when a mesh file was given.
    pub istio: Option<crate::mesh::IstioSpec>,
    /// The mesh file's `meshID`, when a mesh file was given: every cluster is compared with it.
    pub mesh_id: Option<String>,
}

impl Selection {
    /// Post-join checks as of `now`, 30 warning days, no local root.
    pub fn new(now: OffsetDateTime) -> Selection {
        Selection {
            pre: false,
            allow_loopback: false,
            warn_days: 30,
            local_root: LocalRoot::NotGiven,
            now,
            istio_grace: ISTIO_GRACE,
            istio: None,
            mesh_id: None,
        }
    }
}

/// The full report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Schema version.
    pub schema_version: &'static str,
    /// No check failed.
    pub success: bool,
    /// Every result, in category order.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Orders results, drops nothing, and decides success (warnings do not fail a run).
    pub fn new(mut checks: Vec<CheckResult>) -> Report {
        checks.sort_by(|a, b| {
            (a.category, a.id, &a.cluster, &a.peer).cmp(&(b.category, b.id, &b.cluster, &b.peer))
        });
        let success = !checks.iter().any(|c| c.result == Outcome::Fail);
        Report {
            schema_version: SCHEMA_VERSION,
            success,
            checks,
        }
    }

    /// Whether a result waits for someone else (an `Istio` within its reconcile grace).
    pub fn pending(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.id == CheckId::ControlPlaneIstioReady && c.result == Outcome::Warn)
    }

    /// Results of one check id.
    pub fn of(&self, id: CheckId) -> Vec<&CheckResult> {
        self.checks.iter().filter(|c| c.id == id).collect()
    }
}

/// Evaluates every selected check from gathered facts (no I/O, no clock).
pub fn evaluate(
    members: &[Member],
    facts: &[ClusterFacts],
    sel: &Selection,
    remote: &[remote::PairFacts],
    extra: Vec<CheckResult>,
) -> Report {
    let mut out = extra;
    if sel.pre {
        pre::evaluate(members, facts, sel.istio.as_ref(), &mut out);
    } else {
        facts::evaluate(facts, &mut out);
        trust::evaluate(facts, sel, &mut out);
        legacy::evaluate(facts, &mut out);
        control_plane::evaluate(members, facts, sel, &mut out);
        let file_version = sel.istio.as_ref().and_then(|i| i.version.as_deref());
        mesh_wide::evaluate(
            members,
            facts,
            (sel.mesh_id.as_deref(), file_version),
            &mut out,
        );
        network::evaluate(members, facts, &mut out);
        remote::evaluate(members, facts, remote, sel, &mut out);
        cover_unread(facts, &mut out);
    }
    apply_prerequisites(&mut out);
    Report::new(out)
}

/// A cluster whose facts could not be read fails `cluster.facts`; every per-cluster check it
/// would have had is listed for it as not evaluated, and a mesh-wide pass that could not see
/// it is no pass.
fn cover_unread(facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let unread: Vec<&str> = facts
        .iter()
        .filter(|f| f.error.is_some())
        .map(|f| f.name.as_str())
        .collect();
    if unread.is_empty() {
        return;
    }
    let mut per_cluster: Vec<CheckId> = out
        .iter()
        .filter(|r| r.cluster.is_some() && r.peer.is_none() && r.id != CheckId::ClusterFacts)
        .map(|r| r.id)
        .collect();
    per_cluster.sort();
    per_cluster.dedup();
    let why = |c: &str| format!("not evaluated: {} failed for {c}", CheckId::ClusterFacts);
    for c in &unread {
        for id in &per_cluster {
            out.push(Emit::new(*id).skip(Some(c), why(c)));
        }
    }
    for r in out.iter_mut().filter(|r| r.cluster.is_none()) {
        if r.result == Outcome::Pass {
            r.result = Outcome::Skip;
            r.message = format!("{} (among the clusters read)", why(&unread.join(", ")));
        }
    }
}

/// A check whose prerequisite failed for the same cluster is turned into a skip naming it.
fn apply_prerequisites(out: &mut [CheckResult]) {
    let failed: Vec<(CheckId, Option<String>, Option<String>)> = out
        .iter()
        .filter(|r| r.result == Outcome::Fail)
        .map(|r| (r.id, r.cluster.clone(), r.peer.clone()))
        .collect();
    for r in out.iter_mut() {
        if let Some(req) = r.id.info().requires.iter().find(|req| {
            failed.iter().any(|(id, c, p)| {
                id == *req && (c.is_none() || *c == r.cluster) && (p.is_none() || *p == r.peer)
            })
        }) && !matches!(r.result, Outcome::Pass | Outcome::NotApplicable)
        {
            r.result = Outcome::Skip;
            r.message = format!("not evaluated: {req} failed");
            r.hint.clear();
        }
    }
}

#[cfg(test)]
mod tests;
