use super::*;
use serde_json::json;

/// The shape of Sail 1.30.3's `istios.sailoperator.io` (enum shortened).
fn crd(list: &[&str]) -> Value {
    json!({"spec": {"versions": [
        {"name": "v1alpha1", "served": false, "schema": {"openAPIV3Schema": {"properties": {"spec":
            {"properties": {"version": {"enum": ["v1.99.0"]}}}}}}},
        {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"properties":
            {"spec": {"properties": {"version": {"default": "v1.30.3", "enum": list}}}}}}}
    ]}})
}

fn served(context: &str, list: &[&str]) -> (String, Vec<String>) {
    (context.into(), served_versions(&crd(list)).unwrap())
}

/// Sail 1.30.3's field: the enum keeps end-of-life versions as valid input, the description
/// lists what the operator installs.
fn sail_field() -> Value {
    json!({"spec": {"versions": [{"name": "v1", "served": true, "schema": {"openAPIV3Schema":
        {"properties": {"spec": {"properties": {"version": {
            "default": "v1.30.3",
            "description": "Defines the version of Istio to install.\nMust be one of: v1.30-latest, v1.30.3, v1.28.0.",
            "enum": ["v1.30-latest", "v1.30.3", "v1.28.0", "v1.24.1", "v1.21.6"]}}}}}}}]}})
}

#[test]
fn end_of_life_versions_the_enum_keeps_are_not_installable() {
    let list = served_versions(&sail_field()).unwrap();
    assert_eq!(list, ["v1.30-latest", "v1.30.3", "v1.28.0"]);
    let lists = [("lab-1".to_string(), list)];
    let err = choose_version(Some("v1.24.1"), &lists)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("of the supported versions it installs v1.30.3, v1.30-latest"),
        "{err}"
    );
}

#[test]
fn the_served_enum_is_read_from_a_served_version_only() {
    assert_eq!(
        served_versions(&crd(&["v1.30.3", "v1.30-latest"])),
        Some(vec!["v1.30.3".to_string(), "v1.30-latest".to_string()])
    );
    assert_eq!(served_versions(&json!({"spec": {}})), None);
}

#[test]
fn an_unserved_version_is_refused_naming_the_context_and_what_it_installs() {
    let lists = [
        served("lab-1", &["v1.30.3", "v1.24.1"]),
        served("lab-2", &["v1.30.3", "v1.30.2"]),
    ];
    assert_eq!(choose_version(Some("v1.30.3"), &lists).unwrap(), "v1.30.3");
    let err = choose_version(Some("v1.24.1"), &lists).unwrap_err();
    assert!(matches!(err, Error::Input { .. }), "exit 2: {err:?}");
    let text = err.to_string();
    assert!(
        text.contains("context lab-2") && text.contains("v1.24.1"),
        "{text}"
    );
    assert!(
        text.contains("of the supported versions it installs v1.30.3, v1.30.2"),
        "{text}"
    );
    assert!(text.contains("end-of-life"), "{text}");
}

#[test]
fn unset_takes_the_newest_every_cluster_installs() {
    let lists = [
        served("lab-1", &["v1.30-latest", "v1.30.3", "v1.30.2"]),
        served("lab-2", &["v1.30-latest", "v1.30.2"]),
    ];
    assert_eq!(choose_version(None, &lists).unwrap(), "v1.30.2");
    assert_eq!(choose_version(None, &lists[..1]).unwrap(), "v1.30.3");
    assert_eq!(
        choose_version(None, &[]).unwrap(),
        crate::mesh::DEFAULT_ISTIO_VERSION
    );
    let apart = [served("a", &["v1.30.3"]), served("b", &["v1.31.0"])];
    assert!(matches!(
        choose_version(None, &apart),
        Err(Error::Input { .. })
    ));
}
