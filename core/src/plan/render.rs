//! How a plan looks: a table for people, YAML manifests for `kubectl apply -f -`.

use super::Plan;
use crate::render::{KubeTable, Style, Tone};

/// The plan as a table: cluster, context, action, object, note.
pub fn plan_table(plan: &Plan, style: Style) -> String {
    let mut table = KubeTable::new(&["CLUSTER", "CONTEXT", "ACTION", "OBJECT", "NOTE"], style);
    for cp in &plan.clusters {
        for step in &cp.steps {
            let tone = match step.op {
                super::Op::Create => Some(Tone::Good),
                super::Op::Update => Some(Tone::Warn),
                super::Op::Delete => Some(Tone::Bad),
                super::Op::Unchanged => None,
            };
            table.toned_row(vec![
                (cp.cluster.clone(), None),
                (cp.context.clone(), None),
                (step.op.as_str().to_string(), tone),
                (step.object(), None),
                (step.note.clone().unwrap_or_default(), None),
            ]);
        }
    }
    table.render()
}

/// Every manifest that would be created or updated, as a multi-document YAML stream.
/// Manifests carrying secret material are included only with `include_secrets`; otherwise a
/// comment says what was left out.
pub fn plan_yaml(plan: &Plan, include_secrets: bool) -> String {
    let mut out = String::new();
    for cp in &plan.clusters {
        for step in cp.steps.iter().filter(|s| s.op != super::Op::Delete) {
            out.push_str(&format!(
                "---\n# cluster: {} (context {})\n",
                cp.cluster, cp.context
            ));
            if step.secret && !include_secrets {
                out.push_str(&format!(
                    "# {} left out: it holds secret material (--include-secrets prints it)\n",
                    step.object()
                ));
                continue;
            }
            out.push_str(&yaml_serde::to_string(&step.manifest).unwrap_or_default());
        }
    }
    out
}
