//! Reader-token credentials on one two-cluster multi-primary lab mesh, each cluster's istiod
//! the operator's pod: `rotate-credentials` to new long-lived tokens, to short-lived bound
//! tokens (`--token-ttl`) and back, and a join that starts short-lived. Each proof is a
//! section (`credentials::rotation`, `credentials::short_lived`) that needs a fresh mesh: it
//! starts on clusters whose footprint is what it was before the first join, joins them itself,
//! and the clusters are purged back (`leave --purge` of every cluster, `join::purge_back`)
//! before the next section.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod credentials;
mod join;

use credentials::{rotation, short_lived};
use join::{Untouched, purge_back, untouched};
use mesh_lab::Lab;
use mesh_lab::testing::footprint;
use std::path::Path;
use std::time::Instant;

/// One two-cluster lab for the three credential proofs, in turn.
#[test]
fn reader_tokens_rotate_renew_and_start_short_lived_on_one_lab() {
    let lab = Lab::up(2).expect("lab");
    let untouched = untouched(&lab);
    section(
        &lab,
        &untouched,
        Then::Purge,
        short_lived::a_join_with_token_ttl_starts_short_lived_and_a_rotation_can_leave_that_mode,
    );
    section(
        &lab,
        &untouched,
        Then::Purge,
        short_lived::short_lived_tokens_are_bound_renewed_and_revoked_while_istiod_stays_synced,
    );
    // The last section: what it leaves (east joined, west left) is not purged.
    section(
        &lab,
        &untouched,
        Then::Keep,
        rotation::tokens_rotate_while_istiod_stays_synced_and_the_old_ones_are_revoked,
    );
}

/// What follows a section.
enum Then {
    /// Every cluster purged back to its footprint before the first join.
    Purge,
    /// The clusters left as the section left them.
    Keep,
}

/// Runs `proof` in a work directory of its own on clusters without a mesh: every cluster's
/// footprint is asserted to be what it was before the first join. With [`Then::Purge`], every
/// cluster is then returned to that footprint by `leave --purge`.
fn section(lab: &Lab, untouched: &Untouched, then: Then, proof: fn(&Lab, &Path)) {
    for (ctx, was) in untouched {
        assert_eq!(
            &footprint(lab, ctx),
            was,
            "{ctx}: a section starts on a cluster without a mesh"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let started = Instant::now();
    proof(lab, w);
    eprintln!("section took {:?}", started.elapsed());
    if let Then::Purge = then {
        let started = Instant::now();
        purge_back(
            lab,
            w,
            "mesh.yaml",
            &[("west", "lab-2"), ("east", "lab-1")],
            untouched,
        );
        eprintln!("purge back took {:?}", started.elapsed());
    }
}
