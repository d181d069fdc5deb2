//! Decisions of the whole evaluation (no cluster): unread clusters, prerequisites, the local
//! root, pre-join fact errors, and the control plane read from status.

use super::*;
use crate::mesh::Role;
use serde_json::json;
use time::macros::datetime;

fn member(name: &str) -> Member {
    Member {
        name: name.into(),
        context: format!("ctx-{name}"),
        network: Some("network1".into()),
        role: Some(Role::Primary),
        primary: None,
        east_west_address: None,
    }
}

fn live(name: &str) -> ClusterFacts {
    ClusterFacts {
        name: name.into(),
        context: format!("ctx-{name}"),
        version: "v1.35.0".into(),
        istio_api: Some("sailoperator.io/v1".into()),
        namespace: Some(json!({"metadata": {"labels": {"topology.istio.io/network": "network1"}}})),
        istio: Some(
            json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"version": "v1.28.1", "values": {"global": {"meshID": "m", "network": "network1",
            "multiCluster": {"clusterName": name}}}},
            "status": {"conditions": [{"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}}),
        ),
        pods: vec![
            json!({"metadata": {"name": "istiod-x", "labels": {"app": "istiod"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        ],
        ..Default::default()
    }
}

fn forbidden(name: &str) -> ClusterFacts {
    ClusterFacts {
        name: name.into(),
        context: format!("ctx-{name}"),
        version: "v1.35.0".into(),
        error: Some(FactError {
            request: "list ConfigMap in all namespaces".into(),
            cause: "configmaps is forbidden".into(),
            kind: FactErrorKind::Forbidden,
            hint: "kubectl auth can-i --list".into(),
        }),
        ..Default::default()
    }
}

fn sel() -> Selection {
    Selection::new(datetime!(2026-01-01 01:00 UTC))
}

fn one(r: &Report, id: CheckId, cluster: Option<&str>) -> CheckResult {
    let found: Vec<&CheckResult> = r
        .of(id)
        .into_iter()
        .filter(|c| c.cluster.as_deref() == cluster)
        .collect();
    assert_eq!(found.len(), 1, "{id} {cluster:?}: {found:#?}");
    found[0].clone()
}

#[test]
fn an_unread_cluster_fails_in_every_mode_and_nothing_passes_over_it() {
    let members = [member("east"), member("west")];
    let facts = [live("east"), forbidden("west")];
    let r = evaluate(&members, &facts, &sel(), &[], vec![]);
    assert!(!r.success);
    let f = one(&r, CheckId::ClusterFacts, Some("west"));
    assert_eq!(f.result, Outcome::Fail);
    assert!(
        f.message.contains("ctx-west")
            && f.message.contains("list ConfigMap in all namespaces")
            && f.message.contains("403"),
        "{}",
        f.message
    );
    assert_eq!(
        one(&r, CheckId::ClusterFacts, Some("east")).result,
        Outcome::Pass
    );
    // West is listed for each per-cluster check east has, as not evaluated.
    let w = one(&r, CheckId::ControlPlaneIstioReady, Some("west"));
    assert_eq!(w.result, Outcome::Skip);
    assert!(w.message.contains("cluster.facts failed for west"));
    assert_eq!(
        one(&r, CheckId::ControlPlaneIstioReady, Some("east")).result,
        Outcome::Pass
    );
    // A mesh-wide check that saw only east does not pass.
    assert_eq!(
        one(&r, CheckId::ControlPlaneMeshId, None).result,
        Outcome::Skip
    );
    // West fails exactly once (east's facts lack a cacerts, its own failure).
    let failing: Vec<CheckId> = r
        .checks
        .iter()
        .filter(|c| c.result == Outcome::Fail && c.cluster.as_deref() != Some("east"))
        .map(|c| c.id)
        .collect();
    assert_eq!(failing, vec![CheckId::ClusterFacts]);

    let pre = Selection { pre: true, ..sel() };
    let r = evaluate(&members, &facts, &pre, &[], vec![]);
    assert!(!r.success, "--pre fails too");
    assert_eq!(
        one(&r, CheckId::PreReachable, Some("west")).result,
        Outcome::Pass
    );
    assert_eq!(
        one(&r, CheckId::ClusterFacts, Some("west")).result,
        Outcome::Fail
    );
    let unreachable = ClusterFacts {
        version: String::new(),
        ..forbidden("west")
    };
    let r = evaluate(&members, &[live("east"), unreachable], &pre, &[], vec![]);
    assert_eq!(
        one(&r, CheckId::PreReachable, Some("west")).result,
        Outcome::Fail
    );
}

#[test]
fn a_healthy_cluster_passes_the_control_plane_from_its_status() {
    let r = evaluate(&[member("east")], &[live("east")], &sel(), &[], vec![]);
    for id in [
        CheckId::ControlPlaneIstioReady,
        CheckId::ControlPlaneIstiodPods,
        CheckId::ControlPlaneNetworkLabel,
    ] {
        assert_eq!(one(&r, id, Some("east")).result, Outcome::Pass, "{id}");
    }
    // The same facts with no status, judged within and after the grace period.
    let mut f = live("east");
    f.istio.as_mut().unwrap()["status"] = json!({});
    let within = Selection {
        istio_grace: std::time::Duration::from_secs(7200),
        ..sel()
    };
    let r = evaluate(
        &[member("east")],
        std::slice::from_ref(&f),
        &within,
        &[],
        vec![],
    );
    assert_eq!(
        one(&r, CheckId::ControlPlaneIstioReady, Some("east")).result,
        Outcome::Warn
    );
    let r = evaluate(&[member("east")], &[f], &sel(), &[], vec![]);
    let ready = one(&r, CheckId::ControlPlaneIstioReady, Some("east"));
    assert_eq!(ready.result, Outcome::Fail);
    assert!(
        ready.message.contains("no operator has reconciled it")
            && ready.hint.contains("sail-operator")
    );
    // No Sail API: a failure, not a skip.
    let r = evaluate(
        &[member("east")],
        &[ClusterFacts {
            istio_api: None,
            istio: None,
            ..live("east")
        }],
        &sel(),
        &[],
        vec![],
    );
    assert_eq!(
        one(&r, CheckId::ControlPlaneIstioReady, Some("east")).result,
        Outcome::Fail
    );
    // A remote runs no istiod: skipped with the reason.
    let remote = Member {
        role: Some(Role::Remote),
        ..member("east")
    };
    let r = evaluate(
        &[remote],
        &[ClusterFacts {
            pods: vec![],
            ..live("east")
        }],
        &sel(),
        &[],
        vec![],
    );
    let pods = one(&r, CheckId::ControlPlaneIstiodPods, Some("east"));
    assert_eq!(pods.result, Outcome::NotApplicable);
    assert!(pods.message.contains("remote"));
}

#[test]
fn a_missing_certs_folder_fails_the_root_comparison() {
    let s = Selection {
        local_root: LocalRoot::Missing {
            folder: "./mesh-certs".into(),
        },
        ..sel()
    };
    let r = evaluate(&[member("east")], &[live("east")], &s, &[], vec![]);
    let shared = one(&r, CheckId::TrustSharedRoot, None);
    assert_eq!(shared.result, Outcome::Fail);
    assert!(shared.message.contains("./mesh-certs"));
    // Positive control: with no folder named, no cacerts means nothing to compare (a skip),
    // and the failure is trust.cacerts-present's.
    let r = evaluate(&[member("east")], &[live("east")], &sel(), &[], vec![]);
    assert_eq!(
        one(&r, CheckId::TrustSharedRoot, None).result,
        Outcome::Skip
    );
    assert_eq!(
        one(&r, CheckId::TrustCacertsPresent, Some("east")).result,
        Outcome::Fail
    );
}

#[test]
fn a_failed_prerequisite_turns_dependents_into_named_skips() {
    let r = evaluate(&[member("east")], &[live("east")], &sel(), &[], vec![]);
    // No cacerts: the dependents of trust.cacerts-present are not evaluated, and say why.
    for id in [CheckId::TrustChainValid, CheckId::TrustExpiry] {
        assert!(r.of(id).is_empty(), "{id} is not produced without a bundle");
    }
    let mut out = vec![
        Emit::new(CheckId::RemoteSecretPresent).problem(Some("east"), "none", "h"),
        Emit::new(CheckId::RemoteKubeconfig).problem(Some("east"), "bad", "h"),
        Emit::new(CheckId::RemoteKubeconfig).problem(Some("west"), "bad", "h"),
    ];
    apply_prerequisites(&mut out);
    assert_eq!(out[1].result, Outcome::Skip);
    assert_eq!(
        out[1].message,
        "not evaluated: remote.secret-present failed"
    );
    assert_eq!(
        out[2].result,
        Outcome::Fail,
        "another cluster's failure does not count"
    );
}

#[test]
fn who_reads_whom_matches_mesh_join() {
    let p = |n: &str| member(n);
    let r = |n: &str, primary: Option<&str>| Member {
        role: Some(Role::Remote),
        primary: primary.map(String::from),
        ..member(n)
    };
    let members = [p("a"), p("b"), r("ra", Some("a")), r("orphan", None)];
    let pairs = remote::expected_pairs(&members, &[]);
    let want: Vec<(String, String)> = [("a", "b"), ("a", "ra"), ("b", "a")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(pairs, want, "a remote is read by its primary only");
}

#[test]
fn fact_errors_are_classified_by_kind_not_by_message() {
    let forbidden = crate::cluster::ClusterError::Forbidden {
        context: "c".into(),
        operation: "list ConfigMap in all namespaces".into(),
        message: "configmaps is forbidden".into(),
    };
    let e = FactError::from_cluster(&forbidden);
    assert_eq!(e.kind, FactErrorKind::Forbidden);
    assert_eq!(e.request, "list ConfigMap in all namespaces");
    assert!(e.hint.contains("auth can-i"), "{}", e.hint);
    let gone = crate::cluster::ClusterError::Unreachable {
        context: "c".into(),
        operation: "GET /apis (aggregated discovery)".into(),
        reason: "connection refused".into(),
    };
    assert_eq!(
        FactError::from_cluster(&gone).kind,
        FactErrorKind::Unreachable
    );
}

#[test]
fn a_primary_with_remotes_needs_istiod_exposed_with_its_virtual_service() {
    let remote = Member {
        role: Some(Role::Remote),
        primary: Some("east".into()),
        ..member("r")
    };
    let mut f = live("east");
    f.pods
        .push(json!({"metadata": {"name": "gw", "labels": {"istio": "eastwestgateway"}}}));
    f.gateways = vec![crate::manifests::gateway::expose_istiod()[0].clone()];
    f.virtual_services = Some(vec![]);
    let members = [member("east"), remote];
    let r = evaluate(&members, std::slice::from_ref(&f), &sel(), &[], vec![]);
    let e = one(&r, CheckId::NetworkExposeIstiod, Some("east"));
    assert_eq!(e.result, Outcome::Fail, "no VirtualService: {}", e.message);
    assert!(
        e.message.contains("the VirtualService does not exist"),
        "{}",
        e.message
    );
    // Not read (the mesh file gave no remotes) yet needed: named as such, not as missing.
    let mut unread = f.clone();
    unread.virtual_services = None;
    let r = evaluate(&members, &[unread], &sel(), &[], vec![]);
    let e = one(&r, CheckId::NetworkExposeIstiod, Some("east"));
    assert!(
        e.result == Outcome::Fail && e.message.contains("was not read"),
        "{}",
        e.message
    );
    f.virtual_services = Some(vec![crate::manifests::gateway::expose_istiod()[1].clone()]);
    let r = evaluate(&members, &[f], &sel(), &[], vec![]);
    assert_eq!(
        one(&r, CheckId::NetworkExposeIstiod, Some("east")).result,
        Outcome::Pass
    );
}

#[test]
fn the_mesh_id_is_compared_with_the_mesh_file() {
    let members = [member("east"), member("west")];
    let facts = [live("east"), live("west")];
    // Both clusters agree with each other (meshID m).
    let r = evaluate(&members, &facts, &sel(), &[], Vec::new());
    assert_eq!(
        one(&r, CheckId::ControlPlaneMeshId, None).result,
        Outcome::Pass
    );
    // The mesh file agrees too.
    let agreeing = Selection {
        mesh_id: Some("m".into()),
        ..sel()
    };
    let r = evaluate(&members, &facts, &agreeing, &[], Vec::new());
    let c = one(&r, CheckId::ControlPlaneMeshId, None);
    assert_eq!(c.result, Outcome::Pass, "{c:#?}");
    assert!(c.message.contains("as the mesh file says"), "{c:#?}");
    // The mesh file says another: a failure naming both.
    let other = Selection {
        mesh_id: Some("other".into()),
        ..sel()
    };
    let r = evaluate(&members, &facts, &other, &[], Vec::new());
    let c = one(&r, CheckId::ControlPlaneMeshId, None);
    assert_eq!(c.result, Outcome::Fail, "{c:#?}");
    assert!(
        c.message.contains("meshID other") && c.message.contains("m in east, west"),
        "{c:#?}"
    );
}

mod file;
