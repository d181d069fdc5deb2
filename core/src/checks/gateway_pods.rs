//! `network.eastwest-pods`: the east-west gateway runs. Its Service can have an address while
//! no pod stands behind it (the Deployment scaled to 0, a rollout stuck, pods created before
//! the injector served and so running `image: auto` without a proxy); then nothing crosses the
//! networks and every other gateway check still passes.

use super::{CheckId, CheckResult, ClusterFacts, Emit};
use crate::manifests::gateway::EAST_WEST;
use crate::rollout::{Rollout, rollout};
use serde_json::Value;

/// The annotation the sidecar injector sets on every pod it injected.
const INJECTED: &str = "sidecar.istio.io/status";

/// Judges the gateway's Deployment and pods of one cluster; `needed` as for its Service.
pub(super) fn eastwest_pods(f: &ClusterFacts, needed: bool) -> CheckResult {
    let e = Emit::new(CheckId::NetworkEastwestPods);
    let c = Some(f.name.as_str());
    if !needed {
        return e.not_applicable(c, "one network and no remotes: no east-west gateway needed");
    }
    let join = format!("kubectl mesh-join -f mesh.yaml --only {}", f.name);
    let Some(d) = &f.east_west_deployment else {
        return e.problem(c, format!("no Deployment istio-system/{EAST_WEST}"), &join);
    };
    let replicas = match rollout(d) {
        Rollout::Complete { replicas } => replicas,
        other => {
            let hint = format!(
                "kubectl --context {} -n istio-system rollout status deploy/{EAST_WEST} (and describe it); scaled to 0, scale it up or run {join}",
                f.context
            );
            return e.problem(
                c,
                format!("Deployment istio-system/{EAST_WEST}: {other}"),
                &hint,
            );
        }
    };
    let bare = uninjected(&f.pods_labelled("istio", "eastwestgateway"));
    if !bare.is_empty() {
        return e.problem(
            c,
            format!(
                "gateway pod(s) {} run without the injected proxy (created before the injector served)",
                bare.join(", ")
            ),
            &format!(
                "kubectl --context {} -n istio-system rollout restart deploy/{EAST_WEST} once istiod serves",
                f.context
            ),
        );
    }
    e.pass(
        c,
        format!("Deployment istio-system/{EAST_WEST}: {replicas} replica(s) of the current generation available, each with the injected proxy"),
    )
}

/// The pods (not being deleted) that the injector did not touch: no injection status, or a
/// container still asking for `image: auto`.
fn uninjected(pods: &[&Value]) -> Vec<String> {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            let auto = p["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["image"] == "auto");
            auto || !p["metadata"]["annotations"][INJECTED].is_string()
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[cfg(test)]
#[path = "gateway_pods_tests.rs"]
mod tests;
