//! Declarative convergence on the lab: a mesh file changed and applied again leaves exactly the
//! objects a fresh join of the new file writes on fresh clusters (compared field by field), a
//! second run writes nothing, and fields another field manager owns stop the run.
//!
//! Each chain runs on two halves of the lab (`converge::Halves`): the first goes through a chain
//! of mesh files, each the start of the next change; for each change compared, the second half is
//! purged back to its footprint before any join and joined fresh with the new file under the
//! same cluster names, and the two halves are compared object by object. A state reached by a
//! chain of changes is compared with a fresh join before the next change starts from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod converge;
mod join;

use converge::{Halves, JOIN};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, run_plugin as run};

const ONE_NETWORK: [&str; 2] = ["east primary net1", "west primary net1"];
const REMOTE_WEST: [&str; 2] = ["east primary net1", "west remote net1 east"];

/// One six-cluster lab carries both chains: the role and network chain on halves of two
/// clusters (`lab-1,2` and `lab-3,4`), then, after both halves are purged back to their
/// footprint, the added-cluster chain on halves of three.
#[test]
fn roles_networks_and_an_added_cluster_converge_to_fresh_joins() {
    let lab = Lab::up(6).expect("lab");
    roles_and_networks_changed_converge_to_fresh_joins(&lab);
    an_added_cluster_and_its_leaving_converge_to_fresh_joins(&lab);
}

/// A remote turned primary, then back to a remote, then a changed network: each converges to
/// what a fresh join of its file writes.
fn roles_and_networks_changed_converge_to_fresh_joins(lab: &Lab) {
    let work = tempfile::tempdir().unwrap();
    let mut h = Halves::new(lab, work.path(), &["east", "west"]);
    h.change(&REMOTE_WEST);
    // A remote turned primary converges to a fresh multi-primary.
    h.converges_to(&ONE_NETWORK);
    // A primary turned remote converges to a fresh primary-remote.
    h.converges_to(&REMOTE_WEST);
    // A changed network converges to a fresh multi-network mesh (from multi-primary).
    h.change(&ONE_NETWORK);
    let last = ["east primary net1", "west primary net2"];
    h.converges_to(&last);
    h.purge_all(&last);
}

/// An added cluster converges to a fresh three-cluster mesh; after it leaves, its peers hold
/// what a fresh join without it writes; then fields another manager owns stop the run.
fn an_added_cluster_and_its_leaving_converge_to_fresh_joins(lab: &Lab) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut h = Halves::new(lab, w, &["east", "west", "north"]);
    h.change(&ONE_NETWORK);
    let three = [
        "east primary net1",
        "west primary net1",
        "north remote net1 east",
    ];
    h.converges_to(&three);
    // north leaves; the mesh without it, joined fresh, is what its peers hold.
    let left = ok(run(
        JOIN,
        lab,
        w,
        &["leave", "-f", "to.yaml", "--cluster", "north", "--yes"],
    ));
    h.join_fresh(&ONE_NETWORK);
    converge::same_objects(lab, "lab-1", "lab-4");
    converge::same_objects(lab, "lab-2", "lab-5");
    // The mesh without north, joined again over the peers, writes nothing: leave converged.
    let m = marks(lab);
    h.change(&ONE_NETWORK);
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "join after leave wrote {writes:?}\n{}",
        text(&left)
    );
    converge::fields::fields_another_manager_owns_stop_the_run_until_force_conflicts_and_the_charts_objects_are_never_taken(lab, w);
}
