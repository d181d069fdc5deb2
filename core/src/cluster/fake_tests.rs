use super::*;
use crate::cluster::LEGACY_FIELD_MANAGER;
use std::future::Future;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn config_map(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "labels": {"app": "x"}}, "data": data})
}

#[test]
fn a_dry_run_returns_the_result_and_stores_and_logs_nothing() {
    let fake = FakeCluster::new("ctx");
    let cm = config_map(json!({"a": "1"}));
    let planned = block_on(fake.apply(&cm, true)).unwrap();
    assert_eq!(planned["data"]["a"], "1");
    assert_eq!(fake.object("v1", "ConfigMap", Some("default"), "c"), None);
    assert!(fake.writes().is_empty());
    // Positive control: the same apply without dry run is stored and logged.
    let stored = block_on(fake.apply(&cm, false)).unwrap();
    assert_eq!(fake.written(), ["apply ConfigMap default/c"]);
    assert_eq!(
        stored["metadata"]["managedFields"][0]["manager"],
        LEGACY_FIELD_MANAGER
    );
    assert!(stored["metadata"]["resourceVersion"].is_string());
    assert_eq!(
        block_on(fake.get("v1", "ConfigMap", Some("default"), "c")).unwrap(),
        Some(stored)
    );
}

#[test]
fn a_field_the_manager_stops_sending_is_gone_unless_another_manager_set_it() {
    let fake = FakeCluster::new("ctx");
    fake.insert(config_map(json!({"theirs": "t"})));
    block_on(fake.apply(&config_map(json!({"a": "1", "b": "2"})), false)).unwrap();
    let after = block_on(fake.apply(&config_map(json!({"a": "1"})), false)).unwrap();
    assert_eq!(after["data"], json!({"a": "1", "theirs": "t"}));
}

#[test]
fn generation_moves_with_the_spec_and_resource_version_with_any_change() {
    let fake = FakeCluster::new("ctx");
    let svc = |port: u16, label: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default",
            "labels": {"l": label}}, "spec": {"ports": [{"port": port}]}})
    };
    let first = block_on(fake.apply(&svc(80, "a"), false)).unwrap();
    let labelled = block_on(fake.apply(&svc(80, "b"), false)).unwrap();
    let same = block_on(fake.apply(&svc(80, "b"), false)).unwrap();
    let ported = block_on(fake.apply(&svc(81, "b"), false)).unwrap();
    let meta = |v: &Value, f: &str| v["metadata"][f].clone();
    assert_eq!(meta(&first, "generation"), 1);
    assert_eq!(meta(&labelled, "generation"), 1);
    assert_ne!(
        meta(&labelled, "resourceVersion"),
        meta(&first, "resourceVersion")
    );
    assert_eq!(
        meta(&same, "resourceVersion"),
        meta(&labelled, "resourceVersion")
    );
    assert_eq!(meta(&ported, "generation"), 2);
}

#[test]
fn another_managers_value_is_a_conflict_unless_forced() {
    let fake = FakeCluster::new("ctx");
    fake.insert_applied("helm", config_map(json!({"a": "helm"})));
    let e = block_on(fake.apply(&config_map(json!({"a": "ours"})), false)).unwrap_err();
    let ClusterError::Conflict { conflicts, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(conflicts[0].field, ".data.a");
    assert_eq!(conflicts[0].manager, "helm");
    // The same value is shared ownership, not a conflict; forced, the field is taken.
    block_on(fake.apply(&config_map(json!({"a": "helm"})), true)).unwrap();
    let taken = block_on(fake.apply_with(&config_map(json!({"a": "ours"})), false, true)).unwrap();
    assert_eq!(taken["data"]["a"], "ours");
}

#[test]
fn lists_select_by_namespace_and_labels_and_carry_no_kind() {
    let fake = FakeCluster::new("ctx");
    fake.insert(config_map(json!({})));
    let mut other = config_map(json!({}));
    other["metadata"]["name"] = json!("d");
    other["metadata"]["labels"] = json!({"app": "y"});
    fake.insert(other);
    let names = |sel: Option<&str>| -> Vec<String> {
        block_on(fake.list("v1", "ConfigMap", Some("default"), sel))
            .unwrap()
            .iter()
            .map(|o| {
                assert!(o.get("kind").is_none());
                o["metadata"]["name"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(names(None), ["c", "d"]);
    assert_eq!(names(Some("app=x")), ["c"]);
    assert_eq!(names(Some("app!=x")), ["d"]);
    assert!(names(Some("missing")).is_empty());
    let by_name =
        block_on(fake.list_selected("v1", "ConfigMap", None, None, Some("metadata.name=d")))
            .unwrap();
    assert_eq!(by_name.len(), 1);
}

#[test]
fn unserved_kinds_missing_namespaces_and_scripted_failures_are_refused() {
    let fake = FakeCluster::new("ctx").without_kind("v1", "ConfigMap");
    let e = block_on(fake.get("v1", "ConfigMap", Some("default"), "c")).unwrap_err();
    assert!(matches!(e, ClusterError::NotServed { .. }), "{e:?}");
    let fake = FakeCluster::new("ctx");
    let mut cm = config_map(json!({}));
    cm["metadata"]["namespace"] = json!("nowhere");
    let e = block_on(fake.apply(&cm, true)).unwrap_err();
    assert!(
        matches!(e, ClusterError::Rejected { code: 404, .. }),
        "{e:?}"
    );
    fake.fail_next(
        Call::Get,
        "ConfigMap",
        "c",
        ClusterError::Unauthorized {
            context: "ctx".into(),
            operation: "get".into(),
        },
    );
    assert!(block_on(fake.get("v1", "ConfigMap", Some("default"), "c")).is_err());
    // Once only.
    assert_eq!(
        block_on(fake.get("v1", "ConfigMap", Some("default"), "c")).unwrap(),
        None
    );
}

#[test]
fn a_deleted_namespace_takes_its_objects_and_every_delete_is_logged() {
    let fake = FakeCluster::new("ctx");
    fake.insert(config_map(json!({})));
    assert!(block_on(fake.delete("v1", "Namespace", None, "default", true)).unwrap());
    assert!(fake.writes().is_empty(), "a dry run is not a write");
    assert!(block_on(fake.delete("v1", "Namespace", None, "default", false)).unwrap());
    assert_eq!(fake.object("v1", "ConfigMap", Some("default"), "c"), None);
    assert_eq!(fake.written(), ["delete Namespace default"]);
}

#[test]
fn a_merge_patch_sets_and_removes_fields_as_an_update() {
    let fake = FakeCluster::new("ctx");
    fake.insert(config_map(json!({"a": "1", "b": "2"})));
    let patch = json!({"data": {"a": null, "c": "3"}});
    let out = block_on(fake.merge_patch("v1", "ConfigMap", Some("default"), "c", &patch)).unwrap();
    assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
    assert_eq!(fake.written(), ["patch ConfigMap default/c"]);
}

#[test]
fn debug_output_shows_no_object_content() {
    let fake = FakeCluster::new("ctx");
    fake.insert(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"}, "data": {"token": "c2VjcmV0LXZhbHVl"}}));
    let shown = format!("{fake:?}");
    assert!(shown.contains("ctx"), "{shown}");
    assert!(!shown.contains("c2VjcmV0LXZhbHVl"), "{shown}");
}
