//! The reports people and scripts read, as snapshots: table, short and JSON, from fixed facts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_core::checks::{ClusterFacts, Member, Selection, evaluate, render_short, render_table};
use mesh_core::mesh::Role;
use mesh_core::render::Style;
use serde_json::json;

fn member(name: &str, net: &str) -> Member {
    Member {
        name: name.into(),
        context: format!("ctx-{name}"),
        network: Some(net.into()),
        role: Some(Role::Primary),
        primary: None,
        east_west_address: Some("192.0.2.1".into()),
    }
}

fn facts(name: &str, net: &str, mesh_id: &str) -> ClusterFacts {
    ClusterFacts {
        name: name.into(),
        context: format!("ctx-{name}"),
        version: "v1.35.4".into(),
        istio_api: Some("sailoperator.io/v1".into()),
        namespace: Some(
            json!({"metadata": {"name": "istio-system", "labels": {"topology.istio.io/network": net}}}),
        ),
        istio: Some(json!({"spec": {"version": "v1.28.1", "values": {"global": {
            "meshID": mesh_id, "network": net, "multiCluster": {"clusterName": name}}}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
        east_west_service: Some(
            json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 15443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}),
        ),
        gateways: vec![json!({"metadata": {"name": "cross-network-gateway"}})],
        ..Default::default()
    }
}

fn report() -> mesh_core::checks::Report {
    let members = vec![member("east", "network1"), member("west", "network2")];
    let facts = vec![
        facts("east", "network1", "mesh1"),
        facts("west", "network2", "mesh2"),
    ];
    let sel = Selection {
        warn_days: 30,
        ..Default::default()
    };
    evaluate(&members, &facts, &sel, &[], Vec::new())
}

#[test]
fn table_report() {
    insta::assert_snapshot!(render_table(&report(), Style::plain()));
}

#[test]
fn short_report() {
    insta::assert_snapshot!(render_short(&report(), Style::plain()));
}

#[test]
fn json_report() {
    let r = report();
    assert!(!r.success);
    let mesh = r.of("control-plane.mesh-id");
    assert_eq!(mesh.len(), 1);
    assert_eq!(mesh[0].result, mesh_core::checks::Outcome::Fail);
    assert!(mesh[0].message.contains("mesh1 in east") && mesh[0].message.contains("mesh2 in west"));
    insta::assert_json_snapshot!(serde_json::to_value(&r).unwrap());
}
