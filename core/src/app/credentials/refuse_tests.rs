//! What `rotate-credentials` refuses before its first write (each with the state it accepts),
//! and the restart of an istiod that does not take a rotated secret in place.

use super::fake_support::*;
use super::rotate_tests::{at_generation, run, source_at};
use super::*;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::remote_secret::token_secret_name_of;

fn nothing_written(fleet: &Fleet<crate::cluster::fake::FakeCluster>) {
    for (name, fake) in &fleet.kubes {
        assert!(fake.writes().is_empty(), "{name}: {:?}", fake.written());
    }
}

#[test]
fn a_reader_without_its_remote_secret_stops_every_source_before_any_write() {
    let fleet = fleet();
    // east is complete (planned first); east has no remote secret for west.
    at_generation(&fleet, "east", "west", 1);
    filled_token(&fleet.kubes["east"], 2, "tok-e2");
    source_at(&fleet.kubes["west"], 1);
    let (result, _) = run(&again(&[]), &fleet, &Istiods::confirming());
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("cluster 'east' has no remote secret for 'west'"),
        "{e}"
    );
    nothing_written(&fleet);
    // Accepted once the join is complete: both sources rotate.
    remote_secret_in(&fleet.kubes["east"], "west", "tok-1");
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let (result, _) = run(&again(&[]), &fleet, &Istiods::confirming());
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(recorded(&fleet.kubes["east"]).generation, 2);
    assert_eq!(recorded(&fleet.kubes["west"]).generation, 2);
}

#[test]
fn a_cluster_that_was_not_joined_is_refused_and_a_joined_one_accepted() {
    let fleet = fleet();
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    filled_token(west, 0, "tok-0");
    remote_secret_in(east, "west", "tok-0");
    let (result, _) = run(&options(&["west"]), &fleet, &Istiods::confirming());
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("cluster 'west' (context ctx-west): istio-system/istio-reader-service-account does not exist"),
        "{e}"
    );
    nothing_written(&fleet);
    // Joined (the account without a record: the join's generation 0), it is rotated.
    west.insert(
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "istio-reader-service-account", "namespace": ISTIO_NAMESPACE}}),
    );
    filled_token(west, 1, "tok-1");
    let (result, _) = run(&options(&["west"]), &fleet, &Istiods::confirming());
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(recorded(west).generation, 1);
    assert_eq!(embedded(east, "west").as_deref(), Some("tok-1"));
    assert!(west.written().contains(&format!(
        "delete Secret istio-system/{}",
        token_secret_name_of(0)
    )));
}

#[test]
fn no_istiod_restart_refuses_an_istiod_that_needs_one_and_accepts_one_that_does_not() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let east = &fleet.kubes["east"];
    istiod(east, "docker.io/istio/pilot:1.30.3", true);
    let mut opts = again(&["west"]);
    opts.no_istiod_restart = true;
    let (result, _) = run(&opts, &fleet, &Istiods::confirming());
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("--no-istiod-restart") && e.contains("east: istiod runs 1.30.3"),
        "{e}"
    );
    nothing_written(&fleet);
    // 1.30.4 takes the secret in place: accepted, and no Deployment is touched.
    istiod(east, "docker.io/istio/pilot:1.30.4", true);
    let (result, _) = run(&opts, &fleet, &Istiods::confirming());
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(
        east.written(),
        ["apply Secret istio-system/istio-remote-secret-west"]
    );
}

#[test]
fn an_old_istiod_is_restarted_once_after_the_swap_and_before_the_revocation() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    // The rollout does not finish in time: the previous token is kept.
    istiod(east, "docker.io/istio/pilot:1.30.3", false);
    let istiods = Istiods::confirming();
    let (result, err) = run(&again(&["west"]), &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Problems);
    assert!(
        err.contains("istio-system/istiod did not finish its restart")
            && err.contains("the previous token is kept"),
        "{err}"
    );
    assert_eq!(
        east.written(),
        [
            "apply Secret istio-system/istio-remote-secret-west",
            "patch Deployment istio-system/istiod"
        ]
    );
    let d = east
        .object("apps/v1", "Deployment", Some(ISTIO_NAMESPACE), "istiod")
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"][restart::RESTARTED_AT],
        "2026-12-07T10:00:00Z"
    );
    assert!(
        istiods.asked().is_empty(),
        "not waited on before the restart finished"
    );
    assert!(!west.written().iter().any(|w| w.starts_with("delete")));
    // Rolled out since: the resumed run does not restart it again, waits, and revokes.
    istiod(east, "docker.io/istio/pilot:1.30.3", true);
    east.clear_writes();
    west.clear_writes();
    let (result, _) = run(&options(&["west"]), &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert!(east.writes().is_empty(), "{:?}", east.written());
    assert_eq!(istiods.asked(), ["west: east"]);
    assert_eq!(
        west.written(),
        [
            format!("delete Secret istio-system/{}", token_secret_name_of(1)),
            "patch ServiceAccount istio-system/istio-reader-service-account".to_string()
        ]
    );
}
