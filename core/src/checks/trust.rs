//! Trust: `cacerts` in every cluster, chains, one root, expiry, no root key, root ConfigMaps.

use super::{CheckResult, ClusterFacts, Emit, Selection};
use crate::app::trust::{ClusterTrust, RootConfigMaps, judge_trust};
use crate::ca::Severity;
use crate::ca::bundle::short;
use time::OffsetDateTime;

pub(super) fn evaluate(facts: &[ClusterFacts], sel: &Selection, out: &mut Vec<CheckResult>) {
    let present = Emit::new("trust.cacerts-present");
    let chain = Emit::new("trust.chain-valid");
    let expiry = Emit::new("trust.expiry");
    let root_key = Emit::new("trust.root-key-absent");
    let cms = Emit::new("trust.root-configmap");
    let now = OffsetDateTime::now_utc();
    let mut trusts = Vec::new();
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let c = Some(f.name.as_str());
        let apply = format!(
            "kubectl mesh-certs apply --cluster {} --context {}",
            f.name, f.context
        );
        let Some(bundle) = &f.cacerts else {
            out.push(present.problem(c, format!("no istio-system/cacerts in context {}: istiod would create its own self-signed root", f.context), &apply));
            for e in [&chain, &expiry, &root_key, &cms] {
                out.push(e.skip(c, "no cacerts"));
            }
            continue;
        };
        let report = bundle.analyze(&f.name, now, sel.warn_days);
        if report.missing.is_empty() {
            out.push(present.pass(
                c,
                "cacerts holds ca-cert.pem, ca-key.pem, root-cert.pem and cert-chain.pem",
            ));
        } else {
            out.push(present.problem(
                c,
                format!("cacerts lacks {}", report.missing.join(", ")),
                &format!("{apply} --force"),
            ));
        }
        if report.chains && report.key_matches {
            out.push(chain.pass(
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
            ));
        } else {
            let what = if !report.key_matches {
                "ca-key.pem is not the key of ca-cert.pem"
            } else {
                "ca-cert.pem does not chain to a root in root-cert.pem"
            };
            out.push(chain.problem(
                c,
                what,
                &format!(
                    "kubectl mesh-certs rotate --cluster {} --context {}",
                    f.name, f.context
                ),
            ));
        }
        let expiring: Vec<String> = report
            .problems
            .iter()
            .filter(|p| p.message.contains("expire") || p.message.contains("not valid before"))
            .map(|p| p.message.clone())
            .collect();
        if expiring.is_empty() {
            out.push(expiry.pass(
                c,
                format!(
                "intermediate valid for {} more days",
                report.intermediate.as_ref().map(|i| i.days_left).unwrap_or_default()
            ),
            ));
        } else {
            let expired = report
                .problems
                .iter()
                .any(|p| p.severity == Severity::Error && p.message.contains("expired"));
            let r = if expired {
                super::CheckResult {
                    result: super::Outcome::Fail,
                    ..expiry.problem(c, expiring.join("; "), "")
                }
            } else {
                expiry.problem(c, expiring.join("; "), "")
            };
            out.push(CheckResult {
                hint: format!(
                    "kubectl mesh-certs rotate --cluster {} --context {}",
                    f.name, f.context
                ),
                ..r
            });
        }
        if report.root_key_present {
            out.push(root_key.problem(c, "cacerts holds a ROOT private key: the root key must never leave the operator's disk", "issue an intermediate (kubectl mesh-certs create), apply it with --force, and treat the root as compromised"));
        } else {
            out.push(root_key.pass(c, "no root private key in cacerts"));
        }
        let maps = RootConfigMaps::compare(&f.root_config_maps, &report.roots);
        if maps.total == 0 {
            out.push(cms.skip(
                c,
                "no istio-ca-root-cert ConfigMaps yet (istiod writes them once it runs)",
            ));
        } else if maps.mismatched.is_empty() {
            out.push(cms.pass(
                c,
                format!(
                    "all {} istio-ca-root-cert ConfigMaps carry the cacerts roots",
                    maps.total
                ),
            ));
        } else {
            out.push(cms.problem(c, format!("{} of {} istio-ca-root-cert ConfigMaps differ from cacerts (e.g. in {})", maps.mismatched.len(), maps.total, maps.mismatched[0]), "restart istiod so it republishes the root: kubectl rollout restart deployment/istiod -n istio-system"));
        }
        trusts.push(ClusterTrust {
            cluster: f.name.clone(),
            context: f.context.clone(),
            present: true,
            cacerts: Some(report),
            root_config_maps: maps,
            local_root_matches: None,
        });
    }
    let shared = Emit::new("trust.shared-root");
    if trusts.is_empty() {
        out.push(shared.skip(None, "no cluster has a cacerts"));
        return;
    }
    let judged = judge_trust(&mut trusts, sel.local_root.clone());
    let mismatches: Vec<_> = judged
        .problems
        .iter()
        .filter(|p| p.message.contains("trusts root"))
        .collect();
    if mismatches.is_empty() && judged.shared_root {
        out.push(shared.pass(
            None,
            format!(
                "{} cluster(s) share root {}",
                trusts.len(),
                judged.mesh_root.as_deref().map(short).unwrap_or_default()
            ),
        ));
    } else if mismatches.is_empty() {
        out.push(shared.problem(
            None,
            "the clusters share no root",
            "kubectl mesh-certs status shows each cluster's roots",
        ));
    } else {
        for p in mismatches {
            out.push(shared.problem(Some(&p.subject), p.message.clone(), &p.hint));
        }
    }
}
