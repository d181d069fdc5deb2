//! istiod before 1.30.4 (and 1.31.0) does not take a rotated remote secret in place
//! (istio/istio#60612; and #60920, #61043: the network gateway and endpoint shards of the
//! swapped cluster get lost; [`crate::version_gates::in_place_rotation`]).
//! So after the swap, a reading cluster whose istiod is older is restarted (its Deployments
//! rolled, as `kubectl rollout restart` does) before its sync is awaited and the old token
//! revoked; with `--no-istiod-restart` the rotation is refused instead, before any write.
//!
//! The decisions are pure ([`decide`]); reading, restarting and waiting are below them.

use crate::cluster::Cluster;
use crate::error::Error;
use crate::labels::ISTIO_NAMESPACE;
use crate::version_gates::{IN_PLACE_ROTATION_FROM, in_place_rotation};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The pod-template annotation `kubectl rollout restart` sets; a later value than the
/// rotation's start means the istiod pods were restarted during this rotation.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// One istiod Deployment of a reading cluster, as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IstiodDeployment {
    /// `metadata.name` (istiod, istiod-REVISION).
    pub name: String,
    /// The discovery container's image.
    pub image: String,
    /// Its pod template's [`RESTARTED_AT`], if any.
    pub restarted_at: Option<String>,
}

impl IstiodDeployment {
    /// Reads a Deployment object.
    pub fn of(d: &Value) -> IstiodDeployment {
        let containers = d["spec"]["template"]["spec"]["containers"].as_array();
        let image = containers
            .into_iter()
            .flatten()
            .find(|c| c["name"] == "discovery")
            .or_else(|| containers.and_then(|c| c.first()))
            .and_then(|c| c["image"].as_str())
            .unwrap_or_default();
        IstiodDeployment {
            name: d["metadata"]["name"].as_str().unwrap_or_default().into(),
            image: image.to_string(),
            restarted_at: d["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
                .as_str()
                .map(str::to_string),
        }
    }
}

/// The Istio version in an image reference's tag (`…/pilot:1.30.3`, `…:1.30.3-distroless`);
/// `None` for a digest or a tag that is not a version.
pub fn image_version(image: &str) -> Option<(u32, u32, u32)> {
    let tag = image.rsplit_once('/').map_or(image, |(_, t)| t);
    let (_, tag) = tag.split_once(':')?;
    let (major, minor, patch) = crate::istio_version::parse(tag.split('@').next()?)?;
    Some((
        u32::try_from(major).ok()?,
        u32::try_from(minor).ok()?,
        u32::try_from(patch.unwrap_or(0)).ok()?,
    ))
}

/// What a reading cluster's istiod needs after the swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: every istiod takes the new secret in place.
    InPlace,
    /// Roll these Deployments, for this reason.
    Restart(Vec<String>, String),
    /// Already restarted during this rotation (an interrupted run that resumes).
    Restarted(Vec<String>),
    /// No istiod Deployment to judge or restart: said as a warning.
    Unknown(String),
}

/// Decides for one reading cluster from its istiod Deployments and the rotation's start.
pub fn decide(deployments: &[IstiodDeployment], started: &str) -> Decision {
    if deployments.is_empty() {
        return Decision::Unknown(format!(
            "no app=istiod Deployment in {ISTIO_NAMESPACE}: if its istiod is older than {IN_PLACE_ROTATION_FROM}, restart it after the rotation"
        ));
    }
    let mut old = Vec::new();
    let mut why = Vec::new();
    for d in deployments {
        match image_version(&d.image) {
            Some((ma, mi, pa)) if in_place_rotation((ma.into(), mi.into(), pa.into())) => {}
            Some((ma, mi, pa)) => {
                old.push(d.name.clone());
                why.push(format!("{} runs {ma}.{mi}.{pa}", d.name));
            }
            None => {
                old.push(d.name.clone());
                why.push(format!(
                    "{} runs image {} (version unknown)",
                    d.name, d.image
                ));
            }
        }
    }
    if old.is_empty() {
        return Decision::InPlace;
    }
    let done = deployments
        .iter()
        .filter(|d| old.contains(&d.name))
        .all(|d| {
            d.restarted_at
                .as_deref()
                .is_some_and(|t| !started.is_empty() && t >= started)
        });
    if done {
        return Decision::Restarted(old);
    }
    Decision::Restart(
        old,
        format!(
            "{}: istiod before {IN_PLACE_ROTATION_FROM} does not take a rotated remote secret in place (istio/istio#60612)",
            why.join(", ")
        ),
    )
}

/// The refusal of `--no-istiod-restart` when some reader needs a restart.
pub fn refusal(needing: &[(String, String)]) -> Error {
    let lines: Vec<String> = needing
        .iter()
        .map(|(c, why)| format!("  {c}: {why}"))
        .collect();
    Error::input(
        format!(
            "--no-istiod-restart, but these clusters' istiod must be restarted after the swap:\n{}",
            lines.join("\n")
        ),
        "run without --no-istiod-restart (the command rolls those Deployments), or upgrade istiod to 1.30.4 or later first",
    )
}

/// A reading cluster's istiod Deployments.
pub async fn observe(kube: &impl Cluster) -> Result<Vec<IstiodDeployment>, Error> {
    let list = kube
        .list(
            "apps/v1",
            "Deployment",
            Some(ISTIO_NAMESPACE),
            Some("app=istiod"),
        )
        .await?;
    Ok(list.iter().map(IstiodDeployment::of).collect())
}

/// Rolls a Deployment (its pod template's [`RESTARTED_AT`]) and waits until every replica
/// runs the new template and is available; `Ok(Some(why))` when that did not happen within
/// `timeout` (a problem the same command resumes from, not a refusal).
pub async fn restart(
    kube: &impl Cluster,
    name: &str,
    now: &str,
    timeout: Duration,
) -> Result<Option<String>, Error> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    kube.merge_patch("apps/v1", "Deployment", Some(ISTIO_NAMESPACE), name, &patch)
        .await?;
    let deadline = Instant::now() + timeout;
    loop {
        let d = kube
            .get("apps/v1", "Deployment", Some(ISTIO_NAMESPACE), name)
            .await?
            .unwrap_or_default();
        if rolled_out(&d) {
            return Ok(None);
        }
        if Instant::now() > deadline {
            return Ok(Some(format!(
                "{ISTIO_NAMESPACE}/{name} did not finish its restart within {} (status {}); check: kubectl --context {} -n {ISTIO_NAMESPACE} rollout status deployment/{name}",
                crate::cli::format_duration(timeout),
                d["status"],
                kube.context()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether a Deployment's rollout finished (as `kubectl rollout status` judges it).
pub fn rolled_out(d: &Value) -> bool {
    matches!(
        crate::rollout::rollout(d),
        crate::rollout::Rollout::Complete { .. } | crate::rollout::Rollout::ScaledToZero
    )
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
