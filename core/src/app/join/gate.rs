//! The trust gate: istiod must find a `cacerts` that chains to the mesh root in every
//! cluster before anything of the mesh is written.

use super::scope::Scope;
use super::{Installer, JoinOptions};
use crate::app::fleet::Fleet;
use crate::app::trust::{judge_trust, observe_trust};
use crate::ca::{ProblemKind, Severity};
use crate::cluster::Cluster;
use crate::error::Error;
use crate::render::Printer;
use crate::version_gates;
use serde_json::Value;

/// Stops the run, naming each cluster, when a selected cluster's trust is not in place.
pub async fn check_trust<C: Cluster>(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet<C>,
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
        // Stale published roots are istiod's to rewrite once the join runs it: not a refusal.
        .filter(|p| p.severity == Severity::Error && p.kind != ProblemKind::PublishedRoots)
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

/// The CRD whose `spec.version` enum lists what the Sail operator installs.
const ISTIO_CRD: &str = "istios.sailoperator.io";

/// The version gate: with the Sail operator, the file's `istio.version` must be one the
/// served `Istio` CRD of every selected cluster lists (else exit 2 before any write, naming
/// the context and the versions it installs); unset, it becomes the newest version all of
/// them install. An end-of-life minor is said as a warning.
pub async fn resolve_version<C: Cluster>(
    mut opts: JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet<C>,
    printer: &Printer,
) -> Result<JoinOptions, Error> {
    if opts.installer == Installer::Sail {
        let mut served = Vec::new();
        for c in &scope.selected {
            let k = fleet.kube(&c.name)?;
            let crd = k
                .get(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    ISTIO_CRD,
                )
                .await?;
            // No CRD: the plan stops below naming the missing operator.
            if let Some(list) = crd.as_ref().and_then(served_versions) {
                served.push((k.context().to_string(), list));
            }
        }
        opts.mesh.istio.version =
            Some(choose_version(opts.mesh.istio.version.as_deref(), &served)?);
    }
    if let Some(w) = version_gates::end_of_life_warning(opts.mesh.istio.version()) {
        printer.warn(&w);
    }
    Ok(opts)
}

/// The versions the operator installs, from a served version of its `Istio` CRD
/// ([`version_gates::installable_in`]).
pub fn served_versions(crd: &Value) -> Option<Vec<String>> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["version"])
        .find(|f| f["enum"].is_array())
        .map(version_gates::installable_in)
}

/// The version to install from the file's (if any) and each context's served list (pure).
pub fn choose_version(
    wanted: Option<&str>,
    served: &[(String, Vec<String>)],
) -> Result<String, Error> {
    if let Some(w) = wanted {
        for (context, list) in served {
            if let Err(why) = version_gates::installable(w, list) {
                return Err(Error::input(
                    format!("istio.version: context {context}: {why}; nothing was changed"),
                    "set istio.version in the mesh file to one of those (or remove it: mesh-join then takes the newest), or upgrade the Sail operator to one that installs it",
                ));
            }
        }
        return Ok(w.to_string());
    }
    let lists: Vec<Vec<String>> = served.iter().map(|(_, l)| l.clone()).collect();
    match version_gates::newest(&version_gates::common(&lists)) {
        Some(v) => Ok(v.to_string()),
        None if served.is_empty() => Ok(crate::mesh::DEFAULT_ISTIO_VERSION.to_string()),
        None => Err(Error::input(
            "istio.version is unset and the selected clusters' operators install no version in common; nothing was changed",
            "set istio.version in the mesh file, or run the same Sail operator version in every cluster",
        )),
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
