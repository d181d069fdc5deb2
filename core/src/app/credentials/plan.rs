//! What a credential rotation does, decided from what was observed: pure functions.
//!
//! Per cluster that is read (the source of remote secrets), in this order: record the
//! rotation on the reader ServiceAccount, mint the new token Secret, rewrite every remote
//! secret (in each reading primary) that does not embed the new token yet, wait until every
//! istiod that reads the cluster reports it synced again, and only then revoke the previous
//! token and record the rotation as finished. An interrupted run finds the record in progress
//! and does what is left; a finished one is not repeated unless asked (`--again`).

use crate::app::tokens::record::TokenRecord;
use crate::error::Error;
use crate::mesh::MeshSpec;
use crate::topology::reading_pairs;

/// Which token a reader's remote secret for the source embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    /// The current token of the record.
    Current,
    /// Another one (the previous token, or one this tool did not mint).
    Other,
    /// The reader has no remote secret for the source.
    Missing,
}

/// What was observed for one source cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The source cluster.
    pub source: String,
    /// The record on its reader ServiceAccount.
    pub record: TokenRecord,
    /// Whether the record's current token Secret exists.
    pub current_exists: bool,
    /// Whether the record's previous token Secret (if any) still exists.
    pub previous_exists: bool,
    /// Per reading cluster (in the mesh file's order), what its remote secret embeds.
    pub readers: Vec<(String, Embedded)>,
}

/// The steps for one source cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    /// The source cluster.
    pub source: String,
    /// The record the rotation moves to.
    pub record: TokenRecord,
    /// The record must be written first (a new rotation starts).
    pub start: bool,
    /// The new token Secret must be created.
    pub mint: bool,
    /// Readers whose remote secret is rewritten.
    pub rewrite: Vec<String>,
    /// Readers whose istiod must report the source synced before revocation.
    pub wait: Vec<String>,
    /// The token Secret deleted once every reader is synced.
    pub revoke: Option<String>,
}

impl SourcePlan {
    /// Whether the rotation of this source is already finished (nothing to write).
    pub fn is_done(&self) -> bool {
        !self.start && !self.record.in_progress() && !self.mint && self.rewrite.is_empty()
    }
}

/// The clusters whose credentials are rotated: `only` (each must be read by some cluster),
/// else every cluster that is read. Refused when the mesh has no remote secrets at all;
/// `file` names the mesh file in errors.
pub fn sources(mesh: &MeshSpec, file: &str, only: &[String]) -> Result<Vec<String>, Error> {
    let pairs = reading_pairs(mesh);
    if pairs.is_empty() {
        return Err(Error::input(
            format!(
                "{file}: no cluster reads another one (a single primary): the mesh has no remote secrets and no reader credentials to rotate"
            ),
            "add a cluster to the mesh file and run kubectl mesh-join first",
        ));
    }
    for name in only {
        if mesh.cluster(name).is_none() {
            let known: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::input(
                format!(
                    "{file}: --cluster {name}: no such cluster (clusters: {})",
                    known.join(", ")
                ),
                "name a cluster of the mesh file",
            ));
        }
        if !pairs.iter().any(|(_, s)| s == name) {
            return Err(Error::input(
                format!(
                    "{file}: --cluster {name}: no cluster reads {name}, so no remote secret holds a credential for it"
                ),
                "name a cluster that others read (every primary of a multi-primary mesh, every remote)",
            ));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for c in &mesh.clusters {
        let read = pairs.iter().any(|(_, s)| *s == c.name);
        if read && (only.is_empty() || only.contains(&c.name)) {
            out.push(c.name.clone());
        }
    }
    Ok(out)
}

/// The reading clusters of `source`, in the mesh file's order.
pub fn readers_of(mesh: &MeshSpec, source: &str) -> Vec<String> {
    let pairs = reading_pairs(mesh);
    mesh.clusters
        .iter()
        .filter(|c| pairs.iter().any(|(r, s)| *r == c.name && s == source))
        .map(|c| c.name.clone())
        .collect()
}

/// The credential lifetime a rotation moves to: `requested` by `--token-ttl` (0: a long-lived
/// token Secret), else the record's (a rotation keeps the mode it finds).
pub fn wanted_ttl(record: &TokenRecord, requested: Option<u64>) -> Option<u64> {
    match requested {
        None => record.ttl_seconds,
        Some(0) => None,
        Some(t) => Some(t),
    }
}

/// The steps for one source, or a refusal naming the cluster when a reader has no remote
/// secret (the join is not complete: rotating would leave that reader without access).
/// `ttl` is `--token-ttl` in seconds (see [`wanted_ttl`]): a change of mode starts a rotation.
pub fn plan_source(
    o: &Observed,
    again: bool,
    ttl: Option<u64>,
    now: &str,
) -> Result<SourcePlan, Error> {
    if let Some((r, _)) = o.readers.iter().find(|(_, e)| *e == Embedded::Missing) {
        return Err(Error::input(
            format!(
                "cluster '{r}' has no remote secret for '{}' (istio-system/istio-remote-secret-{}): the join is not complete",
                o.source, o.source
            ),
            "run kubectl mesh-join -f FILE first; nothing was written",
        ));
    }
    let wanted = wanted_ttl(&o.record, ttl);
    let switch = wanted != o.record.ttl_seconds;
    // A short-lived token past half its life (or not bound to the current anchor) is renewed
    // as a new generation: a new anchor, and the old one deleted once every istiod synced, so
    // the renewal also revokes, restarts an istiod older than 1.30.4 and resumes like any other.
    let renew =
        o.record.ttl_seconds.is_some() && o.readers.iter().any(|(_, e)| *e == Embedded::Other);
    // The join's long-lived token is rotated on the first run; the join's short-lived ones
    // (`mesh-join --token-ttl`) are renewed like any other generation's.
    let joins_token = o.record.generation == 0 && o.record.ttl_seconds.is_none();
    let start =
        !o.record.in_progress() && (again || switch || renew || joins_token || !o.current_exists);
    let record = if start {
        o.record.next(now, wanted)
    } else {
        o.record.clone()
    };
    if !start && !record.in_progress() {
        let stale: Vec<String> = o
            .readers
            .iter()
            .filter(|(_, e)| *e != Embedded::Current)
            .map(|(r, _)| r.clone())
            .collect();
        // Finished, and every remote secret embeds the current token: nothing to do. A remote
        // secret someone changed since is brought back to the current token (no revocation:
        // what it held was not ours).
        return Ok(SourcePlan {
            source: o.source.clone(),
            wait: stale.clone(),
            rewrite: stale,
            record,
            start: false,
            mint: false,
            revoke: None,
        });
    }
    let rewrite = o
        .readers
        .iter()
        .filter(|(_, e)| start || *e != Embedded::Current)
        .map(|(r, _)| r.clone())
        .collect();
    // At the start, the token being replaced is the record's current one.
    let replaced_exists = if start {
        o.current_exists
    } else {
        o.previous_exists
    };
    let revoke = record.previous.clone().filter(|_| replaced_exists);
    Ok(SourcePlan {
        source: o.source.clone(),
        mint: start || !o.current_exists,
        wait: o.readers.iter().map(|(r, _)| r.clone()).collect(),
        rewrite,
        revoke,
        record,
        start,
    })
}

/// One line per step of a source's plan, for `--dry-run` and progress.
pub fn describe(p: &SourcePlan) -> Vec<String> {
    let s = &p.source;
    if p.is_done() {
        let kind = match p.record.ttl_seconds {
            Some(t) => format!(
                "short-lived tokens of {} bound to {}, each with more than half its life left",
                crate::cli::format_duration(std::time::Duration::from_secs(t)),
                p.record.token
            ),
            None => format!("{}; every remote secret embeds it", p.record.token),
        };
        let when = match (p.record.generation, &p.record.finished) {
            (0, _) | (_, None) => "the join's generation 0".to_string(),
            (g, Some(t)) => format!("rotated to generation {g} at {t}"),
        };
        return vec![format!(
            "{s}: {when} ({kind}): nothing to do (--again rotates it once more)"
        )];
    }
    let mut out = Vec::new();
    if p.start {
        out.push(format!(
            "{s}: record the rotation to generation {} on istio-system/{}",
            p.record.generation,
            crate::labels::READER_SERVICE_ACCOUNT
        ));
    } else if p.record.in_progress() {
        out.push(format!(
            "{s}: resume the rotation to generation {} started at {}",
            p.record.generation, p.record.started
        ));
    }
    match (p.mint, p.record.ttl_seconds) {
        (true, None) => out.push(format!(
            "{s}: mint token Secret istio-system/{}",
            p.record.token
        )),
        (true, Some(_)) => out.push(format!(
            "{s}: create anchor Secret istio-system/{} (short-lived tokens are bound to it; deleting it revokes them)",
            p.record.token
        )),
        (false, _) => {}
    }
    if let (Some(t), false) = (p.record.ttl_seconds, p.rewrite.is_empty()) {
        out.push(format!(
            "{s}: mint a token valid for {} bound to istio-system/{} (TokenRequest)",
            crate::cli::format_duration(std::time::Duration::from_secs(t)),
            p.record.token
        ));
    }
    for r in &p.rewrite {
        out.push(format!(
            "{r}: rewrite istio-system/istio-remote-secret-{s} with the new token"
        ));
    }
    if !p.wait.is_empty() {
        out.push(format!(
            "{s}: wait until istiod in {} reports {s} synced",
            p.wait.join(", ")
        ));
    }
    if let Some(old) = &p.revoke {
        out.push(format!(
            "{s}: revoke token Secret istio-system/{old} (deleted)"
        ));
    }
    if p.record.in_progress() {
        out.push(format!("{s}: record the rotation as finished"));
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
