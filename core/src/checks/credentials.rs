//! `remote.credentials` for one pair: the remote secret's credentials authenticate, may list
//! what the reading istiod lists, and no more than a reader needs. What istiod lists depends on
//! its version: from 1.29 it also reads `configmaps` (its `istio` mesh config) in the cluster it
//! reads, which an older reader ClusterRole does not grant; such an istiod stays `syncing` with
//! `configmaps "istio" is forbidden` in its log, so the check names that cause instead.

use super::remote::PairFacts;
use super::{CheckId, CheckResult, ClusterFacts, Emit};
use crate::version_gates::{reader_lists_configmaps, version};

/// The version of the reading cluster's control plane (`Istio.spec.version`, else the
/// installed one's), as written there (`v1.31.0`).
pub(super) fn istiod_version(f: &ClusterFacts) -> Option<String> {
    f.control_plane()?["spec"]["version"]
        .as_str()
        .map(String::from)
}

/// Judges the credentials of `p`; `reader_istiod` is the reading istiod's version if known.
pub(super) fn judge(p: &PairFacts, reader_istiod: Option<&str>, recreate: &str) -> CheckResult {
    let creds = Emit::new(CheckId::RemoteCredentials);
    let c = Some(p.reader.as_str());
    let rebind = format!(
        "bind the reader ClusterRole again: kubectl mesh-join -f mesh.yaml --only {}",
        p.source
    );
    let a = match &p.auth {
        None => {
            let msg = format!("the credentials for {} were not tried", p.source);
            return creds.problem(c, msg, recreate);
        }
        Some(Err(e)) => {
            let msg = format!("the credentials for {} do not work: {e}", p.source);
            return creds.problem(c, msg, recreate);
        }
        Some(Ok(a)) => a,
    };
    if !(a.list_services && a.list_endpointslices) {
        let msg = format!(
            "{} authenticates as {} but may not list services and endpointslices in {}",
            p.reader, a.username, p.source
        );
        return creds.problem(c, msg, &rebind);
    }
    let needs_configmaps = reader_istiod
        .and_then(version)
        .is_some_and(reader_lists_configmaps);
    if needs_configmaps && !a.list_configmaps {
        let msg = format!(
            "{}'s istiod ({}) reads configmaps in {} (from 1.29), which {} may not list: it stays syncing (istiod's log: configmaps \"istio\" is forbidden)",
            p.reader,
            reader_istiod.unwrap_or_default(),
            p.source,
            a.username
        );
        let hint = format!(
            "the reader ClusterRole in {} predates 1.29: {rebind}, or upgrade its Istio base chart",
            p.source
        );
        return creds.problem(c, msg, &hint);
    }
    if a.create_secrets {
        let msg = format!(
            "{} reads {} as {}, which may also create secrets: more than a reader needs",
            p.reader, p.source, a.username
        );
        return creds.warn(
            c,
            msg,
            "use the istio-reader-service-account (least privilege) for remote secrets",
        );
    }
    creds.pass(
        c,
        format!(
            "authenticates to {} as {} with read access only",
            p.source, a.username
        ),
    )
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
