//! The trust gate: istiod must find a `cacerts` that chains to the mesh root in every
//! cluster before anything of the mesh is written.

use super::JoinOptions;
use super::fleet::Fleet;
use super::scope::Scope;
use crate::app::trust::{judge_trust, observe_trust};
use crate::ca::Severity;
use crate::error::Error;

/// Stops the run, naming each cluster, when a selected cluster's trust is not in place.
pub async fn check_trust(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet,
) -> Result<(), Error> {
    let local_root = match &opts.certs_dir {
        Some(d) => d.root_fingerprint()?,
        None => None,
    };
    let mut observed = Vec::new();
    for c in &scope.selected {
        let k = fleet.kube(&c.name)?;
        observed.push(observe_trust(k, &c.name, time::OffsetDateTime::now_utc(), 0).await?);
    }
    let report = judge_trust(&mut observed, local_root);
    let blocking: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error && !p.message.contains("istio-ca-root-cert"))
        .map(|p| format!("{}: {}", p.subject, p.message))
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    let certs = opts
        .certs_dir
        .as_ref()
        .map(|d| d.path().display().to_string())
        .unwrap_or_else(|| "mesh-certs".into());
    Err(Error::input(
        format!(
            "the mesh's trust is not ready, nothing was changed:\n{}",
            blocking.join("\n")
        ),
        format!(
            "put each cluster's intermediate in place first: kubectl mesh-certs apply -f MESH.yaml --dir {certs} (kubectl mesh-certs status shows the details)"
        ),
    ))
}
