//! Every check with a mesh-file value, with the file agreeing (the positive control) and then
//! disagreeing: the named check fails (or, for the version, warns) naming both values. The
//! list is `docs/checks.md`, "Comparisons with the mesh file".

use super::{live, member, one, sel};
use crate::checks::*;
use crate::mesh::{IstioSpec, Role};
use serde_json::json;

/// Evaluates east as the file describes it (`edit` changes the file) and returns `id`'s result.
fn judged(
    id: CheckId,
    edit: impl Fn(&mut Member, &mut Selection),
    facts: ClusterFacts,
) -> CheckResult {
    let mut m = member(&facts.name);
    let mut s = sel();
    edit(&mut m, &mut s);
    let r = evaluate(&[m], &[facts], &s, &[], Vec::new());
    let cluster = (!matches!(
        id,
        CheckId::ControlPlaneMeshId
            | CheckId::ControlPlaneClusterNames
            | CheckId::ControlPlaneVersionSkew
    ))
    .then_some("east");
    one(&r, id, cluster)
}

fn agrees_then(
    id: CheckId,
    facts: impl Fn() -> ClusterFacts,
    agree: impl Fn(&mut Member, &mut Selection),
    disagree: impl Fn(&mut Member, &mut Selection),
    shown: &[&str],
) -> CheckResult {
    let ok = judged(id, &agree, facts());
    assert_eq!(ok.result, Outcome::Pass, "{id}, the file agreeing: {ok:#?}");
    let bad = judged(
        id,
        |m, s| {
            agree(m, s);
            disagree(m, s)
        },
        facts(),
    );
    for s in shown {
        assert!(
            bad.message.contains(s),
            "{id}: {s} not named in {}",
            bad.message
        );
    }
    bad
}

#[test]
fn mesh_id_network_role_and_primary_fail_where_the_file_disagrees() {
    let none = |_: &mut Member, _: &mut Selection| {};
    let bad = agrees_then(
        CheckId::ControlPlaneMeshId,
        || live("east"),
        |_, s| s.mesh_id = Some("m".into()),
        |_, s| s.mesh_id = Some("other".into()),
        &["other", "m in east"],
    );
    assert_eq!(bad.result, Outcome::Fail);
    let bad = agrees_then(
        CheckId::ControlPlaneNetworkLabel,
        || live("east"),
        none,
        |m, _| m.network = Some("network9".into()),
        &["network1"],
    );
    assert_eq!(bad.result, Outcome::Fail);
    let bad = agrees_then(
        CheckId::ControlPlaneRole,
        || live("east"),
        none,
        |m, _| m.role = Some(Role::Remote),
        &["runs as a primary", "makes it a remote"],
    );
    assert_eq!(bad.result, Outcome::Fail);
    let remote = || {
        let mut f = live("east");
        if let Some(i) = f.istio.as_mut() {
            i["spec"]["profile"] = json!("remote");
        }
        f.namespace = Some(
            json!({"metadata": {"labels": {"topology.istio.io/network": "network1"},
            "annotations": {"topology.istio.io/controlPlaneClusters": "west"}}}),
        );
        f
    };
    let as_remote = |m: &mut Member, _: &mut Selection| {
        m.role = Some(Role::Remote);
        m.primary = Some("west".into());
    };
    let bad = agrees_then(
        CheckId::ControlPlaneRemoteAnnotation,
        remote,
        as_remote,
        |m, _| m.primary = Some("north".into()),
        &["'west'", "'north'"],
    );
    assert_eq!(bad.result, Outcome::Fail);
}

#[test]
fn the_cluster_name_fails_where_the_file_calls_a_cluster_otherwise() {
    // The file names the cluster behind ctx-east "east"; it runs clusterName "east". Called
    // "east2" in the file, its facts carry that name and the clusterName no longer matches.
    let ok = judged(CheckId::ControlPlaneClusterNames, |_, _| {}, live("east"));
    assert_eq!(ok.result, Outcome::Pass, "{ok:#?}");
    let mut renamed = live("east");
    renamed.name = "east2".into();
    let m = member("east2");
    let r = evaluate(&[m], &[renamed], &sel(), &[], Vec::new());
    let bad = one(&r, CheckId::ControlPlaneClusterNames, None);
    assert_eq!(bad.result, Outcome::Fail, "{bad:#?}");
    assert!(
        bad.message
            .contains("runs clusterName east, but the mesh calls it east2"),
        "{}",
        bad.message
    );
}

#[test]
fn the_gateway_address_version_and_cni_are_compared_with_the_file() {
    let with_gateway = || {
        let mut f = live("east");
        f.east_west_service =
            Some(json!({"spec": {"ports": [{"port": 15443}], "externalIPs": ["192.0.2.1"]}}));
        f
    };
    let two_networks = |m: &mut Member, _: &mut Selection| {
        m.east_west_address = Some("192.0.2.1".into());
        m.network = Some("network1".into());
    };
    // A second network in the file makes the gateway needed.
    let bad = {
        let ok_facts = with_gateway();
        let mut m = member("east");
        two_networks(&mut m, &mut sel());
        let mut other = member("west");
        other.network = Some("network2".into());
        let r = evaluate(
            &[m.clone(), other.clone()],
            &[ok_facts],
            &sel(),
            &[],
            Vec::new(),
        );
        assert_eq!(
            one(&r, CheckId::NetworkEastwestService, Some("east")).result,
            Outcome::Pass
        );
        m.east_west_address = Some("192.0.2.7".into());
        let r = evaluate(&[m, other], &[with_gateway()], &sel(), &[], Vec::new());
        one(&r, CheckId::NetworkEastwestService, Some("east"))
    };
    assert_eq!(bad.result, Outcome::Fail, "{bad:#?}");
    assert!(
        bad.message.contains("192.0.2.7") && bad.message.contains("192.0.2.1"),
        "{}",
        bad.message
    );

    let version = |v: &str| {
        let v = v.to_string();
        move |_: &mut Member, s: &mut Selection| {
            s.istio = Some(IstioSpec {
                version: Some(v.clone()),
                ..Default::default()
            })
        }
    };
    let mut current = live("east");
    if let Some(i) = current.istio.as_mut() {
        i["spec"]["version"] = json!("v1.31.0");
    }
    let ok = judged(
        CheckId::ControlPlaneVersionSkew,
        version("v1.31.0"),
        current.clone(),
    );
    assert_eq!(ok.result, Outcome::Pass, "{ok:#?}");
    let bad = judged(
        CheckId::ControlPlaneVersionSkew,
        version("v1.30.2"),
        current,
    );
    assert_eq!(bad.result, Outcome::Warn, "{bad:#?}");
    assert!(
        bad.message.contains("1.30") && bad.message.contains("1.31"),
        "{}",
        bad.message
    );

    // istio.cni: the file installs CNI; east has no IstioCNI (positive control: without CNI
    // in the file the check does not apply).
    let off = judged(CheckId::ControlPlaneCniReady, |_, _| {}, live("east"));
    assert_eq!(off.result, Outcome::NotApplicable, "{off:#?}");
    let bad = judged(
        CheckId::ControlPlaneCniReady,
        |_, s| {
            s.istio = Some(IstioSpec {
                cni: true,
                ..Default::default()
            })
        },
        live("east"),
    );
    assert_eq!(bad.result, Outcome::Fail, "{bad:#?}");
    assert!(bad.message.contains("istio.cni"), "{}", bad.message);
}
