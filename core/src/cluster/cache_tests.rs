#![allow(clippy::unwrap_used)]

use super::*;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;

fn scope(kind: &str, namespace: Option<&str>, fields: Option<&str>) -> Scope {
    Scope {
        api_version: "v1".into(),
        kind: kind.into(),
        namespace: namespace.map(String::from),
        fields: fields.map(String::from),
    }
}

fn read<'a>(kind: &'a str, namespace: Option<&'a str>, name: Option<&'a str>) -> Read<'a> {
    Read {
        api_version: "v1",
        kind,
        namespace,
        labels: None,
        fields: None,
        name,
    }
}

#[test]
fn a_scope_covers_only_reads_it_holds_every_answer_of() {
    let secrets = scope("Secret", Some("istio-system"), None);
    assert!(secrets.covers(&read("Secret", Some("istio-system"), None)));
    assert!(secrets.covers(&read("Secret", Some("istio-system"), Some("cacerts"))));
    assert!(!secrets.covers(&read("Secret", Some("default"), None)));
    assert!(
        !secrets.covers(&read("Secret", None, None)),
        "all namespaces"
    );
    assert!(!secrets.covers(&read("ConfigMap", Some("istio-system"), None)));
    let labelled = Read {
        labels: Some("app=istiod"),
        ..read("Secret", Some("istio-system"), None)
    };
    assert!(!secrets.covers(&labelled));
    // A cache of one name answers a get of that name, and a list with that selector only.
    let maps = scope("ConfigMap", None, Some("metadata.name=istio-ca-root-cert"));
    let selected = Read {
        fields: Some("metadata.name=istio-ca-root-cert"),
        ..read("ConfigMap", None, None)
    };
    assert!(maps.covers(&selected));
    assert!(maps.covers(&read("ConfigMap", Some("a"), Some("istio-ca-root-cert"))));
    assert!(!maps.covers(&read("ConfigMap", Some("kube-system"), Some("coredns"))));
    assert!(!maps.covers(&read("ConfigMap", None, None)));
}

fn object(ns: &str, name: &str) -> DynamicObject {
    let r = kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
    let mut o = DynamicObject::new(name, &r);
    o.metadata.namespace = Some(ns.into());
    o
}

#[test]
fn only_a_live_cache_answers_sorted_and_filtered() {
    let r = kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
    let mut writer = Writer::<DynamicObject>::new(r);
    let live = Arc::new(AtomicBool::new(false));
    let caches = Caches::default();
    caches.add(Cached {
        scope: scope("Secret", None, None),
        store: writer.as_reader(),
        live: live.clone(),
    });
    writer.apply_watcher_event(&Event::Init);
    for (ns, name) in [("b", "x"), ("a", "y"), ("a", "x")] {
        writer.apply_watcher_event(&Event::InitApply(object(ns, name)));
    }
    writer.apply_watcher_event(&Event::InitDone);
    let all = read("Secret", None, None);
    assert!(
        caches.answer(&all).is_none(),
        "not live: the server is asked"
    );
    live.store(true, Ordering::Release);
    let names: Vec<String> = caches
        .answer(&all)
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{}/{}",
                v["metadata"]["namespace"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["a/x", "a/y", "b/x"]);
    assert_eq!(
        caches
            .answer(&read("Secret", Some("a"), None))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        caches
            .answer(&read("Secret", Some("b"), Some("x")))
            .unwrap()
            .len(),
        1
    );
    assert!(
        caches
            .answer(&read("Secret", Some("b"), Some("nope")))
            .unwrap()
            .is_empty()
    );
    assert!(
        caches.answer(&read("Pod", None, None)).is_none(),
        "not covered"
    );
}
