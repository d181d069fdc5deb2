//! Cross-cluster discovery as istiod sees it, one level above traffic: the network gateways it
//! knows (`/debug/networkz`) and the endpoints it holds per cluster for a Service
//! (`/debug/endpointShardz`). Both are istiod's own registry, so they fail exactly where
//! cross-cluster traffic would be dropped, without a running proxy. Pure: the views come in.

use super::{CheckId, CheckResult, Emit};
use crate::labels::{ISTIO_NAMESPACE, NETWORK_LABEL};
use crate::manifests::gateway::EAST_WEST;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One entry of `/debug/networkz` (istiod's `model.NetworkGateway`, field names as it writes them).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkGateway {
    /// The network the gateway leads into.
    #[serde(default)]
    pub network: String,
    /// The cluster whose Service it was found in.
    #[serde(default)]
    pub cluster: String,
    /// The address istiod sends cross-network traffic to.
    #[serde(default)]
    pub addr: String,
    /// Its port (15443 by default).
    #[serde(default)]
    pub port: u32,
}

/// One endpoint of a shard of `/debug/endpointShardz` (the fields these checks read).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ShardEndpoint {
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The network istiod assigned it (empty: istiod's own network).
    #[serde(default)]
    pub network: String,
}

/// The Service `--service NS/NAME` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceRef {
    /// Parses `NS/NAME` (both DNS labels).
    pub fn parse(s: &str) -> Result<ServiceRef, String> {
        let label = |v: &str| {
            !v.is_empty()
                && v.len() <= 63
                && v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !v.starts_with('-')
                && !v.ends_with('-')
        };
        match s.split_once('/') {
            Some((ns, name)) if label(ns) && label(name) => Ok(ServiceRef {
                namespace: ns.into(),
                name: name.into(),
            }),
            _ => Err(format!(
                "'{s}' is not NAMESPACE/NAME of a Service (lowercase DNS labels)"
            )),
        }
    }

    /// The host istiod keys it by (the default `cluster.local` domain).
    pub fn host(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The shards of one Service in an `/debug/endpointShardz` document: shard key
/// (`Kubernetes/<cluster>`) → endpoints. Absent Service: no shards.
pub fn shards_of(shardz: &Value, svc: &ServiceRef) -> BTreeMap<String, Vec<ShardEndpoint>> {
    let shards = &shardz[svc.host()][&svc.namespace]["Shards"];
    serde_json::from_value(shards.clone()).unwrap_or_default()
}

/// A cluster of the mesh as these checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Cluster name (cluster ID).
    pub name: String,
    /// Kube context.
    pub context: String,
    /// Its network, when known.
    pub network: Option<String>,
    /// The addresses its east-west gateway Service has now (load-balancer ingress and
    /// externalIPs); `None` when its facts could not be read.
    pub gateway_addresses: Option<Vec<String>>,
}

/// What a primary's istiod answered; `Ok(None)`: no Running istiod pod to ask.
pub type View<T> = Result<Option<T>, String>;

fn unreadable(
    e: &Emit,
    cluster: &str,
    context: &str,
    path: &str,
    view_err: Option<&str>,
) -> CheckResult {
    match view_err {
        Some(err) => e.problem(
            Some(cluster),
            format!("cannot read istiod's {path}: {err}"),
            &format!("check istiod: kubectl --context {context} -n {ISTIO_NAMESPACE} logs -l app=istiod"),
        ),
        None => e.problem(
            Some(cluster),
            format!("no Running app=istiod pod to ask for {path}"),
            &format!("see control-plane.istiod-pods; kubectl --context {context} -n {ISTIO_NAMESPACE} get pods -l app=istiod"),
        ),
    }
}

/// Why a gateway address cannot carry traffic from another cluster, if it cannot.
fn unroutable(addr: &str, allow_loopback: bool) -> Option<&'static str> {
    match addr.parse::<IpAddr>() {
        _ if addr.is_empty() => Some("no address"),
        Ok(ip) if ip.is_unspecified() => Some("an unspecified address"),
        Ok(ip) if ip.is_loopback() && !allow_loopback => Some("a loopback address"),
        _ => None,
    }
}

/// `discovery.network-gateways` for the istiod of `me` (a primary): every other network of
/// the mesh has a gateway istiod can send that network's endpoints through.
pub fn network_gateways(
    me: &Site,
    sites: &[Site],
    view: &View<Vec<NetworkGateway>>,
    allow_loopback: bool,
) -> CheckResult {
    let e = Emit::new(CheckId::DiscoveryNetworkGateways);
    let c = Some(me.name.as_str());
    let mut others: BTreeMap<&str, Vec<&Site>> = BTreeMap::new();
    for s in sites {
        if let Some(n) = s
            .network
            .as_deref()
            .filter(|n| Some(*n) != me.network.as_deref())
        {
            others.entry(n).or_default().push(s);
        }
    }
    if others.is_empty() {
        return e.not_applicable(
            c,
            "one network: endpoints are reached directly, no network gateway is needed",
        );
    }
    let gateways = match view {
        Ok(Some(g)) => g,
        Ok(None) => return unreadable(&e, &me.name, &me.context, "/debug/networkz", None),
        Err(err) => return unreadable(&e, &me.name, &me.context, "/debug/networkz", Some(err)),
    };
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (network, members) in &others {
        let known: Vec<&NetworkGateway> =
            gateways.iter().filter(|g| g.network == *network).collect();
        // Addresses the network's gateway Services have now (all of them, when all were read).
        let current: Option<Vec<&str>> = members
            .iter()
            .map(|s| s.gateway_addresses.as_ref())
            .collect::<Option<Vec<_>>>()
            .map(|l| l.into_iter().flatten().map(String::as_str).collect());
        let why = |g: &NetworkGateway| match unroutable(&g.addr, allow_loopback) {
            Some(w) => Some(w),
            None if g.port == 0 => Some("port 0"),
            None if current
                .as_ref()
                .is_some_and(|c| !c.contains(&g.addr.as_str())) =>
            {
                Some("stale: no gateway Service of that network has it now")
            }
            None => None,
        };
        let usable: Vec<String> = known
            .iter()
            .filter(|g| why(g).is_none())
            .map(|g| format!("{}:{}", g.addr, g.port))
            .collect();
        if !usable.is_empty() {
            good.push(format!("{network} via {}", usable.join(", ")));
            continue;
        }
        let found = known
            .iter()
            .map(|g| format!("{}:{} ({})", g.addr, g.port, why(g).unwrap_or_default()))
            .collect::<Vec<_>>();
        let clusters = members
            .iter()
            .map(|s| format!("'{}' (context {})", s.name, s.context))
            .collect::<Vec<_>>();
        bad.push((network.to_string(), found, clusters));
    }
    if bad.is_empty() {
        return e.pass(c, format!("istiod routes to {}", good.join("; ")));
    }
    let message = bad
        .iter()
        .map(|(n, found, _)| match found.is_empty() {
            true => format!("istiod knows no gateway for network {n}: its endpoints are dropped"),
            false => format!(
                "istiod's gateway for network {n} is unusable: {}",
                found.join(", ")
            ),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let hint = bad
        .iter()
        .map(|(n, _, clusters)| format!(
            "in {}: Service {ISTIO_NAMESPACE}/{EAST_WEST} needs label {NETWORK_LABEL}={n}, port 15443 and a routable address (a load-balancer ingress, or eastWestAddress in the mesh file, rendered as externalIPs)",
            clusters.join(", ")
        ))
        .collect::<Vec<_>>()
        .join("; ");
    e.problem(c, message, &hint)
}

/// What a cluster holds of the Service: whether it has the Service, its Ready pods (by the
/// Service's selector, from whichever cluster has it) and ready EndpointSlice addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Presence {
    /// The Service exists there.
    pub service: bool,
    /// Ready pods matching its selector.
    pub ready_pods: usize,
    /// Ready addresses in its EndpointSlices.
    pub ready_addresses: usize,
}

impl Presence {
    /// The cluster runs the Service's workloads (pods, or endpoints of a selector-less one).
    pub fn runs(&self) -> bool {
        self.ready_pods > 0 || self.ready_addresses > 0
    }
}

/// What each cluster holds of the Service, or why it could not be read.
pub type Running = [(Site, Result<Presence, String>)];

/// `discovery.endpoints` for the istiod of `me`: for `svc`, istiod holds endpoints from every
/// cluster it reads (`reads`, itself included) that runs the Service, and with several networks
/// each carries its cluster's network (so istiod sends it through that network's gateway).
pub fn endpoints(
    me: &Site,
    reads: &[Site],
    svc: &ServiceRef,
    running: &Running,
    view: &View<BTreeMap<String, Vec<ShardEndpoint>>>,
) -> CheckResult {
    let e = Emit::new(CheckId::DiscoveryEndpoints);
    let c = Some(me.name.as_str());
    if let Some((s, Err(err))) = running.iter().find(|(_, r)| r.is_err()) {
        return e.problem(
            c,
            format!("cannot tell whether '{}' runs {svc}: {err}", s.name),
            &format!(
                "kubectl --context {} -n {} get service,endpointslices,pods",
                s.context, svc.namespace
            ),
        );
    }
    let presence = |name: &str| {
        running
            .iter()
            .find(|(s, _)| s.name == name)
            .and_then(|(_, r)| r.as_ref().ok().copied())
            .unwrap_or_default()
    };
    let runs: Vec<&Site> = running
        .iter()
        .filter(|(s, _)| presence(&s.name).runs())
        .map(|(s, _)| s)
        .collect();
    if runs.is_empty() {
        return e.problem(
            c,
            format!("{svc} has no Ready pods or endpoints in any cluster of the mesh"),
            "deploy it (or name another Service with --service NAMESPACE/NAME), then verify again",
        );
    }
    let expected: Vec<&Site> = runs
        .into_iter()
        .filter(|s| reads.iter().any(|r| r.name == s.name))
        .collect();
    if expected.is_empty() {
        return e.not_applicable(
            c,
            format!("{svc} runs only in clusters this istiod does not read"),
        );
    }
    let shards = match view {
        Ok(Some(s)) => s,
        Ok(None) => return unreadable(&e, &me.name, &me.context, "/debug/endpointShardz", None),
        Err(err) => {
            return unreadable(
                &e,
                &me.name,
                &me.context,
                "/debug/endpointShardz",
                Some(err),
            );
        }
    };
    let networks: std::collections::BTreeSet<&str> =
        reads.iter().filter_map(|s| s.network.as_deref()).collect();
    let (mut bad, mut good) = (Vec::new(), Vec::new());
    for s in expected {
        let held = shards
            .get(&format!("Kubernetes/{}", s.name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if held.is_empty() {
            let p = presence(&s.name);
            bad.push(match p.service {
                true => format!("no endpoints from '{}'", s.name),
                false => format!("no endpoints from '{}', which runs {} Ready pod(s) of it but has no such Service", s.name, p.ready_pods),
            });
            continue;
        }
        let want = s.network.as_deref().filter(|_| networks.len() > 1);
        if let Some(w) = want
            && let Some(ep) = held.iter().find(|ep| ep.network != w)
        {
            let got = if ep.network.is_empty() {
                "no network".to_string()
            } else {
                format!("network '{}'", ep.network)
            };
            bad.push(format!("endpoints from '{}' carry {got} instead of '{w}' (routed directly, not through its gateway)", s.name));
            continue;
        }
        good.push(format!("{} ({})", s.name, held.len()));
    }
    if bad.is_empty() {
        return e.pass(
            c,
            format!("istiod holds endpoints of {svc} from {}", good.join(", ")),
        );
    }
    e.problem(
        c,
        format!("{svc}: {}", bad.join("; ")),
        &format!(
            "a missing cluster: the Service must exist in every cluster that runs its pods, and istiod must read that cluster (istiod.remote-clusters-synced); a wrong network: label namespace {ISTIO_NAMESPACE} of that cluster with {NETWORK_LABEL}"
        ),
    )
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
