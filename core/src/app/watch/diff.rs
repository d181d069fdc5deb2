//! What changed between two evaluations: a check's outcome, a check that appeared or one that
//! is gone. A message that changes with the same outcome ("valid for 20 more days" → 19) is no
//! change.

use crate::checks::{Category, CheckId, CheckResult, Outcome, Report};
use serde::Serialize;
use std::collections::BTreeMap;

/// A result's identity across evaluations.
pub type Key = (CheckId, Option<String>, Option<String>);

/// The identity of `r`.
pub fn key(r: &CheckResult) -> Key {
    (r.id, r.cluster.clone(), r.peer.clone())
}

/// One check whose outcome changed (one JSON line of `--watch -o json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Check id.
    pub id: CheckId,
    /// Its category.
    pub category: Category,
    /// The cluster it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// For pairs: the other cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The outcome now; `None` when the check is no longer evaluated (e.g. a cluster left).
    pub result: Option<Outcome>,
    /// The outcome before; `None` on the first evaluation or for a new check.
    pub previous: Option<Outcome>,
    /// What was found (the last message of a check that is gone).
    pub message: String,
    /// The next step (empty when passing or gone).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

impl Change {
    fn of(r: &CheckResult, result: Option<Outcome>, previous: Option<Outcome>) -> Change {
        let gone = result.is_none();
        Change {
            id: r.id,
            category: r.category,
            cluster: r.cluster.clone(),
            peer: r.peer.clone(),
            result,
            previous,
            message: if gone {
                format!("no longer evaluated (last: {})", r.message)
            } else {
                r.message.clone()
            },
            hint: if gone { String::new() } else { r.hint.clone() },
        }
    }

    /// Whether this change is bad news (a warning or failure that was not one before).
    pub fn worsened(&self) -> bool {
        matches!(self.result, Some(Outcome::Fail | Outcome::Warn))
            && self.result != self.previous
            && self.previous != Some(Outcome::Fail)
    }

    /// Whether a warning or failure went back to a pass.
    pub fn recovered(&self) -> bool {
        self.result == Some(Outcome::Pass)
            && matches!(self.previous, Some(Outcome::Fail | Outcome::Warn))
    }
}

/// Every change from `before` to `after` (on the first evaluation, every result), in the
/// report's order, then what is gone.
pub fn changes(before: Option<&Report>, after: &Report) -> Vec<Change> {
    let old: BTreeMap<Key, &CheckResult> = before
        .map(|b| b.checks.iter().map(|r| (key(r), r)).collect())
        .unwrap_or_default();
    let mut out: Vec<Change> = after
        .checks
        .iter()
        .filter_map(|r| {
            let previous = old.get(&key(r)).map(|p| p.result);
            (previous != Some(r.result)).then(|| Change::of(r, Some(r.result), previous))
        })
        .collect();
    let now: std::collections::BTreeSet<Key> = after.checks.iter().map(key).collect();
    out.extend(
        old.iter()
            .filter(|(k, _)| !now.contains(*k))
            .map(|(_, r)| Change::of(r, None, Some(r.result))),
    );
    out
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
