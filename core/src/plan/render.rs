//! How a plan looks: a table for people, YAML manifests for `kubectl apply -f -`, JSON for
//! programs; secret material only when the user asks for it.

use super::Plan;
use crate::render::{KubeTable, OutputFormat, Style, Tone};
use serde_json::Value;

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

/// The value every secret field shows instead of its content.
pub const REDACTED: &str = "<redacted: --include-secrets prints it>";

/// A secret manifest with every value of `data` and `stringData` replaced by [`REDACTED`]
/// (the keys stay, so the reader sees what the Secret holds).
fn redact(manifest: &Value) -> Value {
    let mut m = manifest.clone();
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = m.get_mut(field) {
            for v in map.values_mut() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    m
}

/// The plan as one JSON document; secret manifests are redacted unless `include_secrets`.
pub fn plan_json(plan: &Plan, include_secrets: bool) -> Value {
    let mut shown = plan.clone();
    if !include_secrets {
        for step in shown
            .clusters
            .iter_mut()
            .flat_map(|c| c.steps.iter_mut())
            .filter(|s| s.secret)
        {
            step.manifest = redact(&step.manifest);
        }
    }
    serde_json::to_value(&shown).unwrap_or(Value::Null)
}

/// The plan in the chosen format: the one renderer every command uses, so secret handling
/// cannot differ between formats.
pub fn render_plan(
    plan: &Plan,
    format: OutputFormat,
    include_secrets: bool,
    style: Style,
) -> String {
    match format {
        OutputFormat::Table => plan_table(plan, style),
        OutputFormat::Yaml => plan_yaml(plan, include_secrets),
        OutputFormat::Json => {
            let mut s =
                serde_json::to_string_pretty(&plan_json(plan, include_secrets)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ClusterPlan, Op, Step};
    use serde_json::json;

    fn plan_with_secret() -> Plan {
        let step = |manifest: Value, secret: bool| Step {
            op: Op::Create,
            manifest,
            note: None,
            secret,
            changes: Vec::new(),
        };
        Plan {
            clusters: vec![ClusterPlan {
                cluster: "east".into(),
                context: "ctx-east".into(),
                steps: vec![
                    step(
                        json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "istio-remote-secret-west", "namespace": "istio-system"},
                        "data": {"west": "c2VjcmV0LXRva2Vu"}, "stringData": {"x": "secret-token"}}),
                        true,
                    ),
                    step(
                        json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "plain"}, "data": {"k": "visible"}}),
                        false,
                    ),
                ],
            }],
        }
    }

    #[test]
    fn secrets_are_redacted_in_every_format_unless_asked_for() {
        let plan = plan_with_secret();
        for format in [OutputFormat::Table, OutputFormat::Yaml, OutputFormat::Json] {
            let out = render_plan(&plan, format, false, Style::plain());
            assert!(!out.contains("c2VjcmV0LXRva2Vu"), "{format:?}: {out}");
            assert!(!out.contains("secret-token"), "{format:?}: {out}");
            assert!(
                out.contains("istio-remote-secret-west"),
                "{format:?}: {out}"
            );
        }
        // Positive control: the same probe sees the material when the user asks for it,
        // and non-secret data is never hidden.
        for format in [OutputFormat::Yaml, OutputFormat::Json] {
            let out = render_plan(&plan, format, true, Style::plain());
            assert!(out.contains("c2VjcmV0LXRva2Vu"), "{format:?}: {out}");
            let out = render_plan(&plan, format, false, Style::plain());
            assert!(out.contains("visible") || format == OutputFormat::Table);
        }
        let json = plan_json(&plan, false);
        assert_eq!(
            json["clusters"][0]["steps"][0]["manifest"]["data"]["west"],
            REDACTED
        );
    }

    #[test]
    fn debug_of_a_plan_shows_secret_steps_by_object_only() {
        let plan = plan_with_secret();
        let shown = format!("{plan:?}");
        assert!(!shown.contains("c2VjcmV0LXRva2Vu"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(
            shown.contains("Secret istio-system/istio-remote-secret-west redacted"),
            "{shown}"
        );
        // Positive control: a step without secret material is shown whole.
        assert!(shown.contains("visible"), "{shown}");
    }
}
