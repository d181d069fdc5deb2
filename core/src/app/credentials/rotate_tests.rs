//! `rotate-credentials` against fake clusters: from reader tokens of generation N and the
//! remote secrets that embed them, what it writes for generation N+1, what it revokes and
//! when, and that a finished rotation is not repeated.

use super::fake_support::*;
use super::*;
use crate::app::tokens::record::TokenRecord;
use crate::cluster::fake::FakeCluster;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::remote_secret::token_secret_name_of;

const NOW: &str = "2026-12-07T10:00:00Z";
const SA: &str = "ServiceAccount istio-system/istio-reader-service-account";

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `source`'s long-lived reader token at `generation`, finished: the record, the token
/// Secret filled with `tok-{generation}`, and that token in `reader`'s remote secret.
pub(super) fn at_generation(
    fleet: &Fleet<FakeCluster>,
    source: &str,
    reader: &str,
    generation: u32,
) {
    let token = source_at(&fleet.kubes[source], generation);
    remote_secret_in(&fleet.kubes[reader], source, &token);
}

/// The record of a finished rotation to `generation` and its token Secret filled with
/// `tok-{generation}` (returned).
pub(super) fn source_at(source: &FakeCluster, generation: u32) -> String {
    let mut rec = TokenRecord::initial();
    for _ in 0..generation {
        rec = rec.next("2026-12-01T00:00:00Z", None);
    }
    record(source, &rec.finish("2026-12-01T00:05:00Z"));
    let token = format!("tok-{generation}");
    filled_token(source, generation, &token);
    token
}

/// Runs `rotate-credentials` of `opts` over `fleet` with `istiods`.
pub(super) fn run(
    opts: &RotateCredentialsOptions,
    fleet: &Fleet<FakeCluster>,
    istiods: &Istiods,
) -> (Result<ExitStatus, Error>, String) {
    run_at(opts, fleet, istiods, unix_now())
}

pub(super) fn run_at(
    opts: &RotateCredentialsOptions,
    fleet: &Fleet<FakeCluster>,
    istiods: &Istiods,
    unix: i64,
) -> (Result<ExitStatus, Error>, String) {
    let (printer, err) = crate::test_support::captured_printer();
    let result = block_on(rotate_fleet(
        opts,
        fleet,
        istiods,
        (NOW.into(), unix),
        &printer,
    ));
    (result, err.text())
}

fn token_secret(generation: u32) -> String {
    format!(
        "Secret {ISTIO_NAMESPACE}/{}",
        token_secret_name_of(generation)
    )
}

fn secret_exists(fake: &FakeCluster, generation: u32) -> bool {
    let name = token_secret_name_of(generation);
    fake.object("v1", "Secret", Some(ISTIO_NAMESPACE), &name)
        .is_some()
}

#[test]
fn generation_n_moves_to_n_plus_1_and_the_previous_token_is_revoked_once_all_confirmed() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    let istiods = Istiods::confirming();
    let (result, _) = run(&again(&["west"]), &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    // The record first, the new Secret, then (after east confirmed) the revocation and the
    // record finished.
    assert_eq!(
        west.written(),
        [
            format!("patch {SA}"),
            format!("apply {}", token_secret(2)),
            format!("delete {}", token_secret(1)),
            format!("patch {SA}"),
        ]
    );
    assert_eq!(
        east.written(),
        ["apply Secret istio-system/istio-remote-secret-west"]
    );
    assert_eq!(embedded(east, "west").as_deref(), Some("tok-2"));
    assert!(!secret_exists(west, 1) && secret_exists(west, 2));
    let rec = recorded(west);
    assert_eq!(
        (rec.generation, rec.previous, rec.finished.as_deref()),
        (2, None, Some(NOW))
    );
    assert_eq!(istiods.asked(), ["west: east"]);
    // A second run (without --again) finds generation 2 finished and embedded: it writes and
    // waits for nothing (the first run's writes above are the control that the log sees
    // writes).
    west.clear_writes();
    east.clear_writes();
    let (result, _) = run(&options(&["west"]), &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert!(west.writes().is_empty(), "{:?}", west.written());
    assert!(east.writes().is_empty(), "{:?}", east.written());
    assert_eq!(istiods.asked(), ["west: east"]);
    // --again starts generation 3.
    filled_token(west, 3, "tok-3");
    assert_eq!(
        run(&again(&["west"]), &fleet, &istiods).0.unwrap(),
        ExitStatus::Success
    );
    assert_eq!(recorded(west).generation, 3);
    assert_eq!(embedded(east, "west").as_deref(), Some("tok-3"));
    assert!(
        west.written()
            .contains(&format!("delete {}", token_secret(2)))
    );
}

#[test]
fn an_istiod_that_does_not_confirm_keeps_the_previous_token_until_a_run_it_confirms() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    let (result, err) = run(&again(&["west"]), &fleet, &Istiods::late("east"));
    assert_eq!(result.unwrap(), ExitStatus::Problems);
    assert!(
        err.contains("east: istiod reports west syncing")
            && err.contains("the previous token is kept (not revoked)"),
        "{err}"
    );
    assert_eq!(
        west.written(),
        [format!("patch {SA}"), format!("apply {}", token_secret(2))]
    );
    assert_eq!(embedded(east, "west").as_deref(), Some("tok-2"));
    assert!(secret_exists(west, 1), "not revoked");
    assert_eq!(recorded(west).previous, Some(token_secret_name_of(1)));
    // Resumed once east confirms: nothing minted or rewritten again, only the revocation.
    west.clear_writes();
    east.clear_writes();
    let istiods = Istiods::confirming();
    assert_eq!(
        run(&options(&["west"]), &fleet, &istiods).0.unwrap(),
        ExitStatus::Success
    );
    assert_eq!(
        west.written(),
        [format!("delete {}", token_secret(1)), format!("patch {SA}")]
    );
    assert!(east.writes().is_empty(), "{:?}", east.written());
    assert_eq!(istiods.asked(), ["west: east"]);
    assert_eq!(recorded(west).finished.as_deref(), Some(NOW));
}

#[test]
fn a_remote_secret_someone_changed_is_brought_back_without_a_new_generation_or_revocation() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    remote_secret_in(east, "west", "someone-elses");
    let istiods = Istiods::confirming();
    assert_eq!(
        run(&options(&["west"]), &fleet, &istiods).0.unwrap(),
        ExitStatus::Success
    );
    assert_eq!(
        east.written(),
        ["apply Secret istio-system/istio-remote-secret-west"]
    );
    assert_eq!(embedded(east, "west").as_deref(), Some("tok-1"));
    assert!(west.writes().is_empty(), "{:?}", west.written());
    assert!(secret_exists(west, 1));
    assert_eq!(recorded(west).generation, 1);
    assert_eq!(istiods.asked(), ["west: east"]);
}

#[test]
fn a_dry_run_describes_generation_n_plus_1_and_writes_nothing() {
    let fleet = fleet();
    at_generation(&fleet, "west", "east", 1);
    filled_token(&fleet.kubes["west"], 2, "tok-2");
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    let mut dry = again(&["west"]);
    dry.dry_run = true;
    let istiods = Istiods::confirming();
    let (result, err) = run(&dry, &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert!(
        err.contains("west: record the rotation to generation 2")
            && err.contains(&format!(
                "west: revoke token Secret istio-system/{}",
                token_secret_name_of(1)
            )),
        "{err}"
    );
    assert!(west.writes().is_empty() && east.writes().is_empty());
    assert!(istiods.asked().is_empty());
    // Control: the same state without --dry-run is written.
    assert_eq!(
        run(&again(&["west"]), &fleet, &istiods).0.unwrap(),
        ExitStatus::Success
    );
    assert_eq!(west.writes().len(), 4, "{:?}", west.written());
}

#[test]
fn a_short_lived_token_past_half_its_life_is_renewed_against_a_new_anchor() {
    use crate::app::tokens::bound;
    use crate::manifests::remote_secret::anchor_secret;
    let fleet = fleet();
    let (west, east) = (&fleet.kubes["west"], &fleet.kubes["east"]);
    let rec = TokenRecord::initial().next("2026-12-01T00:00:00Z", Some(600));
    record(west, &rec.finish("2026-12-01T00:05:00Z"));
    west.insert(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": ISTIO_NAMESPACE},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}));
    west.insert_applied(
        crate::cluster::field_manager(),
        anchor_secret(&rec.token, 600),
    );
    let (_, token) = block_on(bound::mint(west, &rec.token, 600)).unwrap();
    remote_secret_in(east, "west", &token);
    west.clear_writes();
    let istiods = Istiods::confirming();
    // Fresh: nothing to do.
    let (result, _) = run(&options(&["west"]), &fleet, &istiods);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert!(west.writes().is_empty() && east.writes().is_empty());
    // 400 s later, less than half of its 600 s is left: generation 2, a new anchor.
    let (result, _) = run_at(&options(&["west"]), &fleet, &istiods, unix_now() + 400);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(
        west.written(),
        [
            format!("patch {SA}"),
            format!("apply {}", token_secret(2)),
            format!("token {SA}"),
            format!("delete {}", token_secret(1)),
            format!("patch {SA}"),
        ]
    );
    let anchor = west
        .object(
            "v1",
            "Secret",
            Some(ISTIO_NAMESPACE),
            &token_secret_name_of(2),
        )
        .unwrap();
    let renewed = embedded(east, "west").unwrap();
    assert_eq!(
        bound::binding(&renewed),
        Some((
            token_secret_name_of(2),
            anchor["metadata"]["uid"].as_str().unwrap().to_string()
        ))
    );
    let after = recorded(west);
    assert_eq!((after.generation, after.ttl_seconds), (2, Some(600)));
}
