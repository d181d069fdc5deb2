//! `mesh-verify`'s checks: a registry of checks with stable ids, facts gathered once per
//! cluster (in parallel, a bounded number of API requests), pure evaluation of those facts,
//! and reports as a table, a short summary or versioned JSON.
//!
//! Every check id has a section in `docs/checks.md` (a test enforces it); hints link there.

mod control_plane;
pub mod facts;
pub mod istiod;
mod legacy;
mod network;
mod pre;
pub mod remote;
mod report;
pub mod traffic;
mod trust;

pub use facts::{ClusterFacts, Member, gather};
pub use report::{render_short, render_table};

use serde::Serialize;

/// The JSON report's schema version (documented in `docs/checks.md`).
pub const SCHEMA_VERSION: &str = "kubectl-mesh.io/verify/v1";

/// Where the checks are documented.
pub const DOCS: &str = "docs/checks.md";

/// A check's category, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Before a join: can it work here?
    Pre,
    /// The mesh's certificates.
    Trust,
    /// A mesh built the Istio 1.4–1.7 way.
    Legacy,
    /// The control planes.
    ControlPlane,
    /// Gateways and exposure.
    Network,
    /// Remote secrets and what they grant.
    RemoteAccess,
    /// istiod's own view.
    Istiod,
    /// Requests across clusters.
    Traffic,
}

impl Category {
    /// Heading in the table.
    pub fn title(self) -> &'static str {
        match self {
            Category::Pre => "pre-join",
            Category::Trust => "trust",
            Category::Legacy => "legacy multicluster",
            Category::ControlPlane => "control plane",
            Category::Network => "network",
            Category::RemoteAccess => "remote access",
            Category::Istiod => "istiod",
            Category::Traffic => "traffic",
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Fine.
    Pass,
    /// Works, but worth attention.
    Warn,
    /// Broken.
    Fail,
    /// Could not run here (the message says why).
    Skip,
}

/// A registered check.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    /// Stable id, e.g. `trust.shared-root`.
    pub id: &'static str,
    /// Category.
    pub category: Category,
    /// What it proves.
    pub description: &'static str,
    /// Ids that must pass first (otherwise this one is skipped).
    pub requires: &'static [&'static str],
    /// Whether a failure is an error (`fail`) or only a warning (`warn`).
    pub severity: Outcome,
}

impl CheckInfo {
    /// The docs anchor of the check.
    pub fn docs(&self) -> String {
        format!("{DOCS}#{}", self.id.replace('.', ""))
    }
}

macro_rules! checks {
    ($($id:literal, $cat:ident, $sev:ident, [$($req:literal),*], $desc:literal;)*) => {
        /// Every check, in report order.
        pub const CHECKS: &[CheckInfo] = &[$(CheckInfo {
            id: $id,
            category: Category::$cat,
            description: $desc,
            requires: &[$($req),*],
            severity: Outcome::$sev,
        }),*];
    };
}

checks! {
    "pre.reachable", Pre, Fail, [], "every context's API server answers";
    "pre.kubernetes-version", Pre, Fail, ["pre.reachable"], "the Kubernetes version is one Istio supports (1.28 or later)";
    "pre.unique-names", Pre, Fail, [], "cluster names and kube contexts are unique";
    "pre.sail-crds", Pre, Warn, ["pre.reachable"], "the Sail operator's Istio API is served";
    "pre.multus", Pre, Fail, ["pre.reachable"], "the Multus CRD is served where the CNI configuration needs it";
    "pre.permissions", Pre, Fail, ["pre.reachable"], "the user may create what mesh-join creates";
    "pre.kernel", Pre, Warn, ["pre.reachable"], "nodes run a kernel of 4.11 or later (gateways need it)";
    "pre.load-balancer", Pre, Warn, ["pre.reachable"], "east-west gateways can get an external address";
    "trust.cacerts-present", Trust, Fail, [], "istio-system/cacerts holds all four files";
    "trust.chain-valid", Trust, Fail, ["trust.cacerts-present"], "the intermediate chains to a root of root-cert.pem and its key matches";
    "trust.shared-root", Trust, Fail, ["trust.cacerts-present"], "every cluster trusts one common root";
    "trust.expiry", Trust, Warn, ["trust.cacerts-present"], "no certificate expired or expiring within --warn-days";
    "trust.root-key-absent", Trust, Fail, ["trust.cacerts-present"], "no root private key is stored in the cluster";
    "trust.root-configmap", Trust, Fail, ["trust.cacerts-present"], "istio-ca-root-cert ConfigMaps carry the roots of cacerts";
    "legacy.global-dns", Legacy, Warn, [], "no mesh built the Istio 1.4-1.7 way (.global names, istiocoredns)";
    "control-plane.istio-ready", ControlPlane, Fail, [], "Istio/default is Ready where an operator runs";
    "control-plane.mesh-id", ControlPlane, Fail, [], "values.global.meshID is the same everywhere";
    "control-plane.cluster-names", ControlPlane, Fail, [], "cluster names are unique and match the remote-secret keys";
    "control-plane.network-label", ControlPlane, Fail, [], "the istio-system network label equals values.global.network";
    "control-plane.version-skew", ControlPlane, Warn, [], "control planes run the same Istio minor version";
    "network.eastwest-service", Network, Fail, [], "the east-west gateway Service exists with its ports and an address";
    "network.cross-network-gateway", Network, Fail, [], "the cross-network Gateway exists in multi-network meshes";
    "network.expose-istiod", Network, Fail, [], "istiod is exposed to remotes (Gateway + VirtualService)";
    "remote.secret-present", RemoteAccess, Fail, [], "the reading cluster holds a well-formed remote secret for its peer";
    "remote.kubeconfig", RemoteAccess, Fail, ["remote.secret-present"], "the remote secret's kubeconfig parses and names one cluster";
    "remote.server-address", RemoteAccess, Fail, ["remote.kubeconfig"], "the API server address is not loopback";
    "remote.credentials", RemoteAccess, Fail, ["remote.kubeconfig"], "the credentials authenticate against the peer and carry the reader permissions";
    "remote.unique-claims", RemoteAccess, Fail, [], "no two remote secrets claim one cluster";
    "istiod.remote-clusters-synced", Istiod, Fail, [], "istiod reports every remote cluster synced (/debug/clusterz)";
    "traffic.cross-cluster", Traffic, Fail, [], "requests from each cluster reach every cluster's workloads (--traffic)";
}

/// Looks a check up by id.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// One result of one check (per cluster or ordered pair where it applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Check id.
    pub id: &'static str,
    /// Its category.
    pub category: Category,
    /// Outcome.
    pub result: Outcome,
    /// What was found.
    pub message: String,
    /// The next step (empty when passing).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
    /// Docs anchor.
    pub docs: String,
    /// The cluster it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// For pairs: the other cluster (`cluster` reads `peer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// Builds results for one check id.
#[derive(Debug, Clone)]
pub(crate) struct Emit {
    info: &'static CheckInfo,
}

impl Emit {
    pub(crate) fn new(id: &'static str) -> Emit {
        Emit {
            info: info(id).unwrap_or(&CHECKS[0]),
        }
    }

    fn make(
        &self,
        result: Outcome,
        cluster: Option<&str>,
        message: String,
        hint: &str,
    ) -> CheckResult {
        CheckResult {
            id: self.info.id,
            category: self.info.category,
            result,
            message,
            hint: hint.to_string(),
            docs: self.info.docs(),
            cluster: cluster.map(String::from),
            peer: None,
        }
    }

    pub(crate) fn pass(&self, cluster: Option<&str>, message: impl Into<String>) -> CheckResult {
        self.make(Outcome::Pass, cluster, message.into(), "")
    }

    /// A problem: `fail` or `warn` as the check's severity says.
    pub(crate) fn problem(
        &self,
        cluster: Option<&str>,
        message: impl Into<String>,
        hint: &str,
    ) -> CheckResult {
        self.make(self.info.severity, cluster, message.into(), hint)
    }

    pub(crate) fn warn(
        &self,
        cluster: Option<&str>,
        message: impl Into<String>,
        hint: &str,
    ) -> CheckResult {
        self.make(Outcome::Warn, cluster, message.into(), hint)
    }

    pub(crate) fn skip(&self, cluster: Option<&str>, why: impl Into<String>) -> CheckResult {
        self.make(Outcome::Skip, cluster, why.into(), "")
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Pre-join checks (instead of the post-join ones).
    pub pre: bool,
    /// Accept loopback API server addresses (a lab on one host).
    pub allow_loopback: bool,
    /// Days before expiry that count as expiring.
    pub warn_days: i64,
    /// The root on the operator's disk, when known.
    pub local_root: Option<String>,
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
        let order = |id: &str| CHECKS.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
        checks.sort_by(|a, b| {
            (a.category, order(a.id), &a.cluster, &a.peer).cmp(&(
                b.category,
                order(b.id),
                &b.cluster,
                &b.peer,
            ))
        });
        let success = !checks.iter().any(|c| c.result == Outcome::Fail);
        Report {
            schema_version: SCHEMA_VERSION,
            success,
            checks,
        }
    }

    /// Results of one check id.
    pub fn of(&self, id: &str) -> Vec<&CheckResult> {
        self.checks.iter().filter(|c| c.id == id).collect()
    }
}

/// Evaluates every selected check from gathered facts (no I/O).
pub fn evaluate(
    members: &[Member],
    facts: &[ClusterFacts],
    sel: &Selection,
    remote: &[remote::PairFacts],
    extra: Vec<CheckResult>,
) -> Report {
    let mut out = extra;
    if sel.pre {
        pre::evaluate(members, facts, &mut out);
    } else {
        trust::evaluate(facts, sel, &mut out);
        legacy::evaluate(facts, &mut out);
        control_plane::evaluate(members, facts, &mut out);
        network::evaluate(members, facts, &mut out);
        remote::evaluate(members, facts, remote, sel, &mut out);
    }
    apply_prerequisites(&mut out);
    Report::new(out)
}

/// A check whose prerequisite failed for the same cluster is turned into a skip.
fn apply_prerequisites(out: &mut [CheckResult]) {
    let failed: Vec<(&'static str, Option<String>, Option<String>)> = out
        .iter()
        .filter(|r| r.result == Outcome::Fail)
        .map(|r| (r.id, r.cluster.clone(), r.peer.clone()))
        .collect();
    for r in out.iter_mut() {
        let Some(info) = info(r.id) else { continue };
        if let Some(req) = info.requires.iter().find(|req| {
            failed.iter().any(|(id, c, p)| {
                id == *req && (c.is_none() || *c == r.cluster) && (p.is_none() || *p == r.peer)
            })
        }) && r.result != Outcome::Pass
        {
            r.result = Outcome::Skip;
            r.message = format!("skipped: {req} failed");
            r.hint.clear();
        }
    }
}
