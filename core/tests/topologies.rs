//! What `mesh-join` creates in each of the four topologies, as reviewed snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_core::app::join::{Installer, Render, reading_pairs, stage_objects};
use mesh_core::manifests::istio;
use mesh_core::mesh::MeshSpec;
use std::path::Path;

fn mesh(text: &str) -> MeshSpec {
    MeshSpec::parse(text, Path::new("mesh.yaml")).unwrap()
}

const MULTI_PRIMARY_SINGLE: &str = "meshID: mesh1\nistio: {version: v1.28.1}\nclusters:\n- {name: east, context: ctx-east, network: network1, role: primary}\n- {name: west, context: ctx-west, network: network1, role: primary}\n";
const MULTI_PRIMARY_MULTI: &str = "meshID: mesh1\nistio: {version: v1.28.1}\nclusters:\n- {name: east, context: ctx-east, network: network1, role: primary}\n- {name: west, context: ctx-west, network: network2, role: primary}\n";
const PRIMARY_REMOTE_SINGLE: &str = "meshID: mesh1\nistio: {version: v1.28.1}\nclusters:\n- {name: east, context: ctx-east, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: ctx-west, network: network1, role: remote, primary: east}\n";
const PRIMARY_REMOTE_MULTI: &str = "meshID: mesh1\nistio: {version: v1.28.1, cni: true, cniConfDir: /etc/cni/multus/net.d, gatewaysOnInfraNodes: true}\nclusters:\n- {name: east, context: ctx-east, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: ctx-west, network: network2, role: remote, primary: east}\n";

fn render(text: &str) -> String {
    let m = mesh(text);
    let mut out = format!(
        "# topology: {}\n# reading pairs (reader <- source): {:?}\n",
        m.topology(),
        reading_pairs(&m)
    );
    for c in &m.clusters {
        let pilot = c
            .primary
            .as_ref()
            .and_then(|p| m.cluster(p))
            .and_then(|p| p.east_west_address.clone());
        let render = Render {
            istio_api: "sailoperator.io/v1",
            pilot: pilot.as_deref(),
            installer: Installer::Sail,
            create_reader: false,
            reader_token: &mesh_core::manifests::remote_secret::token_secret_name(),
            reader_ttl: None,
            install_record: None,
        };
        for (stage, o) in stage_objects(&m, c, render) {
            out.push_str(&format!(
                "---\n# cluster: {} (stage: {})\n{}",
                c.name,
                stage.describe(),
                yaml_serde::to_string(&o).unwrap()
            ));
        }
    }
    out
}

#[test]
fn multi_primary_single_network() {
    insta::assert_snapshot!(render(MULTI_PRIMARY_SINGLE));
}

#[test]
fn multi_primary_multi_network() {
    insta::assert_snapshot!(render(MULTI_PRIMARY_MULTI));
}

#[test]
fn primary_remote_single_network() {
    insta::assert_snapshot!(render(PRIMARY_REMOTE_SINGLE));
}

#[test]
fn primary_remote_multi_network_with_cni_and_infra_nodes() {
    insta::assert_snapshot!(render(PRIMARY_REMOTE_MULTI));
}

#[test]
fn remote_values_follow_the_reference() {
    let m = mesh(PRIMARY_REMOTE_MULTI);
    let west = m.cluster("west").unwrap();
    let v = istio::istio(&m, west, "sailoperator.io/v1", Some("192.0.2.10"));
    assert_eq!(v["spec"]["profile"], "remote");
    assert_eq!(
        v["spec"]["values"]["istiodRemote"]["injectionPath"],
        "/inject/cluster/west/net/network2"
    );
    assert_eq!(
        v["spec"]["values"]["global"]["remotePilotAddress"],
        "192.0.2.10"
    );
    assert_eq!(
        v["spec"]["values"]["global"]["multiCluster"]["clusterName"],
        "west"
    );
    let east = istio::istio(&m, m.cluster("east").unwrap(), "sailoperator.io/v1", None);
    assert_eq!(
        east["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"],
        "true"
    );
    assert_eq!(east["spec"]["values"]["global"]["externalIstiod"], true);
    let op = istio::istio_operator(&m, west, Some("192.0.2.10"));
    assert_eq!(op["kind"], "IstioOperator");
    assert_eq!(op["spec"]["profile"], "remote");
    assert!(op["spec"]["values"].get("profile").is_none());
}

/// Without `cniConfDir` in the mesh file, `IstioCNI` leaves the directory to the operator's
/// profile (on OpenShift `/etc/cni/multus/net.d`); given, it is written as is.
#[test]
fn istio_cni_writes_a_conf_dir_only_when_the_mesh_file_gives_one() {
    let without = mesh(
        "meshID: m\nistio: {version: v1.30.3, cni: true}\nclusters:\n- {name: east, context: c, network: n1, role: primary}\n",
    );
    let cni = istio::istio_cni(&without, "sailoperator.io/v1");
    assert_eq!(
        cni["spec"]["values"]["cni"],
        serde_json::json!({"excludeNamespaces": ["istio-cni", "kube-system"]}),
        "{cni:#}"
    );
    let with = mesh(PRIMARY_REMOTE_MULTI);
    let cni = istio::istio_cni(&with, "sailoperator.io/v1");
    assert_eq!(
        cni["spec"]["values"]["cni"]["cniConfDir"],
        "/etc/cni/multus/net.d"
    );
}
