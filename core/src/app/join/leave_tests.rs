//! `leave`'s plan against fake clusters: what is deleted, updated and kept, in the leaving
//! cluster and its peers, and that planning writes nothing.

use super::*;
use crate::app::join::test_support::{PRIMARY_REMOTE, apply, block_on, fleet, mesh, steps};
use crate::cluster::LEGACY_FIELD_MANAGER;
use crate::cluster::fake::FakeCluster;
use crate::manifests::{as_data, remote_secret};
use serde_json::json;

/// Every object a join with the Sail operator wrote in each cluster of `mesh`, as written by
/// our field manager, and each remote secret it wrote.
fn joined(mesh: &MeshSpec) -> Fleet<FakeCluster> {
    let fleet = fleet(mesh);
    let token = remote_secret::token_secret_name();
    for c in &mesh.clusters {
        let render = Render {
            istio_api: "sailoperator.io/v1",
            pilot: c.east_west_address.as_deref(),
            installer: Installer::Sail,
            create_reader: false,
            reader_token: &token,
            reader_ttl: None,
            install_record: None,
        };
        for o in base_objects(mesh, c, render) {
            fleet.kubes[&c.name].insert_applied(LEGACY_FIELD_MANAGER, o);
        }
    }
    for (r, s) in reading_pairs(mesh) {
        let secret = as_data(remote_secret::remote_secret(&s, "kubeconfig"));
        fleet.kubes[&r].insert_applied(LEGACY_FIELD_MANAGER, secret);
    }
    fleet
}

fn leave_options(mesh: &MeshSpec, cluster: &str, purge: bool) -> LeaveOptions {
    LeaveOptions {
        mesh: mesh.clone(),
        cluster: cluster.into(),
        purge,
        dry_run: DryRun::None,
        force_conflicts: false,
    }
}

fn plan_of(plan: &Plan, cluster: &str) -> Vec<String> {
    plan.clusters
        .iter()
        .filter(|cp| cp.cluster == cluster)
        .flat_map(steps)
        .collect()
}

/// The reader ServiceAccount the control plane's charts made (not ours).
fn charts_reader_account() -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "istio-reader-service-account", "namespace": "istio-system"}})
}

#[test]
fn a_remote_leaving_deletes_what_we_wrote_for_it_and_keeps_what_others_made() {
    let m = mesh(PRIMARY_REMOTE);
    let fleet = joined(&m);
    fleet.kubes["west"].insert(charts_reader_account());
    let opts = leave_options(&m, "west", false);
    let planned = block_on(plan_for(&opts, m.cluster("west").unwrap(), &fleet)).unwrap();
    let east = plan_of(&planned.plan, "east");
    for want in [
        "delete Secret istio-system/istio-remote-secret-west",
        "delete Gateway istio-system/istiod-gateway",
        "delete VirtualService istio-system/istiod-vs",
        "update Istio default",
    ] {
        assert!(east.contains(&want.to_string()), "{want}: {east:?}");
    }
    let west = plan_of(&planned.plan, "west");
    assert_eq!(
        west,
        ["delete Secret istio-system/istio-reader-service-account-istio-remote-secret-token"]
    );
    assert_eq!(
        planned.kept,
        ["west: ServiceAccount istio-system/istio-reader-service-account"]
    );
    assert!(planned.uninstall.is_none());
    for fake in fleet.kubes.values() {
        assert!(fake.writes().is_empty(), "{:?}", fake.written());
    }
    // Positive control: carried out, the deletes are written and the kept account stays.
    for cp in &planned.plan.clusters {
        apply(&fleet.kubes[&cp.cluster], cp).unwrap();
    }
    let written = fleet.kubes["east"].written();
    assert!(
        written.contains(&"delete Secret istio-system/istio-remote-secret-west".to_string()),
        "{written:?}"
    );
    let sa = (
        "v1",
        "ServiceAccount",
        Some("istio-system"),
        "istio-reader-service-account",
    );
    assert!(fleet.kubes["west"].object(sa.0, sa.1, sa.2, sa.3).is_some());
    assert!(
        fleet.kubes["west"]
            .object("sailoperator.io/v1", "Istio", None, "default")
            .is_some(),
        "west keeps its control plane without --purge"
    );
}

#[test]
fn purge_takes_the_control_plane_and_the_namespace_last() {
    let m = mesh(PRIMARY_REMOTE);
    let fleet = joined(&m);
    let opts = leave_options(&m, "west", true);
    let planned = block_on(plan_for(&opts, m.cluster("west").unwrap(), &fleet)).unwrap();
    let west = plan_of(&planned.plan, "west");
    assert!(
        west.contains(&"delete Istio default".to_string()),
        "{west:?}"
    );
    assert_eq!(
        west.last().map(String::as_str),
        Some("delete Namespace istio-system")
    );
    // A namespace another tool made is kept, named (positive control of the delete above).
    let mut fleet = joined(&m);
    let other = FakeCluster::new("ctx-west");
    other.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
    );
    fleet.kubes.insert("west".into(), other);
    let planned = block_on(plan_for(&opts, m.cluster("west").unwrap(), &fleet)).unwrap();
    assert!(plan_of(&planned.plan, "west").is_empty());
    assert_eq!(planned.kept, ["west: Namespace istio-system"]);
}

#[test]
fn a_rotated_clusters_current_and_previous_tokens_are_deleted() {
    let m = mesh(PRIMARY_REMOTE);
    let fleet = joined(&m);
    let west = &fleet.kubes["west"];
    let token_of = remote_secret::token_secret_name_of;
    // A second rotation in progress: generation 2 current, generation 1 not yet revoked.
    let record = crate::app::tokens::record::TokenRecord::initial()
        .next("2026-01-01T00:00:00Z", None)
        .finish("2026-01-02T00:00:00Z")
        .next("2026-02-01T00:00:00Z", None);
    let mut sa = charts_reader_account();
    sa["metadata"]["annotations"][crate::labels::READER_TOKEN_ANNOTATION] =
        json!(record.to_annotation());
    west.insert(sa);
    for g in [1, 2] {
        west.insert_applied(
            LEGACY_FIELD_MANAGER,
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": token_of(g), "namespace": "istio-system"}}),
        );
    }
    let opts = leave_options(&m, "west", false);
    let planned = block_on(plan_for(&opts, m.cluster("west").unwrap(), &fleet)).unwrap();
    let deletes = plan_of(&planned.plan, "west");
    assert!(
        deletes.contains(&format!("delete Secret istio-system/{}", token_of(2))),
        "{deletes:?}"
    );
    assert!(
        deletes.contains(&format!("delete Secret istio-system/{}", token_of(1))),
        "{deletes:?}"
    );
}
