use super::*;

fn dep(name: &str, image: &str, restarted: Option<&str>) -> IstiodDeployment {
    IstiodDeployment {
        name: name.into(),
        image: image.into(),
        restarted_at: restarted.map(str::to_string),
    }
}

#[test]
fn versions_are_read_from_image_tags() {
    assert_eq!(
        image_version("gcr.io/istio-release/pilot:1.30.3"),
        Some((1, 30, 3))
    );
    assert_eq!(
        image_version("registry.local:5000/istio/pilot:1.31.0-distroless"),
        Some((1, 31, 0))
    );
    assert_eq!(image_version("pilot:v1.29"), Some((1, 29, 0)));
    assert_eq!(image_version("docker.io/istio/pilot@sha256:abc"), None);
    assert_eq!(image_version("docker.io/istio/pilot:latest"), None);
    assert_eq!(image_version("registry.local:5000/istio/pilot"), None);
}

#[test]
fn istiod_before_1_31_is_restarted_once_per_rotation() {
    let started = "2026-12-04T10:00:00Z";
    let old = [dep("istiod", "gcr.io/istio-release/pilot:1.30.3", None)];
    match decide(&old, started) {
        Decision::Restart(names, why) => {
            assert_eq!(names, ["istiod"]);
            assert!(
                why.contains("istiod runs 1.30.3") && why.contains("#60612"),
                "{why}"
            );
        }
        d => panic!("{d:?}"),
    }
    // Restarted before this rotation started: again; during it: done (a resumed run).
    let before = [dep(
        "istiod",
        "x/pilot:1.30.3",
        Some("2026-12-03T10:00:00Z"),
    )];
    assert!(matches!(decide(&before, started), Decision::Restart(..)));
    let during = [dep(
        "istiod",
        "x/pilot:1.30.3",
        Some("2026-12-04T10:00:05Z"),
    )];
    assert_eq!(
        decide(&during, started),
        Decision::Restarted(vec!["istiod".into()])
    );
    // No start recorded: never taken as restarted.
    assert!(matches!(decide(&during, ""), Decision::Restart(..)));
}

#[test]
fn istiod_from_1_31_takes_the_secret_in_place_and_unknowns_are_said() {
    let started = "2026-12-04T10:00:00Z";
    let new = [
        dep("istiod", "x/pilot:1.31.0", None),
        dep("istiod-canary", "x/pilot:1.32.1", None),
    ];
    assert_eq!(decide(&new, started), Decision::InPlace);
    // One old revision beside a new one: only the old one is rolled.
    let mixed = [
        dep("istiod", "x/pilot:1.31.0", None),
        dep("istiod-old", "x/pilot:1.29.2", None),
    ];
    assert!(matches!(decide(&mixed, started), Decision::Restart(n, _) if n == ["istiod-old"]));
    // 1.30.4 and later take it in place; 1.30.3 is rolled, the reason naming the gate.
    let patch = [dep("istiod", "x/pilot:1.30.4", None)];
    assert_eq!(decide(&patch, started), Decision::InPlace);
    match decide(&[dep("istiod", "x/pilot:1.30.3", None)], started) {
        Decision::Restart(_, why) => assert!(why.contains("before 1.30.4"), "{why}"),
        d => panic!("{d:?}"),
    }
    // A digest: the version is unknown, so it is restarted, and the reason says so.
    let digest = [dep("istiod", "x/pilot@sha256:0f", None)];
    match decide(&digest, started) {
        Decision::Restart(_, why) => assert!(why.contains("version unknown"), "{why}"),
        d => panic!("{d:?}"),
    }
    assert!(
        matches!(decide(&[], started), Decision::Unknown(w) if w.contains("no app=istiod Deployment"))
    );
}

#[test]
fn a_deployment_is_read_and_its_rollout_judged_as_kubectl_does() {
    let d = json!({"metadata": {"name": "istiod", "generation": 3},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {RESTARTED_AT: "t1"}},
            "spec": {"containers": [{"name": "discovery", "image": "x/pilot:1.30.3"}]}}},
        "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}});
    assert_eq!(
        IstiodDeployment::of(&d),
        dep("istiod", "x/pilot:1.30.3", Some("t1"))
    );
    // An old pod still there (3 replicas, 2 updated): not yet.
    assert!(!rolled_out(&d));
    let mut done = d.clone();
    done["status"]["replicas"] = json!(2);
    assert!(rolled_out(&done));
    let mut stale = done.clone();
    stale["status"]["observedGeneration"] = json!(2);
    assert!(!rolled_out(&stale));
}

#[test]
fn the_refusal_names_each_cluster_and_why() {
    let e = refusal(&[("west".into(), "istiod runs 1.30.3".into())]);
    let text = format!("{e}");
    assert!(
        text.contains("west: istiod runs 1.30.3") && text.contains("--no-istiod-restart"),
        "{text}"
    );
}
