//! The reports people and scripts read, as snapshots: table, short and JSON, from fixed facts
//! with full specs (cacerts from the committed fixture, Istio status, istiod and gateway pods,
//! Gateways, VirtualServices, root ConfigMaps) and pair facts, judged at a fixed instant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_core::ca::Bundle;
use mesh_core::checks::remote::{Access, PairFacts};
use mesh_core::checks::{CheckId, ClusterFacts, LocalRoot, Member, Outcome, Selection, evaluate};
use mesh_core::manifests::gateway;
use mesh_core::mesh::Role;
use mesh_core::render::Style;
use mesh_core::render::checks::{render_short, render_table};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::macros::datetime;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mesh-certs");

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

fn cacerts(name: &str) -> Bundle {
    let files: BTreeMap<String, Vec<u8>> = [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ]
    .iter()
    .map(|k| {
        (
            k.to_string(),
            std::fs::read(format!("{FIXTURE}/{name}/{k}")).unwrap(),
        )
    })
    .collect();
    Bundle::from_files(&format!("ctx-{name}: istio-system/cacerts"), files)
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "istio-system", "labels": labels},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"restartCount": 0, "state": {"running": {}}}]}})
}

/// A pod as the sidecar injector leaves it.
fn injected(mut pod: Value) -> Value {
    pod["metadata"]["annotations"] = json!({"sidecar.istio.io/status": "{}"});
    pod["spec"] =
        json!({"containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.30.3"}]});
    pod
}

fn facts(name: &str, net: &str, mesh_id: &str) -> ClusterFacts {
    let root = std::fs::read_to_string(format!("{FIXTURE}/root-cert.pem")).unwrap();
    let mut cross = gateway::cross_network_gateway();
    if name == "west" {
        // A Gateway with the right name and a wrong spec.
        cross["spec"]["servers"][0]["tls"]["mode"] = json!("ISTIO_MUTUAL");
    }
    ClusterFacts {
        name: name.into(),
        context: format!("ctx-{name}"),
        version: "v1.35.4".into(),
        istio_api: Some("sailoperator.io/v1".into()),
        namespace: Some(
            json!({"metadata": {"name": "istio-system", "labels": {"topology.istio.io/network": net}}}),
        ),
        cacerts: Some(cacerts(name)),
        root_config_maps: vec![
            json!({"metadata": {"namespace": "default"}, "data": {"root-cert.pem": root}}),
        ],
        istio: Some(
            json!({"metadata": {"creationTimestamp": "2026-11-25T08:00:00Z"},
            "spec": {"version": "v1.28.1", "values": {"global": {
            "meshID": mesh_id, "network": net, "multiCluster": {"clusterName": name}}}},
            "status": {"conditions": [{"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}}),
        ),
        east_west_service: Some(
            json!({"spec": {"type": "LoadBalancer", "selector": {"istio": "eastwestgateway"}, "ports": [{"port": 15443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}),
        ),
        gateways: vec![cross],
        remote_secrets: vec![
            json!({"metadata": {"name": format!("istio-remote-secret-{}", if name == "east" {"west"} else {"east"})},
                "data": {if name == "east" {"west"} else {"east"}: ""}}),
        ],
        pods: vec![
            pod(&format!("istiod-{name}"), json!({"app": "istiod"})),
            injected(pod(
                &format!("istio-eastwestgateway-{name}"),
                json!({"app": "istio-eastwestgateway", "istio": "eastwestgateway"}),
            )),
        ],
        east_west_deployment: Some(json!({
            "metadata": {"name": "istio-eastwestgateway", "generation": 2},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}})),
        ..Default::default()
    }
}

fn pair(reader: &str, source: &str, create_secrets: bool) -> PairFacts {
    PairFacts {
        reader: reader.into(),
        source: source.into(),
        secret: Some(format!("istio-remote-secret-{source}")),
        // A token Secret's token: a JWT without exp (its claims only, unsigned here).
        admitted: mesh_core::kubeconfig_gate::admit(&mesh_core::manifests::remote_secret::kubeconfig(
            source,
            &format!("https://{source}.example:6443"),
            "Q0E=",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aXN0aW8tc3lzdGVtOmlzdGlvLXJlYWRlci1zZXJ2aWNlLWFjY291bnQifQ.c2ln",
        ))
        .ok(),
        auth: Some(Ok(Access {
            username: "system:serviceaccount:istio-system:istio-reader-service-account".into(),
            list_services: true,
            list_endpointslices: true,
            list_configmaps: true,
            create_secrets,
        })),
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
        local_root: LocalRoot::Root(
            mesh_core::ca::CertDir::new(FIXTURE)
                .root_fingerprint()
                .unwrap()
                .unwrap(),
        ),
        ..Selection::new(datetime!(2026-11-25 09:00 UTC))
    };
    let pairs = [pair("east", "west", false), pair("west", "east", true)];
    evaluate(&members, &facts, &sel, &pairs, Vec::new())
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
    let mesh = r.of(CheckId::ControlPlaneMeshId);
    assert_eq!(mesh.len(), 1);
    assert_eq!(mesh[0].result, Outcome::Fail);
    assert!(mesh[0].message.contains("mesh1 in east") && mesh[0].message.contains("mesh2 in west"));
    let failed: Vec<(CheckId, Option<&str>)> = r
        .checks
        .iter()
        .filter(|c| c.result == Outcome::Fail)
        .map(|c| (c.id, c.cluster.as_deref()))
        .collect();
    assert_eq!(
        failed,
        vec![
            (CheckId::ControlPlaneMeshId, None),
            (CheckId::NetworkCrossNetworkGateway, Some("west"))
        ]
    );
    insta::assert_json_snapshot!(serde_json::to_value(&r).unwrap());
}
