//! Field managers: each plugin writes under its own (`kubectl-mesh-certs`, `kubectl-mesh-join`,
//! `kubectl-mesh-verify`), so one plugin's apply never drops fields the other set. Versions
//! before this wrote everything as `kubectl-mesh`; an object still owned by that manager is
//! migrated by the plugin that owns its kind (mesh-certs the `cacerts` Secret, mesh-join
//! everything else it writes): planned and applied under the old name, so the plan shows
//! exactly what the server does, then the old manager's entry is renamed (one merge patch of
//! `metadata.managedFields`, guarded by the `resourceVersion` the apply returned).

use serde_json::{Value, json};
use std::sync::OnceLock;

/// The field manager every version before per-plugin managers wrote with.
pub const LEGACY_FIELD_MANAGER: &str = "kubectl-mesh";
/// mesh-certs' field manager.
pub const CERTS_FIELD_MANAGER: &str = "kubectl-mesh-certs";
/// mesh-join's field manager.
pub const JOIN_FIELD_MANAGER: &str = "kubectl-mesh-join";
/// mesh-verify's field manager (traffic workloads, the installed watch).
pub const VERIFY_FIELD_MANAGER: &str = "kubectl-mesh-verify";

/// Every field manager of this suite, the legacy one included.
pub const OURS: [&str; 4] = [
    CERTS_FIELD_MANAGER,
    JOIN_FIELD_MANAGER,
    VERIFY_FIELD_MANAGER,
    LEGACY_FIELD_MANAGER,
];

static CURRENT: OnceLock<&'static str> = OnceLock::new();

/// Sets this process's field manager (each plugin's `main`, once).
pub fn set_field_manager(name: &'static str) {
    let _ = CURRENT.set(name);
}

/// This process's field manager (the legacy name where none was set: the library in tests).
pub fn field_manager() -> &'static str {
    CURRENT.get().copied().unwrap_or(LEGACY_FIELD_MANAGER)
}

/// Whether every conflict is with a field manager of this suite (and there is one).
pub fn only_ours(conflicts: &[super::FieldConflict]) -> bool {
    !conflicts.is_empty() && conflicts.iter().all(|c| OURS.contains(&c.manager.as_str()))
}

fn applied_by<'a>(live: &'a Value, manager: &str) -> Option<(usize, &'a Value)> {
    live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, m)| m["manager"] == manager && m["operation"] == "Apply")
}

fn is_cacerts(manifest: &Value) -> bool {
    manifest["kind"] == "Secret" && manifest["metadata"]["name"] == crate::labels::CACERTS_SECRET
}

/// Whether `current` is the plugin that migrates `manifest` from the legacy manager.
pub fn migrates(current: &str, manifest: &Value) -> bool {
    match current {
        CERTS_FIELD_MANAGER => is_cacerts(manifest),
        JOIN_FIELD_MANAGER => !is_cacerts(manifest),
        _ => false,
    }
}

/// The manager to apply `manifest` over `live` with, as `current`: the legacy one while it
/// alone still holds this object for the plugin that migrates it, else `current`.
pub fn manager_for(current: &'static str, manifest: &Value, live: Option<&Value>) -> &'static str {
    let Some(live) = live else { return current };
    let legacy_holds =
        applied_by(live, LEGACY_FIELD_MANAGER).is_some() && applied_by(live, current).is_none();
    if current != LEGACY_FIELD_MANAGER && legacy_holds && migrates(current, manifest) {
        LEGACY_FIELD_MANAGER
    } else {
        current
    }
}

/// The merge patch that renames the legacy manager's entry of `applied` to `current`, valid
/// only for the version the apply returned (`None` when it has no such entry).
pub fn rename_patch(applied: &Value, current: &str) -> Option<Value> {
    applied_by(applied, LEGACY_FIELD_MANAGER)?;
    let entries: Vec<Value> = applied["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m["manager"] == LEGACY_FIELD_MANAGER && m["operation"] == "Apply" {
                m["manager"] = json!(current);
            }
            m
        })
        .collect();
    Some(json!({"metadata": {
        "resourceVersion": applied["metadata"]["resourceVersion"],
        "managedFields": entries,
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(managers: &[&str]) -> Value {
        let entries: Vec<Value> = managers
            .iter()
            .map(|m| json!({"manager": m, "operation": "Apply"}))
            .collect();
        json!({"metadata": {"managedFields": entries}})
    }

    #[test]
    fn only_conflicts_with_this_suite_are_taken_over() {
        let c = |m: &str| super::super::FieldConflict {
            field: ".metadata.labels.topology.istio.io/network".into(),
            manager: m.into(),
        };
        assert!(only_ours(&[c(CERTS_FIELD_MANAGER)]));
        assert!(only_ours(&[c(LEGACY_FIELD_MANAGER), c(JOIN_FIELD_MANAGER)]));
        assert!(!only_ours(&[c(CERTS_FIELD_MANAGER), c("sail-operator")]));
        assert!(!only_ours(&[]));
    }

    #[test]
    fn the_owning_plugin_migrates_what_only_the_legacy_manager_holds() {
        let istio = json!({"kind": "Istio", "metadata": {"name": "default"}});
        let cacerts = json!({"kind": "Secret", "metadata": {"name": "cacerts"}});
        let old = live(&["sail-operator", LEGACY_FIELD_MANAGER]);
        assert_eq!(
            manager_for(JOIN_FIELD_MANAGER, &istio, Some(&old)),
            LEGACY_FIELD_MANAGER
        );
        assert_eq!(
            manager_for(CERTS_FIELD_MANAGER, &istio, Some(&old)),
            CERTS_FIELD_MANAGER
        );
        assert_eq!(
            manager_for(CERTS_FIELD_MANAGER, &cacerts, Some(&old)),
            LEGACY_FIELD_MANAGER
        );
        assert_eq!(
            manager_for(JOIN_FIELD_MANAGER, &cacerts, Some(&old)),
            JOIN_FIELD_MANAGER
        );
        // Migrated already, new, or the verify plugin: the plugin's own manager.
        let done = live(&[LEGACY_FIELD_MANAGER, JOIN_FIELD_MANAGER]);
        assert_eq!(
            manager_for(JOIN_FIELD_MANAGER, &istio, Some(&done)),
            JOIN_FIELD_MANAGER
        );
        assert_eq!(
            manager_for(JOIN_FIELD_MANAGER, &istio, None),
            JOIN_FIELD_MANAGER
        );
        assert_eq!(
            manager_for(VERIFY_FIELD_MANAGER, &istio, Some(&old)),
            VERIFY_FIELD_MANAGER
        );
    }

    #[test]
    fn the_rename_keeps_every_other_entry_and_the_version_it_read() {
        let mut applied = live(&["sail-operator", LEGACY_FIELD_MANAGER]);
        applied["metadata"]["resourceVersion"] = json!("42");
        let patch = rename_patch(&applied, JOIN_FIELD_MANAGER).unwrap();
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        let managers: Vec<&str> = patch["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["sail-operator", JOIN_FIELD_MANAGER]);
        assert_eq!(
            rename_patch(&live(&["sail-operator"]), JOIN_FIELD_MANAGER),
            None
        );
    }
}
