#![allow(clippy::unwrap_used)]

use super::*;
use crate::app::watch::triggers::WATCHED;

fn opts(events: bool) -> InstallOptions {
    InstallOptions {
        namespace: "kubectl-mesh".into(),
        image: "example.org/kubectl-mesh:1".into(),
        interval: Duration::from_secs(60),
        events,
        monitoring: true,
    }
}

fn find<'a>(m: &'a [Value], kind: &str, ns: Option<&str>) -> Option<&'a Value> {
    m.iter()
        .find(|v| v["kind"] == kind && v["metadata"]["namespace"].as_str() == ns)
}

/// Whether `role` lets `verb` on `group`/`resource`, for any name (`named`: for that name).
fn allows(role: &Value, group: &str, resource: &str, verb: &str, named: Option<&str>) -> bool {
    role["rules"].as_array().unwrap().iter().any(|r| {
        let has = |k: &str, v: &str| r[k].as_array().unwrap().iter().any(|x| x == v);
        let names = r["resourceNames"].as_array();
        has("apiGroups", group)
            && has("resources", resource)
            && has("verbs", verb)
            && names.is_none_or(|n| named.is_some_and(|want| n.iter().any(|x| x == want)))
    })
}

#[test]
fn every_watched_kind_can_be_listed_and_watched_where_the_watch_reads_it() {
    let m = manifests(&opts(false));
    let cluster = find(&m, "ClusterRole", None).unwrap();
    assert!(find(&m, "Role", Some(ISTIO_NAMESPACE)).is_some());
    for w in WATCHED {
        let group = w.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let lower = w.kind.to_lowercase();
        let resource = match lower.strip_suffix("ry") {
            Some(stem) => format!("{stem}ries"),
            None => format!("{lower}s"),
        };
        let name = w.fields.and_then(|f| f.strip_prefix("metadata.name="));
        let role = match w.namespace {
            Some(ns) => find(&m, "Role", Some(ns)).unwrap(),
            None => cluster,
        };
        for verb in ["list", "watch"] {
            assert!(
                allows(role, group, &resource, verb, name),
                "{verb} {resource}.{group} (name {name:?}) is not granted"
            );
        }
    }
}

#[test]
fn the_grants_are_reads_except_events_and_secrets_stay_in_istio_system() {
    for events in [false, true] {
        let m = manifests(&opts(events));
        let roles: Vec<&Value> = m
            .iter()
            .filter(|v| v["kind"] == "Role" || v["kind"] == "ClusterRole")
            .collect();
        let mut recorded = 0;
        for r in &roles {
            for rule in r["rules"].as_array().unwrap() {
                let text = rule.to_string();
                assert!(!text.contains('*'), "no wildcard: {text}");
                let verbs: Vec<&str> = rule["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                if rule["resources"][0] == "events" {
                    recorded += 1;
                    assert_eq!(verbs, ["create", "patch"]);
                } else {
                    assert!(
                        verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
                        "{text}"
                    );
                }
            }
        }
        // Positive control: the Event grants are there exactly when --events is.
        assert_eq!(recorded, if events { 2 } else { 0 });
        let cluster = find(&m, "ClusterRole", None).unwrap();
        assert!(!allows(cluster, "", "secrets", "get", Some("cacerts")));
        let istio = find(&m, "Role", Some(ISTIO_NAMESPACE)).unwrap();
        assert!(allows(istio, "", "secrets", "get", Some("cacerts")));
        assert!(!allows(istio, "", "pods/portforward", "create", None));
    }
}

#[test]
fn the_deployment_runs_the_watch_on_its_own_cluster_with_probes_on_the_metrics_port() {
    let m = manifests(&opts(true));
    let d = find(&m, "Deployment", Some("kubectl-mesh")).unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..3], ["--watch", "-o", "json"]);
    assert!(args.contains(&"in-cluster=istiod.istio-system.svc:15014"));
    assert!(args.contains(&"--events"));
    assert!(!super::args(&opts(false)).contains(&"--events".to_string()));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(d["spec"]["template"]["spec"]["serviceAccountName"], NAME);
    let text = render(&opts(true));
    assert_eq!(text.matches("\n---\n").count() + 1, m.len(), "{text}");
    assert!(
        text.starts_with("---\napiVersion: v1\nkind: Namespace\n"),
        "{text}"
    );
}

#[test]
fn the_prometheus_operator_kinds_are_left_out_where_they_are_not_served() {
    let kinds = |monitoring: bool| -> Vec<String> {
        manifests(&InstallOptions {
            monitoring,
            ..opts(true)
        })
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
    };
    let all = kinds(true);
    assert!(all.contains(&"ServiceMonitor".into()) && all.contains(&"PrometheusRule".into()));
    let without = kinds(false);
    assert_eq!(without.len(), all.len() - 2, "{without:?}");
    assert!(!without.contains(&"ServiceMonitor".into()));
}
