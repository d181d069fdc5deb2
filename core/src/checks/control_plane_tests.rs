use super::*;
use crate::checks::Outcome;
use serde_json::{Value, json};

fn member(network: &str) -> Member {
    Member {
        name: "west".into(),
        context: "ctx".into(),
        network: Some(network.into()),
        role: Some(Role::Remote),
        primary: Some("east".into()),
        east_west_address: None,
    }
}

fn facts(label: Option<&str>, global: Value) -> ClusterFacts {
    let labels = label.map_or(json!({}), |l| json!({NETWORK_LABEL: l}));
    ClusterFacts {
        name: "west".into(),
        namespace: Some(json!({"metadata": {"labels": labels}})),
        istio: Some(json!({"spec": {"values": {"global": global}}})),
        ..Default::default()
    }
}

#[test]
fn a_seed_remote_without_values_global_network_is_read_from_its_label() {
    let seed001 = facts(Some("network1"), json!({"meshID": "mesh1"}));
    let r = network_label(&[member("network1")], &seed001);
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
    // The label contradicting the mesh file still fails.
    let r = network_label(&[member("network2")], &seed001);
    assert_eq!(r.result, Outcome::Fail, "{r:?}");
    // Nothing named: one network is fine, several are not.
    let bare = facts(None, json!({}));
    assert_eq!(network_label(&[member("n1")], &bare).result, Outcome::Pass);
    let two = [
        member("n1"),
        Member {
            name: "east".into(),
            ..member("n2")
        },
    ];
    assert_eq!(network_label(&two, &bare).result, Outcome::Fail);
    // A value without a label (istiod reads the label): a failure, as before.
    let unlabelled = facts(None, json!({"network": "n1"}));
    assert_eq!(
        network_label(&[member("n1")], &unlabelled).result,
        Outcome::Fail
    );
}

fn sel(cni: Option<bool>) -> Selection {
    let mut s = Selection::new(time::macros::datetime!(2026-01-01 01:00 UTC));
    s.istio = cni.map(|cni| crate::mesh::IstioSpec {
        cni,
        ..Default::default()
    });
    s
}

fn with_cni(cni: Option<Value>) -> ClusterFacts {
    ClusterFacts {
        name: "east".into(),
        istio_api: Some("sailoperator.io/v1".into()),
        istio_cni: cni,
        ..Default::default()
    }
}

#[test]
fn istio_cni_is_judged_where_the_mesh_uses_it() {
    let ready = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"conditions": [{"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}});
    let failing = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"conditions": [{"type": "Reconciled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "DaemonSetNotReady", "message": "istio-cni-node has 0 ready pods"}]}});
    assert_eq!(
        cni_ready(&with_cni(Some(ready)), &sel(Some(true))).result,
        Outcome::Pass
    );
    let r = cni_ready(&with_cni(Some(failing)), &sel(Some(true)));
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message
            .contains("DaemonSetNotReady: istio-cni-node has 0 ready pods"),
        "{r:?}"
    );
    let missing = cni_ready(&with_cni(None), &sel(Some(true)));
    assert_eq!(missing.result, Outcome::Fail);
    assert_eq!(
        cni_ready(&with_cni(None), &sel(Some(false))).result,
        Outcome::NotApplicable
    );
    // Without a mesh file: judged when one exists.
    assert_eq!(
        cni_ready(&with_cni(None), &sel(None)).result,
        Outcome::NotApplicable
    );
}

#[test]
fn a_remote_names_its_primary_in_control_plane_clusters() {
    let ns = |a: Option<&str>| {
        let annotations = a.map_or(json!({}), |v| json!({CONTROL_PLANE_CLUSTERS: v}));
        ClusterFacts {
            name: "west".into(),
            namespace: Some(json!({"metadata": {"annotations": annotations}})),
            ..Default::default()
        }
    };
    let remote = [member("n1")];
    assert_eq!(
        remote_annotation(&remote, &ns(Some("east"))).result,
        Outcome::Pass
    );
    assert_eq!(
        remote_annotation(&remote, &ns(Some("north"))).result,
        Outcome::Fail
    );
    let r = remote_annotation(&remote, &ns(None));
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message
            .contains("no topology.istio.io/controlPlaneClusters"),
        "{r:?}"
    );
    let primary = [Member {
        role: Some(Role::Primary),
        primary: None,
        ..member("n1")
    }];
    assert_eq!(
        remote_annotation(&primary, &ns(None)).result,
        Outcome::NotApplicable
    );
}
