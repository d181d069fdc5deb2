//! One source cluster's rotation, step by step as planned ([`super::plan`]); each step is
//! safe to repeat, and the record says what an interrupted run had started.

use super::plan::SourcePlan;
use super::sync::SyncWatch;
use crate::app::tokens::{Embedding, bound, record, wait_token_named};
use crate::cluster::{Cluster, Kube};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use crate::manifests::{as_data, remote_secret};
use crate::render::Printer;
use std::time::Duration;

/// How long the controller manager has to fill a minted long-lived token Secret.
const TOKEN_FILL_TIMEOUT: Duration = Duration::from_secs(30);

/// What one source's run needs besides its plan.
pub struct SourceRun<'a, C = Kube> {
    /// The source cluster's connection.
    pub kube: &'a C,
    /// Every reader's name, connection and current embedding (in the plan's reader order).
    pub readers: Vec<(String, &'a C, Option<Embedding>)>,
    /// The source's API server as the mesh file or the user's kubeconfig gives it: a rewritten
    /// remote secret names this one, never the server an existing secret names.
    pub server: String,
    /// Readers whose istiod Deployments are rolled after the swap, and why.
    pub restart: Vec<(String, Vec<String>, String)>,
    /// How long to wait for each istiod.
    pub timeout: Duration,
    /// RFC 3339 now.
    pub now: String,
}

async fn write_record(kube: &impl Cluster, r: &record::TokenRecord) -> Result<(), Error> {
    kube.merge_patch(
        "v1",
        "ServiceAccount",
        Some(ISTIO_NAMESPACE),
        READER_SERVICE_ACCOUNT,
        &record::patch(r),
    )
    .await?;
    Ok(())
}

/// Runs the plan; `Ok(false)` when an istiod did not confirm in time through `watch` (the
/// previous token is kept, the record stays in progress, the problems are printed).
pub async fn run_source<C: Cluster>(
    p: &SourcePlan,
    r: &SourceRun<'_, C>,
    watch: &impl SyncWatch<C>,
    printer: &Printer,
) -> Result<bool, Error> {
    swap(p, r, printer).await?;
    if !confirm(p, r, watch, printer).await? {
        return Ok(false);
    }
    let s = &p.source;
    if let Some(old) = &p.revoke {
        r.kube
            .delete("v1", "Secret", Some(ISTIO_NAMESPACE), old, false)
            .await?;
        printer.progress(&format!("{s}: revoked {ISTIO_NAMESPACE}/{old} (deleted)"));
    }
    if p.record.in_progress() {
        write_record(r.kube, &p.record.finish(&r.now)).await?;
        printer.progress(&format!(
            "{s}: rotation to generation {} finished",
            p.record.generation
        ));
    }
    Ok(true)
}

/// The swap: the record first, the new token Secret (or anchor), then every remote secret
/// the plan rewrites.
async fn swap<C: Cluster>(
    p: &SourcePlan,
    r: &SourceRun<'_, C>,
    printer: &Printer,
) -> Result<(), Error> {
    let s = &p.source;
    if p.start {
        write_record(r.kube, &p.record).await?;
        printer.progress(&format!(
            "{s}: rotation to generation {} recorded on {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT}",
            p.record.generation
        ));
    }
    if p.mint {
        let secret = match p.record.ttl_seconds {
            None => remote_secret::token_secret(&p.record.token),
            Some(t) => remote_secret::anchor_secret(&p.record.token, t),
        };
        r.kube.apply(&secret, false).await?;
        printer.progress(&format!("{s}: minted {ISTIO_NAMESPACE}/{}", p.record.token));
    }
    let (ca, token) = match p.record.ttl_seconds {
        _ if p.rewrite.is_empty() => Default::default(),
        None => wait_token_named(r.kube, &p.record.token, TOKEN_FILL_TIMEOUT).await?,
        Some(ttl) => {
            let t = bound::mint(r.kube, &p.record.token, ttl).await?;
            printer.progress(&format!(
                "{s}: minted a token valid for {} bound to {ISTIO_NAMESPACE}/{}",
                crate::cli::format_duration(Duration::from_secs(ttl)),
                p.record.token
            ));
            t
        }
    };
    for (reader, kube, _) in &r.readers {
        if !p.rewrite.contains(reader) {
            continue;
        }
        let kubeconfig = remote_secret::kubeconfig(s, &r.server, &ca, &token);
        kube.apply(
            &as_data(remote_secret::remote_secret(s, &kubeconfig)),
            false,
        )
        .await?;
        printer.progress(&format!(
            "{reader}: rewrote {ISTIO_NAMESPACE}/istio-remote-secret-{s} with the new token"
        ));
    }
    Ok(())
}

/// Restarts the istiods that need it and waits until every reader the plan waits on reports
/// the source synced; `Ok(false)` (printed) when a rollout or an istiod was late.
async fn confirm<C: Cluster>(
    p: &SourcePlan,
    r: &SourceRun<'_, C>,
    watch: &impl SyncWatch<C>,
    printer: &Printer,
) -> Result<bool, Error> {
    let s = &p.source;
    if let Some(late) = restart_readers(r, printer).await? {
        printer.error(&Error::input(
            format!("{s}: {late}\nthe previous token is kept (not revoked)"),
            "run the same command again once the rollout finished: it resumes here (istiod is not restarted twice)",
        ));
        return Ok(false);
    }
    let watched: Vec<(String, &C)> = r
        .readers
        .iter()
        .filter(|(name, _, _)| p.wait.contains(name))
        .map(|(name, k, _)| (name.clone(), *k))
        .collect();
    let late = watch.await_synced(s, &watched, r.timeout).await;
    if !late.is_empty() {
        printer.error(&Error::input(
            format!(
                "{s}: not every istiod confirmed the new credential within {}:\n{}\nthe previous token is kept (not revoked)",
                crate::cli::format_duration(r.timeout),
                late.join("\n")
            ),
            "check istiod's log in that cluster (it names the cause), then run the same command again: it resumes here",
        ));
        return Ok(false);
    }
    for (name, _) in &watched {
        printer.progress(&format!(
            "✔ {name}: istiod reports {s} synced with the new secret"
        ));
    }
    Ok(true)
}

/// Rolls the istiod Deployments that do not take the new secret in place, one reader at a
/// time; `Some(why)` when a rollout did not finish in time.
async fn restart_readers<C: Cluster>(
    r: &SourceRun<'_, C>,
    printer: &Printer,
) -> Result<Option<String>, Error> {
    for (reader, names, why) in &r.restart {
        let Some((_, kube, _)) = r.readers.iter().find(|(n, _, _)| n == reader) else {
            continue;
        };
        for name in names {
            printer.progress(&format!(
                "{reader}: {why}: restarting {ISTIO_NAMESPACE}/{name}"
            ));
            if let Some(late) = super::restart::restart(*kube, name, &r.now, r.timeout).await? {
                return Ok(Some(format!("{reader}: {late}")));
            }
            printer.progress(&format!(
                "✔ {reader}: {ISTIO_NAMESPACE}/{name} restarted (every replica runs the new pod template)"
            ));
        }
    }
    Ok(None)
}
