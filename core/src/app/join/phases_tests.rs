//! The join's plan per stage, decided against fake clusters: what is created, updated, left
//! unchanged and deleted, and that planning writes nothing.

use super::*;
use crate::app::join::test_support::{
    MULTI_NETWORK, ONE_NETWORK, PRIMARY_REMOTE, apply, block_on, fleet, mesh, options, steps,
};
use crate::cluster::LEGACY_FIELD_MANAGER;
use crate::cluster::fake::{Call, FakeCluster};
use serde_json::json;

fn plan_east(opts: &JoinOptions, fleet: &Fleet<FakeCluster>) -> Vec<(Stage, ClusterPlan)> {
    let c = opts.mesh.cluster("east").unwrap();
    block_on(plan_cluster(opts, c, fleet, None, None, false))
        .unwrap()
        .0
}

fn of(plans: &[(Stage, ClusterPlan)], stage: Stage) -> Vec<String> {
    let (_, cp) = plans.iter().find(|(s, _)| *s == stage).unwrap();
    steps(cp)
}

/// Applies every stage of east's plan, as a join's run does.
fn join_east(opts: &JoinOptions, fleet: &Fleet<FakeCluster>) {
    for (_, cp) in plan_east(opts, fleet) {
        apply(fleet.kube("east").unwrap(), &cp).unwrap();
    }
}

#[test]
fn an_empty_cluster_is_planned_as_creates_in_every_stage_and_nothing_is_written() {
    let opts = options(mesh(MULTI_NETWORK));
    let fleet = fleet(&opts.mesh);
    let east = fleet.kube("east").unwrap();
    let plans = plan_east(&opts, &fleet);
    let stages: Vec<Stage> = plans.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        stages,
        [Stage::ControlPlane, Stage::Gateways, Stage::ReaderToken]
    );
    assert_eq!(
        of(&plans, Stage::ControlPlane),
        ["create Namespace istio-system", "create Istio default"]
    );
    let gateways = of(&plans, Stage::Gateways);
    assert!(
        gateways.iter().all(|s| s.starts_with("create ")),
        "{gateways:?}"
    );
    assert!(gateways.contains(&"create Service istio-system/istio-eastwestgateway".into()));
    assert!(gateways.contains(&"create Gateway istio-system/cross-network-gateway".into()));
    // The namespace does not exist yet: the server checked these in the stand-in namespace.
    let (_, gw) = &plans[1];
    assert!(
        gw.steps[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("namespace istio-system is created first")),
        "{:?}",
        gw.steps[0].note
    );
    assert_eq!(
        of(&plans, Stage::ReaderToken),
        ["create Secret istio-system/istio-reader-service-account-istio-remote-secret-token"]
    );
    assert!(east.writes().is_empty(), "{:?}", east.written());
    // Positive control: applying the plan is seen by the write log, one write per step.
    let (_, cp) = &plans[0];
    assert_eq!(apply(east, cp).unwrap(), 2);
    assert_eq!(
        east.written(),
        ["apply Namespace istio-system", "apply Istio default"]
    );
}

#[test]
fn a_joined_cluster_is_planned_unchanged_and_a_changed_field_is_an_update_naming_it() {
    let mut opts = options(mesh(MULTI_NETWORK));
    let fleet = fleet(&opts.mesh);
    join_east(&opts, &fleet);
    let again = plan_east(&opts, &fleet);
    for (stage, cp) in &again {
        assert!(
            cp.steps.iter().all(|s| s.op == Op::Unchanged),
            "{stage:?}: {:?}",
            steps(cp)
        );
    }
    // Positive control: another network for east changes its namespace label and Istio.
    opts.mesh.clusters[0].network = "n9".into();
    let changed = plan_east(&opts, &fleet);
    let control = of(&changed, Stage::ControlPlane);
    assert_eq!(
        control,
        ["update Namespace istio-system", "update Istio default"]
    );
    let ns = &changed[0].1.steps[0];
    let paths: Vec<&str> = ns.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [r#"metadata.labels["topology.istio.io/network"]"#],
        "{:?}",
        ns.note
    );
}

#[test]
fn what_we_wrote_and_no_longer_want_is_deleted_and_another_tools_object_is_not() {
    let opts = options(mesh(PRIMARY_REMOTE));
    let fleet = fleet(&opts.mesh);
    let east = fleet.kube("east").unwrap();
    join_east(&opts, &fleet);
    // Another tool's cross-network gateway (a one-network mesh does not want one).
    east.insert(
        json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"},
        "spec": {"selector": {"istio": "eastwestgateway"}}}),
    );
    // The remote is gone: east no longer exposes istiod.
    let opts = options(mesh(ONE_NETWORK));
    let gateways = of(&plan_east(&opts, &fleet), Stage::Gateways);
    assert!(
        gateways.contains(&"delete Gateway istio-system/istiod-gateway".into()),
        "{gateways:?}"
    );
    assert!(gateways.contains(&"delete VirtualService istio-system/istiod-vs".into()));
    assert!(
        !gateways.iter().any(|s| s.contains("cross-network-gateway")),
        "{gateways:?}"
    );
}

/// A seed-built istiod exposure Gateway: the same selector, a label of its own, no servers.
fn seed_gateway() -> serde_json::Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "istiod-gateway", "namespace": "istio-system", "labels": {"seed": "1"}},
        "spec": {"selector": {"istio": "eastwestgateway"}}})
}

#[test]
fn another_tools_object_is_adopted_on_first_write_and_released_not_deleted() {
    let opts = options(mesh(PRIMARY_REMOTE));
    let fleet = fleet(&opts.mesh);
    let east = fleet.kube("east").unwrap();
    east.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
    );
    east.insert(seed_gateway());
    let plans = plan_east(&opts, &fleet);
    let adopted = plans[1]
        .1
        .steps
        .iter()
        .find(|s| s.manifest["metadata"]["name"] == "istiod-gateway")
        .unwrap();
    assert_eq!(adopted.op, Op::Update);
    let mark = crate::plan::ownership::ADOPTED;
    assert_eq!(adopted.manifest["metadata"]["annotations"][mark], "true");
    join_east(&opts, &fleet);
    // The remote is gone: the adopted Gateway loses only our fields; the seed keeps it.
    let gateways = plan_east(&options(mesh(ONE_NETWORK)), &fleet);
    let (_, gw) = &gateways[1];
    let released = gw
        .steps
        .iter()
        .find(|s| s.manifest["metadata"]["name"] == "istiod-gateway")
        .unwrap();
    assert_eq!(released.op, Op::Update, "{:?}", steps(gw));
    assert!(
        released
            .note
            .as_deref()
            .is_some_and(|n| n.contains("only kubectl-mesh's fields are taken off")),
        "{:?}",
        released.note
    );
    let paths: Vec<&str> = released.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"spec.servers"), "{paths:?}");
    // Positive control of the delete next to it: the VirtualService we created goes.
    assert!(steps(gw).contains(&"delete VirtualService istio-system/istiod-vs".into()));
    east.clear_writes();
    apply(east, gw).unwrap();
    let left = east
        .object(
            "networking.istio.io/v1",
            "Gateway",
            Some("istio-system"),
            "istiod-gateway",
        )
        .unwrap();
    assert_eq!(left["metadata"]["labels"]["seed"], "1");
    assert!(left["spec"].get("servers").is_none(), "{left:#}");
}

#[test]
fn a_field_another_manager_owns_stops_the_plan_unless_conflicts_are_forced() {
    let opts = options(mesh(MULTI_NETWORK));
    let mut seeded = fleet(&opts.mesh);
    let gitops = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "istio-system", "labels": {"topology.istio.io/network": "other"}}});
    seeded.kubes["east"].insert_applied("gitops", gitops.clone());
    let c = opts.mesh.cluster("east").unwrap();
    let refused = block_on(plan_cluster(&opts, c, &seeded, None, None, false)).unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains("ctx-east") && text.contains("gitops"),
        "{text}"
    );
    // With --force-conflicts the field is taken over: an update.
    let forced = FakeCluster::new("ctx-east").forcing_conflicts(true);
    forced.insert_applied("gitops", gitops);
    seeded.kubes.insert("east".into(), forced);
    let plans = plan_east(&opts, &seeded);
    assert_eq!(
        of(&plans, Stage::ControlPlane)[0],
        "update Namespace istio-system"
    );
}

#[test]
fn an_istio_object_whose_webhook_is_not_served_is_planned_unchecked() {
    let opts = options(mesh(MULTI_NETWORK));
    let fleet = fleet(&opts.mesh);
    let east = fleet.kube("east").unwrap();
    join_east(&opts, &fleet);
    let unserved = || crate::cluster::ClusterError::WebhookNotServed {
        context: "ctx-east".into(),
        operation: "apply".into(),
        message: "failed calling webhook \"validation.istio.io\"".into(),
    };
    east.fail_next(Call::DryRun, "Gateway", "cross-network-gateway", unserved());
    let plans = plan_east(&opts, &fleet);
    let (_, gw) = &plans[1];
    let step = gw
        .steps
        .iter()
        .find(|s| s.manifest["metadata"]["name"] == "cross-network-gateway")
        .unwrap();
    assert_eq!(step.op, Op::Update);
    assert!(
        step.note
            .as_deref()
            .unwrap_or_default()
            .contains("not checked by the server yet")
    );
    // Positive control: a Service (not an Istio kind) refused the same way stops the plan.
    east.fail_next(Call::DryRun, "Service", "*", unserved());
    assert!(
        block_on(plan_cluster(
            &opts,
            opts.mesh.cluster("east").unwrap(),
            &fleet,
            None,
            None,
            false
        ))
        .is_err()
    );
}

/// A filled token Secret of the reader in `fake`.
fn filled_token(fake: &FakeCluster, token: &str) {
    use base64::Engine as _;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    fake.insert(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": crate::manifests::remote_secret::token_secret_name(), "namespace": "istio-system"},
        "data": {"ca.crt": b("CA"), "token": b(token)}}));
}

fn remote_secrets(opts: &JoinOptions, fleet: &Fleet<FakeCluster>) -> Plan {
    let scope = Scope::of(&opts.mesh, &[]).unwrap();
    let servers = opts
        .mesh
        .clusters
        .iter()
        .map(|c| (c.name.clone(), format!("https://{}.example:6443", c.name)))
        .collect();
    block_on(plan_remote_secrets(
        &scope,
        fleet,
        &servers,
        &BTreeMap::new(),
        None,
    ))
    .unwrap()
}

fn east_of(plan: &Plan) -> &ClusterPlan {
    plan.clusters
        .iter()
        .find(|cp| cp.cluster == "east")
        .unwrap()
}

#[test]
fn remote_secrets_are_planned_per_reading_pair_and_a_stale_one_we_wrote_is_deleted() {
    let opts = options(mesh(MULTI_NETWORK));
    let fleet = fleet(&opts.mesh);
    for (name, fake) in &fleet.kubes {
        fake.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
        );
        filled_token(fake, &format!("token-of-{name}"));
    }
    let east = fleet.kube("east").unwrap();
    // A remote secret east once had for a cluster the mesh no longer has.
    let stale =
        crate::manifests::as_data(crate::manifests::remote_secret::remote_secret("gone", "x"));
    east.insert_applied(LEGACY_FIELD_MANAGER, stale);
    let plan = remote_secrets(&opts, &fleet);
    let east_plan: Vec<String> = plan
        .clusters
        .iter()
        .filter(|cp| cp.cluster == "east")
        .flat_map(steps)
        .collect();
    assert_eq!(
        east_plan,
        [
            "create Secret istio-system/istio-remote-secret-west",
            "delete Secret istio-system/istio-remote-secret-gone"
        ]
    );
    let secret = &east_of(&plan).steps[0];
    assert!(
        secret.secret,
        "a remote secret is never printed without asking"
    );
    assert!(east.writes().is_empty(), "{:?}", east.written());
    // Positive control: applied, the plan is written, and a re-plan keeps the kubeconfig.
    for cp in plan.clusters.iter().filter(|cp| cp.cluster == "east") {
        apply(east, cp).unwrap();
    }
    assert_eq!(east.writes().len(), 2, "{:?}", east.written());
    let again = remote_secrets(&opts, &fleet);
    let kept = &east_of(&again).steps[0];
    assert_eq!(kept.op, Op::Unchanged, "{:?}", kept.note);
    assert!(
        kept.note
            .as_deref()
            .unwrap_or_default()
            .starts_with("kept:")
    );
}

#[test]
fn without_a_token_yet_the_remote_secret_is_checked_with_a_placeholder() {
    let opts = options(mesh(MULTI_NETWORK));
    let fleet = fleet(&opts.mesh);
    for fake in fleet.kubes.values() {
        fake.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
        );
    }
    let plan = remote_secrets(&opts, &fleet);
    let step = &east_of(&plan).steps[0];
    assert_eq!(step.op, Op::Create);
    assert_eq!(
        step.note.as_deref(),
        Some("reads west with a token issued there (after phase 1)")
    );
}
