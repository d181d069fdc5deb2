//! What the join's unit tests share: meshes, options and fleets of fake clusters.

use super::{Installer, JoinOptions};
use crate::app::fleet::Fleet;
use crate::cli::DryRun;
use crate::cluster::fake::FakeCluster;
use crate::cluster::{Cluster, ClusterError};
use crate::mesh::MeshSpec;
use crate::plan::{ApplyMode, ClusterPlan, apply_cluster};
use crate::render::OutputFormat;
use std::path::Path;
use std::time::Duration;

/// Two primaries on two networks: gateways, cross-network gateway, each reads the other.
pub const MULTI_NETWORK: &str = "meshID: m\nclusters:\n  - {name: east, context: ctx-east, network: n1, role: primary}\n  - {name: west, context: ctx-west, network: n2, role: primary}\n";
/// A primary with a remote on one network: east exposes istiod and reads west.
pub const PRIMARY_REMOTE: &str = "meshID: m\nclusters:\n  - {name: east, context: ctx-east, network: n1, role: primary}\n  - {name: west, context: ctx-west, network: n1, role: remote, primary: east, eastWestAddress: 192.0.2.7}\n";
/// Two primaries on one network (no gateways).
pub const ONE_NETWORK: &str = "meshID: m\nclusters:\n  - {name: east, context: ctx-east, network: n1, role: primary}\n  - {name: west, context: ctx-west, network: n1, role: primary}\n";

pub use crate::test_support::block_on;

/// A mesh file's spec.
pub fn mesh(text: &str) -> MeshSpec {
    MeshSpec::parse(text, Path::new("mesh.yaml")).unwrap()
}

/// `mesh-join plan` options for `mesh` with the Sail operator.
pub fn options(mesh: MeshSpec) -> JoinOptions {
    JoinOptions {
        mesh,
        certs_dir: None,
        only: Vec::new(),
        dry_run: DryRun::None,
        format: OutputFormat::Table,
        no_wait: false,
        wait_timeout: Duration::from_secs(1),
        allow_loopback: true,
        installer: Installer::Sail,
        plan_only: true,
        create_reader: false,
        include_secrets: false,
        export: None,
        force_conflicts: false,
        token_ttl: None,
        install: Default::default(),
        tool: None,
    }
}

/// A fake cluster per cluster of `mesh`, reached through its context.
pub fn fleet(mesh: &MeshSpec) -> Fleet<FakeCluster> {
    Fleet::of(
        mesh.clusters
            .iter()
            .map(|c| (c.name.clone(), FakeCluster::new(&c.context))),
    )
}

/// Applies `cp` to `fake` as the join's run does.
pub fn apply(fake: &impl Cluster, cp: &ClusterPlan) -> Result<usize, ClusterError> {
    block_on(apply_cluster(fake, cp, ApplyMode::Apply))
}

/// `op Kind namespace/name` per step.
pub fn steps(cp: &ClusterPlan) -> Vec<String> {
    cp.steps
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.op.as_str(),
                crate::cluster::describe(&s.manifest)
            )
        })
        .collect()
}
