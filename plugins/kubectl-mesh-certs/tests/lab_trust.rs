//! `kubectl mesh-certs apply | status | rotate | rotate-root` against one lab of three bare
//! API servers (no CRDs, no istiod), checked with the lab's kubectl, the audit logs and
//! openssl. The sections share the lab: each asserts that no cluster has `istio-system` or a
//! ResourceQuota when it starts, and ends by deleting `istio-system` everywhere and waiting
//! until it is gone ([`trust::remove_istio_system`]).
//!
//! - [`trust::apply`]: three clusters, `status`, idempotency, no root key in any cluster;
//! - [`trust::dry_run`]: a cluster that refuses the dry run stops `apply` and `rotate` before
//!   any write anywhere (a quota the section creates, then deletes);
//! - [`trust::rotate_root`]: `rotate-root` stages without istiod, refusals, dry runs, a partial
//!   run resumed;
//! - [`trust::refusals`], last because it stops lab-2's API server: refusals, `--force`, dry
//!   runs, YAML output, rotation, unknown and unreachable contexts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rotation;
mod trust;

use mesh_lab::Lab;
use trust::{apply, dry_run, refusals, rotate_root};

#[test]
fn apply_dry_run_refusal_rotate_root_and_refusals_on_one_three_cluster_lab() {
    let mut lab = Lab::up_without_crds(3).expect("lab");
    apply::three_clusters_then_status_idempotency_and_no_root_key(&lab);
    dry_run::a_cluster_that_refuses_the_dry_run_stops_apply_before_any_write_anywhere(&lab);
    rotate_root::stages_refuse_before_writing_dry_run_writes_nothing_a_partial_run_resumes(&lab);
    refusals::refusals_force_dry_runs_yaml_rotation_and_unreachable_contexts(&mut lab);
}
