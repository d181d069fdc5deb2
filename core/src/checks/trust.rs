//! Trust: `cacerts` in every cluster, chains, one root, expiry, no root key, root ConfigMaps.
//! Decisions are pure functions of the bundles and the injected `now`; problems are kinds.

use super::{CheckId, CheckResult, ClusterFacts, Emit, LocalRoot, RootConfigMaps, Selection};
use crate::ca::bundle::short;
use crate::ca::{Bundle, CertInfo};
use time::OffsetDateTime;

/// Why a certificate's validity is a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Validity {
    /// Past `notAfter`.
    Expired { what: String, on: String },
    /// Before `notBefore`.
    NotYetValid { what: String, from: String },
    /// Ends within the warning window.
    Expiring { what: String, days: i64, on: String },
}

/// The validity problem of one certificate as of `now`, if any.
pub(super) fn validity(
    what: &str,
    info: &CertInfo,
    now: OffsetDateTime,
    warn_days: i64,
) -> Option<Validity> {
    let what = what.to_string();
    if info.not_after_time.is_some_and(|t| t <= now) {
        Some(Validity::Expired {
            what,
            on: info.not_after.clone(),
        })
    } else if info.not_before_time.is_some_and(|t| t > now) {
        Some(Validity::NotYetValid {
            what,
            from: info.not_before.clone(),
        })
    } else {
        let days = info
            .not_after_time
            .map(|t| (t - now).whole_days())
            .unwrap_or(info.days_left);
        (days < warn_days).then(|| Validity::Expiring {
            what,
            days,
            on: info.not_after.clone(),
        })
    }
}

impl Validity {
    fn describe(&self) -> String {
        match self {
            Validity::Expired { what, on } => format!("{what} expired on {on}"),
            Validity::NotYetValid { what, from } => format!("{what} is not valid before {from}"),
            Validity::Expiring { what, days, on } => {
                format!("{what} expires in {days} days (on {on})")
            }
        }
    }

    fn breaks(&self) -> bool {
        !matches!(self, Validity::Expiring { .. })
    }
}

pub(super) fn roots(bundle: &Bundle, now: OffsetDateTime) -> Vec<CertInfo> {
    let text = bundle
        .get("root-cert.pem")
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default();
    crate::ca::pem::certificates(std::path::Path::new("root-cert.pem"), text)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| crate::ca::describe::describe(d, now))
        .collect()
}

/// Which cluster trusts the mesh root: `Ok(root)` when one root is common to all (and equal
/// to the local root when there is one), else the clusters that do not trust it.
pub(super) fn shared_root(
    sets: &[(String, Vec<String>)],
    local: Option<&str>,
) -> Result<String, (Option<String>, Vec<String>)> {
    let common = sets
        .iter()
        .flat_map(|(_, s)| s.iter())
        .find(|fp| sets.iter().all(|(_, s)| s.contains(fp)))
        .cloned();
    let mesh = match local {
        Some(l) => Some(l.to_string()),
        None => common.clone().or_else(|| {
            let mut counts = std::collections::BTreeMap::<&String, usize>::new();
            for fp in sets.iter().flat_map(|(_, s)| s.iter()) {
                *counts.entry(fp).or_default() += 1;
            }
            counts
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(fp, _)| fp.clone())
        }),
    };
    let outside: Vec<String> = sets
        .iter()
        .filter(|(_, s)| mesh.as_ref().is_none_or(|m| !s.contains(m)))
        .map(|(c, _)| c.clone())
        .collect();
    match mesh {
        Some(m) if outside.is_empty() => Ok(m),
        m => Err((m, outside)),
    }
}

pub(super) fn evaluate(facts: &[ClusterFacts], sel: &Selection, out: &mut Vec<CheckResult>) {
    let mut sets = Vec::new();
    for f in facts.iter().filter(|f| f.error.is_none()) {
        if let Some(roots) = cluster(f, sel, out) {
            sets.push((f.name.clone(), roots));
        }
    }
    shared(facts, &sets, sel, out);
}

/// The per-cluster checks; the cluster's root fingerprints when it has a cacerts.
fn cluster(f: &ClusterFacts, sel: &Selection, out: &mut Vec<CheckResult>) -> Option<Vec<String>> {
    let present = Emit::new(CheckId::TrustCacertsPresent);
    let c = Some(f.name.as_str());
    let apply = format!(
        "kubectl mesh-certs apply --cluster {} --context {}",
        f.name, f.context
    );
    let rotate = format!(
        "kubectl mesh-certs rotate --cluster {} --context {}",
        f.name, f.context
    );
    let Some(bundle) = &f.cacerts else {
        out.push(present.problem(c, format!("no istio-system/cacerts in context {}: istiod would create its own self-signed root", f.context), &apply));
        return None;
    };
    let report = bundle.analyze(&f.name, sel.now, sel.warn_days);
    out.push(if report.missing.is_empty() {
        present.pass(
            c,
            "cacerts holds ca-cert.pem, ca-key.pem, root-cert.pem and cert-chain.pem",
        )
    } else {
        present.problem(
            c,
            format!("cacerts lacks {}", report.missing.join(", ")),
            &format!("{apply} --force"),
        )
    });
    let chain = Emit::new(CheckId::TrustChainValid);
    out.push(match (report.chains, report.key_matches) {
        (true, true) => chain.pass(
            c,
            format!(
                "{} chains to root {}",
                report
                    .intermediate
                    .as_ref()
                    .map(|i| i.subject.as_str())
                    .unwrap_or("the intermediate"),
                report.roots.first().map(|r| short(r)).unwrap_or_default()
            ),
        ),
        (_, false) => chain.problem(c, "ca-key.pem is not the key of ca-cert.pem", &rotate),
        (false, true) => chain.problem(
            c,
            "ca-cert.pem does not chain to a root in root-cert.pem",
            &rotate,
        ),
    });
    out.push(expiry(f, bundle, &report, sel, &rotate));
    let root_key = Emit::new(CheckId::TrustRootKeyAbsent);
    out.push(if report.root_key_present {
        root_key.problem(c, "cacerts holds a ROOT private key: the root key must never leave the operator's disk", "issue an intermediate (kubectl mesh-certs create), apply it with --force, and treat the root as compromised")
    } else {
        root_key.pass(c, "no root private key in cacerts")
    });
    let cms = Emit::new(CheckId::TrustRootConfigmap);
    let maps = RootConfigMaps::compare(&f.root_config_maps, &report.roots);
    out.push(if maps.total == 0 {
        cms.problem(c, "no istio-ca-root-cert ConfigMap in any namespace: istiod has not published the root (is it running?)", &format!("kubectl --context {} -n istio-system get pods -l app=istiod", f.context))
    } else if maps.mismatched.is_empty() {
        cms.pass(c, format!("all {} istio-ca-root-cert ConfigMaps carry the cacerts roots", maps.total))
    } else {
        cms.problem(c, format!("{} of {} istio-ca-root-cert ConfigMaps differ from cacerts (e.g. in {})", maps.mismatched.len(), maps.total, maps.mismatched[0]), "restart istiod so it republishes the root: kubectl rollout restart deployment/istiod -n istio-system")
    });
    Some(report.roots)
}

fn shared(
    facts: &[ClusterFacts],
    sets: &[(String, Vec<String>)],
    sel: &Selection,
    out: &mut Vec<CheckResult>,
) {
    let e = Emit::new(CheckId::TrustSharedRoot);
    if let LocalRoot::Missing { folder } = &sel.local_root {
        out.push(e.problem(None, format!("the mesh file names the certs folder {folder}, which holds no root-cert.pem: the clusters' roots cannot be compared with the mesh's"), "fix certs: in the mesh file, or create the root there: kubectl mesh-certs create"));
        return;
    }
    if sets.is_empty() {
        out.push(e.skip(None, "no cluster has a cacerts (see trust.cacerts-present)"));
        return;
    }
    let local = match &sel.local_root {
        LocalRoot::Root(r) => Some(r.as_str()),
        _ => None,
    };
    let whose = if local.is_some() {
        "the local root of the certs folder"
    } else {
        "the other clusters' root"
    };
    match shared_root(sets, local) {
        Ok(root) => out.push(e.pass(
            None,
            format!(
                "{} cluster(s) share root {}{}",
                sets.len(),
                short(&root),
                if local.is_some() {
                    ", the local root"
                } else {
                    ""
                }
            ),
        )),
        Err((mesh, outside)) => {
            for name in outside {
                let context = facts
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.context.as_str())
                    .unwrap_or_default();
                let theirs = sets
                    .iter()
                    .find(|(c, _)| *c == name)
                    .map(|(_, s)| s.iter().map(|r| short(r)).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                out.push(e.problem(Some(&name), format!("cacerts in context {context} trusts root {theirs}, not {whose} {}: workloads here and elsewhere will fail mTLS with each other", mesh.as_deref().map(short).unwrap_or_default()), &format!("apply the mesh's intermediate: kubectl mesh-certs apply --cluster {name} --context {context} (a cluster in service needs a staged root rotation: docs/root-rotation.md)")));
            }
        }
    }
}

/// `trust.expiry` for one bundle: the intermediate and every root, as of `sel.now`.
fn expiry(
    f: &ClusterFacts,
    bundle: &Bundle,
    report: &crate::ca::BundleReport,
    sel: &Selection,
    rotate: &str,
) -> CheckResult {
    let expiry = Emit::new(CheckId::TrustExpiry);
    let c = Some(f.name.as_str());
    let root_infos = roots(bundle, sel.now);
    let found: Vec<Validity> = report
        .intermediate
        .iter()
        .map(|i| ("the intermediate", i))
        .chain(root_infos.iter().map(|r| ("a root", r)))
        .filter_map(|(what, i)| {
            validity(
                &format!("{what} ({})", short(&i.sha256)),
                i,
                sel.now,
                sel.warn_days,
            )
        })
        .collect();
    let text = found
        .iter()
        .map(Validity::describe)
        .collect::<Vec<_>>()
        .join("; ");
    if report.intermediate.is_none() {
        expiry.fail(
            c,
            "ca-cert.pem holds no readable certificate: its validity cannot be observed",
            rotate,
        )
    } else if found.is_empty() {
        expiry.pass(
            c,
            format!(
                "intermediate valid for {} more days",
                report
                    .intermediate
                    .as_ref()
                    .and_then(|i| i.not_after_time)
                    .map(|t| (t - sel.now).whole_days())
                    .unwrap_or_default()
            ),
        )
    } else if found.iter().any(Validity::breaks) {
        expiry.fail(c, text, rotate)
    } else {
        expiry.problem(
            c,
            format!("{text}, within the {}-day warning window", sel.warn_days),
            rotate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cert(not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertInfo {
        CertInfo {
            subject: "CN=x".into(),
            issuer: "CN=r".into(),
            serial: "01".into(),
            key: "ECDSA P-256".into(),
            not_before: not_before.to_string(),
            not_after: not_after.to_string(),
            days_left: 0,
            sha256: "AA:BB".into(),
            is_ca: true,
            path_len: None,
            sans: vec![],
            not_after_time: Some(not_after),
            not_before_time: Some(not_before),
        }
    }

    #[test]
    fn validity_uses_the_injected_now() {
        let c = cert(
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-03-01 0:00 UTC),
        );
        assert_eq!(validity("i", &c, datetime!(2026-01-10 0:00 UTC), 30), None);
        assert!(matches!(
            validity("i", &c, datetime!(2026-02-10 0:00 UTC), 30),
            Some(Validity::Expiring { days: 19, .. })
        ));
        assert!(matches!(
            validity("i", &c, datetime!(2026-03-01 0:00 UTC), 30),
            Some(Validity::Expired { .. })
        ));
        assert!(matches!(
            validity("i", &c, datetime!(2025-12-31 0:00 UTC), 30),
            Some(Validity::NotYetValid { .. })
        ));
        assert!(
            !Validity::Expiring {
                what: "i".into(),
                days: 3,
                on: "x".into()
            }
            .breaks()
        );
    }

    #[test]
    fn shared_root_decisions() {
        let s = |c: &str, r: &[&str]| {
            (
                c.to_string(),
                r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            shared_root(&[s("a", &["R"]), s("b", &["R", "N"])], None),
            Ok("R".into())
        );
        assert_eq!(
            shared_root(&[s("a", &["R"]), s("b", &["R"]), s("c", &["F"])], None),
            Err((Some("R".into()), vec!["c".into()]))
        );
        assert_eq!(
            shared_root(&[s("a", &["R"]), s("b", &["R"])], Some("L")),
            Err((Some("L".into()), vec!["a".into(), "b".into()]))
        );
        assert_eq!(shared_root(&[s("a", &["L"])], Some("L")), Ok("L".into()));
    }
}
