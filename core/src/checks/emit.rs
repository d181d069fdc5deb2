//! One result of one check, and the builder the checks use to make them.

use super::{Category, CheckId, Outcome};
use serde::Serialize;

/// One result of one check (per cluster or ordered pair where it applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Check id.
    pub id: CheckId,
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emit {
    id: CheckId,
}

impl Emit {
    pub(crate) fn new(id: CheckId) -> Emit {
        Emit { id }
    }

    pub(crate) fn id(&self) -> CheckId {
        self.id
    }

    fn make(
        &self,
        result: Outcome,
        cluster: Option<&str>,
        message: String,
        hint: &str,
    ) -> CheckResult {
        let info = self.id.info();
        CheckResult {
            id: self.id,
            category: info.category,
            result,
            message,
            hint: hint.to_string(),
            docs: info.docs(),
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
        self.make(self.id.info().severity, cluster, message.into(), hint)
    }

    /// A failure whatever the severity (e.g. an expired certificate of a warning check).
    pub(crate) fn fail(
        &self,
        cluster: Option<&str>,
        message: impl Into<String>,
        hint: &str,
    ) -> CheckResult {
        self.make(Outcome::Fail, cluster, message.into(), hint)
    }

    pub(crate) fn warn(
        &self,
        cluster: Option<&str>,
        message: impl Into<String>,
        hint: &str,
    ) -> CheckResult {
        self.make(Outcome::Warn, cluster, message.into(), hint)
    }

    /// Not evaluated: `why` names the prerequisite or the read that failed.
    pub(crate) fn skip(&self, cluster: Option<&str>, why: impl Into<String>) -> CheckResult {
        self.make(Outcome::Skip, cluster, why.into(), "")
    }

    /// Does not apply to this mesh: `why` says why.
    pub(crate) fn not_applicable(
        &self,
        cluster: Option<&str>,
        why: impl Into<String>,
    ) -> CheckResult {
        self.make(Outcome::NotApplicable, cluster, why.into(), "")
    }
}
