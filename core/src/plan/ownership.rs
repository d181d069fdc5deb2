//! Whose an object is. An object our field manager created is ours to delete when the mesh no
//! longer wants it; an object that existed before we first changed it (a seed-built gateway, a
//! namespace someone created) is *adopted*: the first write we make to it carries the
//! annotation [`ADOPTED`], every later write keeps it, and removing it means taking off only
//! our fields — whoever made it keeps it. The mark goes on the adopted side so that objects
//! joined before the mark existed keep their meaning (created by us: deleted as before).

use serde_json::Value;

/// The annotation on an object that existed before kubectl-mesh first changed it.
pub const ADOPTED: &str = "kubectl-mesh.io/adopted";

/// Whether our field manager wrote this live object by server-side apply (and so may
/// remove it when the mesh no longer wants it). Objects other tools created are never ours.
pub fn written_by_us(live: &Value) -> bool {
    live["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|mf| {
            mf.iter().any(|m| {
                crate::cluster::OURS.iter().any(|o| m["manager"] == *o) && m["operation"] == "Apply"
            })
        })
}

/// Whether the live object carries the adoption mark.
pub fn is_adopted(live: &Value) -> bool {
    live["metadata"]["annotations"][ADOPTED] == "true"
}

/// Whether a write to `live` makes us adopt it: it exists and another tool made it.
pub fn adopts(live: &Value) -> bool {
    !written_by_us(live) && !is_adopted(live)
}

/// `manifest` with the adoption mark.
pub fn marked(mut manifest: Value) -> Value {
    let meta = &mut manifest["metadata"];
    if !meta["annotations"].is_object() {
        meta["annotations"] = Value::Object(Default::default());
    }
    meta["annotations"][ADOPTED] = Value::String("true".into());
    manifest
}

/// What removing `live` means for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// We created it: delete it.
    Delete,
    /// We adopted it: take off our fields only.
    Release,
    /// We never wrote it: leave it.
    NotOurs,
}

/// Decides the removal of a live object.
pub fn removal(live: &Value) -> Removal {
    match (is_adopted(live), written_by_us(live)) {
        (true, _) => Removal::Release,
        (false, true) => Removal::Delete,
        (false, false) => Removal::NotOurs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applied_by(manager: &str, operation: &str) -> Value {
        json!({"metadata": {"managedFields": [{"manager": manager, "operation": operation}]}})
    }

    #[test]
    fn only_objects_our_manager_applied_are_ours() {
        let ours = json!({"metadata": {"managedFields": [
            {"manager": "kube-controller-manager", "operation": "Update"},
            {"manager": "kubectl-mesh", "operation": "Apply"}]}});
        let helm = json!({"metadata": {"managedFields": [
            {"manager": "helm", "operation": "Apply"},
            {"manager": "kubectl-mesh", "operation": "Update"}]}});
        assert!(written_by_us(&ours));
        assert!(!written_by_us(&helm));
        assert!(!written_by_us(&json!({"metadata": {}})));
    }

    #[test]
    fn created_is_deleted_adopted_is_released_and_foreign_is_left() {
        let seed = applied_by("kubectl-client-side-apply", "Update");
        assert!(adopts(&seed));
        assert_eq!(removal(&seed), Removal::NotOurs);
        let mut adopted = marked(seed.clone());
        adopted["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "kubectl-mesh", "operation": "Apply"}));
        assert!(!adopts(&adopted));
        assert_eq!(removal(&adopted), Removal::Release);
        let created = applied_by("kubectl-mesh", "Apply");
        assert!(!adopts(&created));
        assert_eq!(removal(&created), Removal::Delete);
    }

    #[test]
    fn the_mark_joins_existing_annotations() {
        let m = marked(json!({"metadata": {"name": "x", "annotations": {"a": "b"}}}));
        assert_eq!(
            m["metadata"]["annotations"],
            json!({"a": "b", ADOPTED: "true"})
        );
        assert_eq!(
            marked(json!({"metadata": {}}))["metadata"]["annotations"][ADOPTED],
            "true"
        );
    }
}
