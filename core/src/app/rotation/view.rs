//! Where a recorded root rotation stands, for `mesh-certs status`: each cluster's stage as its
//! live `cacerts` shows it, and the stage to run next.

use super::stages::{self, Standing};
use super::state::{self, Stage};
use crate::ca::bundle::{Bundle, short};
use crate::ca::store::CertDir;
use crate::cluster::Cluster;
use crate::error::Error;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE};
use serde::Serialize;

/// A rotation in the certificate directory and the clusters' stages.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationView {
    /// SHA-256 of the root being replaced.
    pub old_root: String,
    /// SHA-256 of the new root.
    pub new_root: String,
    /// The last stage the record says was written.
    pub recorded: Stage,
    /// Per cluster: the stage its `cacerts` is at (or why it is at none).
    pub clusters: Vec<(String, String)>,
    /// The stage to run next; `None` once every cluster is at `finish`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Stage>,
}

/// The stage to run next: one past the stage of the cluster furthest behind; `None` when
/// every cluster is finished, or when one is not in the rotation at all (it blocks).
pub fn next_stage(standings: &[Standing]) -> Option<Stage> {
    let lowest = standings
        .iter()
        .map(Standing::stage)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .min()?;
    match lowest {
        Stage::Prepare => Some(Stage::TrustBoth),
        Stage::TrustBoth => Some(Stage::Reissue),
        Stage::Reissue => Some(Stage::Finish),
        Stage::Finish => None,
    }
}

/// The view, when `dir` records a rotation; reads each cluster's `cacerts`.
pub async fn observe<C: Cluster>(
    dir: &CertDir,
    kubes: &[C],
    names: &[String],
) -> Result<Option<RotationView>, Error> {
    let Some(record) = state::read(dir)? else {
        return Ok(None);
    };
    let (old, new) = super::local::roots(dir, &record)?;
    let mut standings = Vec::new();
    for kube in kubes {
        let live = kube
            .get("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)
            .await?
            .map(|s| Bundle::from_secret(kube.context(), &s));
        standings.push(stages::standing(live.as_ref(), &old, &new));
    }
    Ok(Some(RotationView {
        old_root: record.old_root,
        new_root: record.new_root,
        recorded: record.stage,
        clusters: names
            .iter()
            .cloned()
            .zip(standings.iter().map(|s| s.label().to_string()))
            .collect(),
        next: next_stage(&standings),
    }))
}

impl RotationView {
    /// One line for people.
    pub fn line(&self) -> String {
        let clusters: Vec<String> = self
            .clusters
            .iter()
            .map(|(c, s)| format!("{c} {s}"))
            .collect();
        let next = match self.next {
            Some(stage) => format!("next: kubectl mesh-certs rotate-root {}", stage.as_str()),
            None if self.clusters.iter().all(|(_, s)| s == "finish") => {
                "every cluster is finished".into()
            }
            None => "a cluster is outside the rotation: see above".into(),
        };
        format!(
            "root rotation {} → {} (last stage written: {}): {}; {next}",
            short(&self.old_root),
            short(&self.new_root),
            self.recorded.as_str(),
            clusters.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Standing::*;

    #[test]
    fn the_next_stage_follows_the_cluster_furthest_behind() {
        assert_eq!(next_stage(&[OldOnly, OldOnly]), Some(Stage::TrustBoth));
        assert_eq!(next_stage(&[TrustBoth, OldOnly]), Some(Stage::TrustBoth));
        assert_eq!(next_stage(&[TrustBoth, Reissued]), Some(Stage::Reissue));
        assert_eq!(next_stage(&[Reissued, Finished]), Some(Stage::Finish));
        assert_eq!(next_stage(&[Finished, Finished]), None);
        assert_eq!(next_stage(&[Finished, Missing]), None);
        assert_eq!(next_stage(&[]), None);
    }
}
