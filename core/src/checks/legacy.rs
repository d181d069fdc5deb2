//! A mesh still built the Istio 1.4–1.7 way ("replicated control planes", reference §8).

use super::{CheckId, CheckResult, ClusterFacts, Emit};

const MIGRATE: &str = "the .global scheme was removed in Istio 1.8-1.10: migrate to multi-primary (kubectl mesh-join -f mesh.yaml), then switch clients from <svc>.<ns>.global to <svc>.<ns>.svc.cluster.local and remove the *.global ServiceEntries, the CoreDNS 'global' stub and istiocoredns (docs/checks.md#legacyglobal-dns)";

pub(super) fn evaluate(facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let e = Emit::new(CheckId::LegacyGlobalDns);
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let c = Some(f.name.as_str());
        let mut found = Vec::new();
        let corefile = f
            .coredns
            .as_ref()
            .and_then(|c| c["data"]["Corefile"].as_str())
            .unwrap_or_default();
        if corefile
            .lines()
            .any(|l| l.trim_start().starts_with("global:53") || l.contains("global:53 {"))
        {
            found.push(
                "CoreDNS forwards the 'global' zone (stub domain for istiocoredns)".to_string(),
            );
        }
        if f.istiocoredns {
            found.push("istiocoredns runs in istio-system".to_string());
        }
        let global_entries: Vec<String> = f
            .service_entries
            .iter()
            .filter(|se| {
                se["spec"]["hosts"].as_array().is_some_and(|h| {
                    h.iter()
                        .any(|h| h.as_str().is_some_and(|h| h.ends_with(".global")))
                })
            })
            .map(|se| {
                format!(
                    "{}/{}",
                    se["metadata"]["namespace"].as_str().unwrap_or("?"),
                    se["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if !global_entries.is_empty() {
            let class_e = f.service_entries.iter().any(|se| {
                se["spec"]["addresses"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a.as_str().is_some_and(|a| a.starts_with("240.")))
                })
            });
            found.push(format!(
                "{} ServiceEntr{} for *.global hosts ({}{})",
                global_entries.len(),
                if global_entries.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                global_entries
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if class_e {
                    "; with 240.0.0.0/4 addresses"
                } else {
                    ""
                }
            ));
        }
        if found.is_empty() {
            out.push(e.pass(c, "no .global DNS, istiocoredns or *.global ServiceEntries"));
        } else {
            out.push(e.problem(
                c,
                format!(
                    "a legacy (Istio 1.4-1.7) multicluster setup is present: {}",
                    found.join("; ")
                ),
                MIGRATE,
            ));
        }
    }
}
