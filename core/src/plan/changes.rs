//! What the server would change: the live object against the server's dry-run result.
//!
//! Server-side apply with our field manager removes the fields we set before and no longer
//! send, so comparing the live object with the result of a dry-run apply shows additions,
//! changes *and removals*, as `kubectl diff` does. Bookkeeping the server rewrites on every
//! write (managed fields, resource version, generation, timestamps) and `status` are not
//! changes. Only paths are kept, never values: a path is safe to print for a Secret.

use serde::Serialize;
use serde_json::{Map, Value};

/// What happens to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The field appears.
    Added,
    /// The field gets another value.
    Changed,
    /// The field goes away.
    Removed,
}

impl ChangeKind {
    /// `+`, `~` or `-`.
    pub fn sign(self) -> char {
        match self {
            ChangeKind::Added => '+',
            ChangeKind::Changed => '~',
            ChangeKind::Removed => '-',
        }
    }
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// `spec.values.global.network`, `metadata.labels["topology.istio.io/network"]`.
    pub path: String,
    /// What happens to it.
    pub kind: ChangeKind,
}

/// Metadata the API server rewrites on every write.
const BOOKKEEPING: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
];

/// The object without the server's bookkeeping and without `status`.
pub fn comparable(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(Value::Object(meta)) = o.get_mut("metadata") {
            for k in BOOKKEEPING {
                meta.remove(*k);
            }
        }
    }
    v
}

/// Every field that differs between `live` and `after` (both as the server returns them).
pub fn field_changes(live: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(
        &comparable(live),
        &comparable(after),
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn walk(before: &Value, after: &Value, path: &mut Vec<String>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => walk_objects(b, a, path, out),
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                path.push(format!("[{i}]"));
                walk(bv, av, path, out);
                path.pop();
            }
        }
        (Value::Number(b), Value::Number(a)) if b.as_f64() == a.as_f64() => {}
        (b, a) if b == a => {}
        _ => out.push(FieldChange {
            path: render_path(path),
            kind: ChangeKind::Changed,
        }),
    }
}

fn walk_objects(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    path: &mut Vec<String>,
    out: &mut Vec<FieldChange>,
) {
    for (k, bv) in before {
        path.push(key_segment(k));
        match after.get(k) {
            Some(av) => walk(bv, av, path, out),
            None => out.push(FieldChange {
                path: render_path(path),
                kind: ChangeKind::Removed,
            }),
        }
        path.pop();
    }
    for k in after.keys().filter(|k| !before.contains_key(*k)) {
        path.push(key_segment(k));
        out.push(FieldChange {
            path: render_path(path),
            kind: ChangeKind::Added,
        });
        path.pop();
    }
}

fn key_segment(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!(".{k}")
    } else {
        format!("[{k:?}]")
    }
}

fn render_path(path: &[String]) -> String {
    path.concat().trim_start_matches('.').to_string()
}

/// A short note for the table: `~spec.values.global.network -spec.profile (+2 more)`.
pub fn summary(changes: &[FieldChange], max: usize) -> String {
    let mut parts: Vec<String> = changes
        .iter()
        .take(max)
        .map(|c| format!("{}{}", c.kind.sign(), c.path))
        .collect();
    if changes.len() > max {
        parts.push(format!("(+{} more)", changes.len() - max));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn additions_changes_and_removals_are_all_seen() {
        let live = json!({"metadata": {"name": "default", "resourceVersion": "7",
            "annotations": {"topology.istio.io/controlPlaneClusters": "east"}},
            "spec": {"profile": "remote", "values": {"global": {"network": "n1", "externalIstiod": true}}},
            "status": {"state": "Healthy"}});
        let after = json!({"metadata": {"name": "default", "resourceVersion": "8", "generation": 3},
            "spec": {"values": {"global": {"network": "n2", "meshID": "m"}}},
            "status": {"state": "Other"}});
        let changes = field_changes(&live, &after);
        let rendered: Vec<String> = changes
            .iter()
            .map(|c| format!("{}{}", c.kind.sign(), c.path))
            .collect();
        assert_eq!(
            rendered,
            vec![
                "-metadata.annotations",
                "-spec.profile",
                "-spec.values.global.externalIstiod",
                "~spec.values.global.network",
                "+spec.values.global.meshID",
            ]
        );
    }

    #[test]
    fn bookkeeping_and_status_are_not_changes_but_everything_else_is() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "managedFields": [1],
            "labels": {"x": "1"}}, "data": {"k": "v"}, "status": {"a": 1}});
        let same = json!({"metadata": {"name": "a", "uid": "u", "managedFields": [1, 2],
            "generation": 2, "labels": {"x": "1"}}, "data": {"k": "v"}});
        assert!(field_changes(&live, &same).is_empty());
        // Positive control: a label the server would drop is seen, with a quoted key.
        let dropped = json!({"metadata": {"name": "a", "labels": {}}, "data": {"k": "v"}});
        let live2 = json!({"metadata": {"name": "a", "labels": {"topology.istio.io/network": "n1"}}, "data": {"k": "v"}});
        assert_eq!(
            field_changes(&live2, &dropped),
            vec![FieldChange {
                path: "metadata.labels[\"topology.istio.io/network\"]".into(),
                kind: ChangeKind::Removed
            }]
        );
    }

    #[test]
    fn arrays_of_another_length_change_as_a_whole_and_numbers_compare_by_value() {
        let live = json!({"spec": {"ports": [{"port": 15443}], "n": 1.0}});
        let after = json!({"spec": {"ports": [{"port": 15443}, {"port": 15012}], "n": 1}});
        assert_eq!(summary(&field_changes(&live, &after), 3), "~spec.ports");
        let a = json!({"spec": {"ports": [{"port": 15443}, {"port": 15012}]}});
        let b = json!({"spec": {"ports": [{"port": 15443}, {"port": 15017}]}});
        assert_eq!(summary(&field_changes(&a, &b), 3), "~spec.ports[1].port");
    }

    #[test]
    fn the_summary_says_how_many_it_left_out() {
        let changes: Vec<FieldChange> = (0..5)
            .map(|i| FieldChange {
                path: format!("data.k{i}"),
                kind: ChangeKind::Added,
            })
            .collect();
        assert_eq!(summary(&changes, 2), "+data.k0 +data.k1 (+3 more)");
    }
}
