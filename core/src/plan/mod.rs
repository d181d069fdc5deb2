//! Plans: every mutation is computed first, shown, and only then carried out.
//!
//! A [`Plan`] is an ordered list of [`Step`]s per cluster. Each step is a desired manifest and
//! what applying it would do to the live object: `create`, `update`, `unchanged` or `delete`.
//! The API server decides (see [`server`]): each desired object is sent as a server-side
//! apply dry run with our field manager and the result compared with the live object, so
//! additions, changes and removals of fields we set before all show, defaults and admission
//! are applied, and a field another manager owns stops the plan before any write. A second
//! run of a command is a plan of `unchanged` steps and writes nothing.
//!
//! Both `--dry-run` modes print the plan and write nothing (the plan already is the server's
//! dry run); `-o yaml` prints the manifests for `kubectl apply -f -`; a real run applies
//! exactly the plan, in order.

mod changes;
mod diff;
mod execute;
pub mod ownership;
mod render;
pub mod server;

pub use changes::{ChangeKind, FieldChange, field_changes};
pub use diff::compare;
pub use execute::{ApplyMode, apply_cluster, apply_plan, observe};
pub use render::{REDACTED, plan_json, plan_table, plan_yaml, render_plan};

use serde::Serialize;
use serde_json::Value;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The object does not exist yet.
    Create,
    /// The object exists and some field we own differs.
    Update,
    /// The object already is as desired.
    Unchanged,
    /// The object exists and must go.
    Delete,
}

impl Op {
    /// Lower-case name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Unchanged => "unchanged",
            Op::Delete => "delete",
        }
    }

    /// True when carrying out the step writes to the cluster.
    pub fn writes(self) -> bool {
        !matches!(self, Op::Unchanged)
    }
}

/// One step.
#[derive(Clone, Serialize)]
pub struct Step {
    /// What it does.
    pub op: Op,
    /// The desired manifest (for `delete`, the identity of the object).
    pub manifest: Value,
    /// Why, when it helps the reader (`differs: spec.values.global.network`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether the manifest carries secret material (printed only on request).
    #[serde(skip)]
    pub secret: bool,
    /// The fields the server would add, change or remove (paths only, never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// A step that carries Secret data shows its object, never its manifest.
impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Step");
        d.field("op", &self.op);
        if self.secret {
            d.field("manifest", &format_args!("<{} redacted>", self.object()));
        } else {
            d.field("manifest", &self.manifest);
        }
        d.field("note", &self.note)
            .field("secret", &self.secret)
            .field("changes", &self.changes)
            .finish()
    }
}

impl Step {
    /// `Kind namespace/name`.
    pub fn object(&self) -> String {
        crate::cluster::describe(&self.manifest)
    }
}

/// One cluster's steps, in the order they are applied.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    /// Cluster name (the mesh's name for it).
    pub cluster: String,
    /// Kubeconfig context.
    pub context: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// A whole plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Per cluster, in the order given.
    pub clusters: Vec<ClusterPlan>,
}

impl Plan {
    /// Number of steps that write.
    pub fn writes(&self) -> usize {
        self.clusters
            .iter()
            .flat_map(|c| &c.steps)
            .filter(|s| s.op.writes())
            .count()
    }

    /// Appends a cluster's steps to its entry, or adds the entry.
    pub fn merge(&mut self, cluster: ClusterPlan) {
        match self
            .clusters
            .iter_mut()
            .find(|c| c.cluster == cluster.cluster)
        {
            Some(c) => c.steps.extend(cluster.steps),
            None => self.clusters.push(cluster),
        }
    }

    /// True when nothing would change.
    pub fn is_noop(&self) -> bool {
        self.writes() == 0
    }
}
