//! Waiting for what the Sail operator and the controllers do after we write: `Istio` (and
//! `IstioCNI`) Ready, the reader ServiceAccount the charts create, a gateway's address.

use crate::app::fleet::{Fleet, istio_api_version};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT};
use crate::manifests::{gateway, istio};
use crate::render::Printer;
use serde_json::Value;
use std::time::{Duration, Instant};

/// True when a Sail resource is Ready for its current generation ([`crate::readiness`]).
pub fn is_ready(resource: &Value) -> bool {
    crate::readiness::judge(resource) == crate::readiness::Judgement::Ready
}

/// Why a resource is not Ready ([`crate::readiness`]): a stale status, the first condition
/// that is not True, or that it has no status (no operator reconciled it).
pub fn not_ready_reason(resource: Option<&Value>) -> String {
    match resource {
        None => "it does not exist".into(),
        Some(r) => crate::readiness::judge(r).to_string(),
    }
}

/// Polls `check` for each cluster until every one answers `None` (done) or `timeout` passes;
/// returns the clusters still waiting with their last reason.
async fn wait_all<F, Fut>(
    names: &[String],
    timeout: Duration,
    mut check: F,
) -> Result<Vec<(String, String)>, Error>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<(String, String)> =
        names.iter().map(|n| (n.clone(), String::new())).collect();
    loop {
        let mut still = Vec::new();
        for (name, _) in pending {
            if let Some(reason) = check(name.clone()).await? {
                still.push((name, reason));
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() > deadline {
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits for `Istio/default` (and `IstioCNI/default` when the mesh wants CNI) to be Ready.
/// Returns the clusters not Ready in time, each with its last condition.
pub async fn wait_control_planes(
    fleet: &Fleet,
    names: &[String],
    cni: bool,
    timeout: Duration,
    printer: &Printer,
) -> Result<Vec<(String, String)>, Error> {
    printer.progress(&format!(
        "waiting up to {} for the control plane to be Ready in {} (the Sail operator reconciles it; --no-wait stops before this)",
        crate::cli::format_duration(timeout),
        names.join(", ")
    ));
    wait_all(names, timeout, |name| async move {
        let k = fleet.kube(&name)?;
        let api = istio_api_version(k).await?;
        let mut kinds = vec!["Istio"];
        if cni {
            kinds.push("IstioCNI");
        }
        for kind in kinds {
            let live = k.get(&api, kind, None, istio::CONTROL_PLANE_NAME).await?;
            if !live.as_ref().is_some_and(is_ready) {
                return Ok(Some(format!(
                    "{kind}/default: {}",
                    not_ready_reason(live.as_ref())
                )));
            }
        }
        printer.progress(&format!("{name}: control plane Ready"));
        Ok(None)
    })
    .await
}

/// One object per cluster, read and judged (`judge`: why it is not there yet, `None` when it
/// is) until every cluster's passes or `timeout` passes; `waiting` and `done` are the
/// progress lines. Returns the clusters still waiting, each with why.
struct Awaited<'a> {
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    judge: fn(Option<&Value>) -> Option<String>,
    waiting: &'a str,
    done: &'a str,
}

async fn wait_object(
    fleet: &Fleet,
    names: &[String],
    timeout: Duration,
    printer: &Printer,
    a: Awaited<'_>,
) -> Result<Vec<(String, String)>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    printer.progress(&format!(
        "waiting up to {} for {} in {}",
        crate::cli::format_duration(timeout),
        a.waiting,
        names.join(", ")
    ));
    let a = &a;
    wait_all(names, timeout, |name| async move {
        let k = fleet.kube(&name)?;
        let live = k.get(a.api_version, a.kind, a.namespace, a.name).await?;
        let why = (a.judge)(live.as_ref());
        if why.is_none() {
            printer.progress(&format!("{name}: {}", a.done));
        }
        Ok(why)
    })
    .await
}

/// Waits for istiod's Deployment (`--installer istioctl|helm`, primaries) to be available
/// with every replica updated. Returns the clusters not ready in time, each with why.
pub async fn wait_istiod_deployments(
    fleet: &Fleet,
    names: &[String],
    timeout: Duration,
    printer: &Printer,
) -> Result<Vec<(String, String)>, Error> {
    let awaited = Awaited {
        api_version: "apps/v1",
        kind: "Deployment",
        namespace: Some(ISTIO_NAMESPACE),
        name: "istiod",
        judge: crate::checks::installed::deployment_not_ready,
        waiting: "istiod's Deployment to be available",
        done: "istiod Deployment available",
    };
    wait_object(fleet, names, timeout, printer, awaited).await
}

/// Waits for the reader ServiceAccount (the control plane's charts create it).
pub async fn wait_reader_accounts(
    fleet: &Fleet,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<(String, String)>, Error> {
    wait_all(names, timeout, |name| async move {
        let k = fleet.kube(&name)?;
        let sa = k
            .get(
                "v1",
                "ServiceAccount",
                Some(ISTIO_NAMESPACE),
                READER_SERVICE_ACCOUNT,
            )
            .await?;
        Ok(sa.is_none().then(|| {
            format!("ServiceAccount {ISTIO_NAMESPACE}/{READER_SERVICE_ACCOUNT} does not exist")
        }))
    })
    .await
}

/// Waits for the injection webhook of each remote to carry its CA bundle
/// (`--installer istioctl|helm`: no operator reports such a remote Ready).
pub async fn wait_injector_ca_bundles(
    fleet: &Fleet,
    names: &[String],
    timeout: Duration,
    printer: &Printer,
) -> Result<Vec<(String, String)>, Error> {
    let awaited = Awaited {
        api_version: "admissionregistration.k8s.io/v1",
        kind: "MutatingWebhookConfiguration",
        namespace: None,
        name: super::injector::INJECTOR,
        judge: super::injector::missing_ca_bundle,
        waiting: "the injection webhook's CA bundle from the primary's istiod",
        done: "the injection webhook serves",
    };
    wait_object(fleet, names, timeout, printer, awaited).await
}

/// Waits for the east-west gateway Service to get a load-balancer address.
pub async fn wait_gateway_address(
    fleet: &Fleet,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<(String, String)>, Error> {
    wait_all(names, timeout, |name| async move {
        let k = fleet.kube(&name)?;
        let svc = k
            .get("v1", "Service", Some(ISTIO_NAMESPACE), gateway::EAST_WEST)
            .await?;
        let ingress = svc
            .as_ref()
            .map(|s| s["status"]["loadBalancer"]["ingress"][0].clone());
        let has = ingress.is_some_and(|i| i["ip"].is_string() || i["hostname"].is_string());
        Ok((!has).then(|| {
            format!(
                "Service {ISTIO_NAMESPACE}/{} has no load-balancer address",
                gateway::EAST_WEST
            )
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_true_is_ready_and_the_reason_names_the_failing_condition() {
        let ready = json!({"status": {"conditions": [
            {"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&ready));
        let scaled = json!({"status": {"conditions": [{"type": "Reconciled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "IstiodNotReady", "message": "istiod Deployment is scaled to zero replicas"}]}});
        assert!(!is_ready(&scaled));
        assert_eq!(
            not_ready_reason(Some(&scaled)),
            "Ready=False IstiodNotReady: istiod Deployment is scaled to zero replicas"
        );
        assert_eq!(
            not_ready_reason(Some(&json!({"spec": {}}))),
            "no status: no operator has reconciled it"
        );
        assert_eq!(not_ready_reason(None), "it does not exist");
        // A Ready left from the previous spec is not Ready.
        let mut stale = ready.clone();
        stale["metadata"] = json!({"generation": 2});
        stale["status"]["observedGeneration"] = json!(1);
        assert!(!is_ready(&stale));
        assert!(not_ready_reason(Some(&stale)).contains("generation 2"));
    }
}
