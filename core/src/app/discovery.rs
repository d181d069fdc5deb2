//! `mesh-verify`'s discovery checks: what each primary's istiod holds for the other clusters.
//! Requests, in parallel: one `/debug/networkz` per primary in a multi-network mesh; with
//! `--service`, one `/debug/endpointShardz` per primary and per cluster a Service get, a Pod
//! list (by the Service's selector) and an EndpointSlice list.

use crate::checks::discovery::{
    self, NetworkGateway, Presence, ServiceRef, ShardEndpoint, Site, View,
};
use crate::checks::istiod;
use crate::checks::{self, CheckId, CheckResult, ClusterFacts, Member};
use crate::mesh::Role;
use crate::targets::Target;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What a primary's istiod answered.
#[derive(Debug, Default)]
struct Answers {
    networkz: Option<View<Vec<NetworkGateway>>>,
    shards: Option<View<BTreeMap<String, Vec<ShardEndpoint>>>>,
}

/// Everything the discovery checks need to know about the run.
pub(super) struct Scope<'a> {
    pub targets: &'a [Target],
    pub members: &'a [Member],
    pub facts: &'a [ClusterFacts],
    /// `(reader, read)` pairs: who reads whom.
    pub expected: &'a [(String, String)],
    pub istiod_addresses: &'a BTreeMap<String, String>,
    pub service: Option<&'a ServiceRef>,
    pub allow_loopback: bool,
    pub timeout: Duration,
}

fn sites(scope: &Scope) -> Vec<Site> {
    scope
        .facts
        .iter()
        .map(|f| Site {
            name: f.name.clone(),
            context: f.context.clone(),
            network: scope
                .members
                .iter()
                .find(|m| m.name == f.name)
                .and_then(|m| m.network.clone()),
            gateway_addresses: f.error.is_none().then(|| gateway_addresses(f)),
        })
        .collect()
}

/// What the cluster's east-west gateway Service offers now: load-balancer ingress (IP or
/// hostname) and externalIPs.
fn gateway_addresses(f: &ClusterFacts) -> Vec<String> {
    let Some(svc) = &f.east_west_service else {
        return Vec::new();
    };
    let ingress = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten();
    let lb = ingress.filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str()));
    let external = svc["spec"]["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str());
    lb.chain(external).map(String::from).collect()
}

/// The discovery results of every cluster.
pub(super) async fn results(scope: &Scope<'_>) -> Vec<CheckResult> {
    let sites = sites(scope);
    let networks: BTreeSet<&str> = sites.iter().filter_map(|s| s.network.as_deref()).collect();
    let multi = networks.len() > 1;
    let running = match scope.service {
        Some(svc) => running(scope, &sites, svc).await,
        None => Vec::new(),
    };
    let answers = futures::future::join_all(
        scope
            .targets
            .iter()
            .zip(scope.facts)
            .map(|(t, f)| ask(scope, t, f, multi)),
    )
    .await;
    let mut out = Vec::new();
    if scope.service.is_none() {
        out.push(discovery_skip(
            CheckId::DiscoveryEndpoints,
            None,
            "not asked: --service NAMESPACE/NAME (or --traffic --keep) names a Service whose endpoints to follow",
        ));
    }
    for ((f, me), a) in scope.facts.iter().zip(&sites).zip(answers) {
        if f.error.is_some() {
            continue;
        }
        if checks::role_of(scope.members, f) != Role::Primary {
            let why = "a remote runs no istiod: its primary's istiod holds its endpoints";
            out.push(discovery_skip(
                CheckId::DiscoveryNetworkGateways,
                Some(&me.name),
                why,
            ));
            continue;
        }
        let view = a.networkz.unwrap_or(Ok(Some(Vec::new())));
        out.push(discovery::network_gateways(
            me,
            &sites,
            &view,
            scope.allow_loopback,
        ));
        if let (Some(svc), Some(view)) = (scope.service, a.shards) {
            let reads: Vec<Site> = sites
                .iter()
                .filter(|s| {
                    s.name == me.name || scope.expected.contains(&(me.name.clone(), s.name.clone()))
                })
                .cloned()
                .collect();
            out.push(discovery::endpoints(me, &reads, svc, &running, &view));
        }
    }
    out
}

fn discovery_skip(id: CheckId, cluster: Option<&str>, why: &str) -> CheckResult {
    checks::Emit::new(id).not_applicable(cluster, why)
}

/// Asks a primary's istiod (a remote, or a cluster whose facts failed, is not asked).
async fn ask(scope: &Scope<'_>, target: &Target, f: &ClusterFacts, multi: bool) -> Answers {
    if f.error.is_some() || checks::role_of(scope.members, f) != Role::Primary {
        return Answers::default();
    }
    let (access, pod) = istiod::reach(scope.istiod_addresses, f);
    let (kube, t) = (&target.kube, scope.timeout);
    let networkz = async {
        match multi {
            true => {
                Some(istiod::debug_json(kube, &access, pod.as_deref(), "/debug/networkz", t).await)
            }
            false => None,
        }
    };
    let shards = async {
        let svc = scope.service?;
        let z: View<serde_json::Value> =
            istiod::debug_json(kube, &access, pod.as_deref(), "/debug/endpointShardz", t).await;
        Some(z.map(|v| v.map(|v| discovery::shards_of(&v, svc))))
    };
    let (networkz, shards) = futures::join!(networkz, shards);
    Answers { networkz, shards }
}

/// What each cluster holds of `svc`: the Service first (its selector names the pods to look
/// for everywhere, also where the Service is missing), then pods and EndpointSlices.
async fn running(
    scope: &Scope<'_>,
    sites: &[Site],
    svc: &ServiceRef,
) -> Vec<(Site, Result<Presence, String>)> {
    let pairs: Vec<_> = scope.targets.iter().zip(scope.facts).collect();
    let services = futures::future::join_all(pairs.iter().map(|(t, f)| async move {
        if let Some(e) = &f.error {
            return Err(format!("{} failed: {}", e.request, e.cause));
        }
        t.kube
            .get("v1", "Service", Some(&svc.namespace), &svc.name)
            .await
            .map_err(|e| e.to_string())
    }))
    .await;
    let selector = services
        .iter()
        .filter_map(|s| s.as_ref().ok().and_then(Option::as_ref))
        .find_map(|s| {
            s["spec"]["selector"]
                .as_object()
                .filter(|m| !m.is_empty())
                .cloned()
        })
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        });
    let presences =
        futures::future::join_all(pairs.iter().zip(services).map(|((t, _), service)| {
            let selector = selector.clone();
            async move {
                let service = service?.is_some();
                let ready_pods = match &selector {
                    Some(sel) => count_ready_pods(&t.kube, &svc.namespace, sel).await?,
                    None => 0,
                };
                let ready_addresses = count_ready_addresses(&t.kube, svc).await?;
                Ok(Presence {
                    service,
                    ready_pods,
                    ready_addresses,
                })
            }
        }))
        .await;
    sites.iter().cloned().zip(presences).collect()
}

async fn count_ready_pods(
    kube: &crate::cluster::Kube,
    ns: &str,
    selector: &str,
) -> Result<usize, String> {
    let pods = kube
        .list("v1", "Pod", Some(ns), Some(selector))
        .await
        .map_err(|e| e.to_string())?;
    Ok(pods
        .iter()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count())
}

async fn count_ready_addresses(
    kube: &crate::cluster::Kube,
    svc: &ServiceRef,
) -> Result<usize, String> {
    let selector = format!("kubernetes.io/service-name={}", svc.name);
    let slices = kube
        .list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            Some(&svc.namespace),
            Some(&selector),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|ep| ep["conditions"]["ready"] != false)
        .map(|ep| ep["addresses"].as_array().map_or(0, Vec::len))
        .sum())
}
