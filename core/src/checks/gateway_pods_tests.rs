use super::*;
use crate::checks::Outcome;
use serde_json::json;

fn facts(deployment: Option<Value>, pods: Vec<Value>) -> ClusterFacts {
    ClusterFacts {
        name: "west".into(),
        context: "lab-2".into(),
        east_west_deployment: deployment,
        pods,
        ..ClusterFacts::default()
    }
}

fn deployment(generation: i64, replicas: i64, available: i64) -> Value {
    json!({"metadata": {"name": EAST_WEST, "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "availableReplicas": available}})
}

/// A gateway pod as the injector leaves it (`injected`) or as the Deployment asks for it.
fn pod(name: &str, injected: bool) -> Value {
    let mut p = json!({"metadata": {"name": name, "labels": {"istio": "eastwestgateway"}},
        "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]}});
    if injected {
        p["metadata"]["annotations"] = json!({INJECTED: "{\"containers\":[]}"});
        p["spec"]["containers"][0]["image"] = json!("docker.io/istio/proxyv2:1.30.3");
    }
    p
}

#[test]
fn a_gateway_running_its_current_generation_with_injected_pods_passes() {
    let r = eastwest_pods(
        &facts(Some(deployment(2, 1, 1)), vec![pod("gw-1", true)]),
        true,
    );
    assert_eq!(r.result, Outcome::Pass, "{}", r.message);
    assert!(r.message.contains("1 replica(s)"), "{}", r.message);
}

#[test]
fn scaled_to_zero_stale_unavailable_or_missing_fails_naming_the_cluster() {
    let cases = [
        (Some(deployment(2, 0, 0)), "scaled to 0"),
        (Some(deployment(2, 2, 1)), "1 of 2 replica(s) available"),
        (None, "no Deployment istio-system/istio-eastwestgateway"),
    ];
    for (d, said) in cases {
        let r = eastwest_pods(&facts(d, vec![pod("gw-1", true)]), true);
        assert_eq!(
            (r.result, r.cluster.as_deref()),
            (Outcome::Fail, Some("west"))
        );
        assert!(r.message.contains(said), "{said}: {}", r.message);
    }
    let mut stale = deployment(3, 1, 1);
    stale["status"]["observedGeneration"] = json!(2);
    let r = eastwest_pods(&facts(Some(stale), vec![]), true);
    assert!(r.message.contains("generation 3"), "{}", r.message);
}

#[test]
fn pods_without_the_injected_proxy_fail_and_one_network_without_remotes_is_not_applicable() {
    let pods = vec![pod("gw-1", true), pod("gw-2", false)];
    let r = eastwest_pods(&facts(Some(deployment(1, 2, 2)), pods), true);
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("gw-2") && !r.message.contains("gw-1"),
        "{}",
        r.message
    );
    assert!(r.hint.contains("rollout restart"), "{}", r.hint);
    let r = eastwest_pods(&facts(None, vec![]), false);
    assert_eq!(r.result, Outcome::NotApplicable);
}
