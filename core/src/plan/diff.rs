//! Desired versus live without a server: does the live object already carry every field we
//! set? This cannot see removals (a field we stopped sending); plans use the server's dry run
//! ([`super::server`]) and this stays for content checks that are not plans.

use super::Op;
use serde_json::Value;

/// True when every field of `desired` is present in `live` with an equal value.
/// Objects compare by key (extra live keys are fine); arrays must have the same length and
/// contain each other element-wise; scalars compare equal, numbers by value.
fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            None => dv.is_null() || is_empty_collection(dv),
        }),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (l, d) => l == d,
    }
}

fn is_empty_collection(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

/// The step for a desired manifest given the live object (if any), with a note naming the
/// first differing field.
pub fn compare(desired: &Value, live: Option<&Value>) -> (Op, Option<String>) {
    match live {
        None => (Op::Create, None),
        Some(live) => {
            let mut path = Vec::new();
            if first_difference(live, desired, &mut path) {
                (Op::Update, Some(format!("differs at {}", path.join("."))))
            } else {
                (Op::Unchanged, None)
            }
        }
    }
}

fn first_difference(live: &Value, desired: &Value, path: &mut Vec<String>) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            for (k, dv) in d {
                path.push(k.clone());
                let differs = match l.get(k) {
                    Some(lv) => first_difference(lv, dv, path),
                    None => !(dv.is_null() || is_empty_collection(dv)),
                };
                if differs {
                    return true;
                }
                path.pop();
            }
            false
        }
        (l, d) => !contains(l, d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_count_in_a_content_check() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "data": {"k": "v"}});
        assert_eq!(compare(&desired, Some(&live)).0, Op::Unchanged);
    }

    #[test]
    fn a_changed_value_is_an_update_naming_the_field() {
        let desired = json!({"spec": {"values": {"global": {"network": "n2"}}}});
        let live = json!({"spec": {"values": {"global": {"network": "n1", "meshID": "m"}}}});
        let (op, note) = compare(&desired, Some(&live));
        assert_eq!(op, Op::Update);
        assert_eq!(
            note.as_deref(),
            Some("differs at spec.values.global.network")
        );
    }

    #[test]
    fn arrays_compare_by_length_and_element() {
        let desired = json!({"ports": [{"port": 15443}, {"port": 15012}]});
        assert!(contains(
            &json!({"ports": [{"port": 15443, "protocol": "TCP"}, {"port": 15012}]}),
            &desired
        ));
        assert!(!contains(&json!({"ports": [{"port": 15443}]}), &desired));
        assert!(!contains(
            &json!({"ports": [{"port": 15012}, {"port": 15443}]}),
            &desired
        ));
    }

    #[test]
    fn missing_object_is_create_and_numbers_compare_by_value() {
        assert_eq!(compare(&json!({"a": 1}), None).0, Op::Create);
        assert!(contains(&json!({"n": 1.0}), &json!({"n": 1})));
    }
}
