//! A control plane installed without the Sail operator (`istioctl install`, Helm): there is no
//! `Istio/default` to read, so its values come from the `values` ConfigMap the istiod chart
//! renders for external tooling (`merged-values`; on primaries and remotes alike, whichever
//! installer ran the chart), else from `istio-sidecar-injector`'s `values` (what istiod
//! itself reads), and its readiness from istiod's Deployment. The result has the shape of an `Istio` resource
//! (`spec.values`, `spec.profile`, `spec.version`), so the checks read either the same way.

use crate::cluster::{ClusterError, Kube};
use crate::labels::{INSTALL_ANNOTATION, ISTIO_NAMESPACE};
use serde_json::{Value, json};

/// The ConfigMap the istiod chart renders its values into, for tools.
pub const VALUES_CONFIG_MAP: &str = "values";
/// The injector's ConfigMap, which carries the values istiod reads.
pub const INJECTOR_CONFIG_MAP: &str = "istio-sidecar-injector";

/// An `Istio`-shaped view of an installed control plane (pure). `None` without values.
/// `record`: the namespace's install record (`istioctl 1.31-dev sha256:…`), which names the
/// version; else the Deployment's version label.
pub fn synthesize(
    values_json: &str,
    deployment: Option<&Value>,
    record: Option<&str>,
) -> Option<Value> {
    let values: Value = serde_json::from_str(values_json).ok()?;
    let labels = deployment.map(|d| &d["metadata"]["labels"]);
    let version = record
        .and_then(|r| r.split(' ').nth(1))
        .or_else(|| labels.and_then(|l| l["app.kubernetes.io/version"].as_str()))
        .and_then(crate::istio_version::parse)
        .map(|(a, b, p)| match p {
            Some(p) => format!("v{a}.{b}.{p}"),
            None => format!("v{a}.{b}"),
        });
    let remote = values["istiodRemote"]["enabled"] == true
        || values["global"]["remotePilotAddress"]
            .as_str()
            .is_some_and(|a| !a.is_empty());
    let installer = record
        .and_then(|r| r.split(' ').next())
        .unwrap_or("an installer");
    let mut out = json!({
        "kind": "InstalledControlPlane",
        "installer": installer,
        "spec": {"values": values},
        "deployment": deployment.cloned().unwrap_or(Value::Null),
    });
    if let Some(v) = version {
        out["spec"]["version"] = json!(v);
    }
    if remote {
        out["spec"]["profile"] = json!("remote");
    }
    Some(out)
}

/// Reads the installed control plane of a cluster (`None`: no injector values there).
pub async fn read(kube: &Kube, namespace: Option<&Value>) -> Result<Option<Value>, ClusterError> {
    let ns = Some(ISTIO_NAMESPACE);
    let (values, injector, deployment) = futures::join!(
        kube.get("v1", "ConfigMap", ns, VALUES_CONFIG_MAP),
        kube.get("v1", "ConfigMap", ns, INJECTOR_CONFIG_MAP),
        kube.get("apps/v1", "Deployment", ns, "istiod"),
    );
    let text = match (values?, injector?) {
        (Some(v), _) => v["data"]["merged-values"].as_str().map(String::from),
        (None, Some(i)) => i["data"]["values"].as_str().map(String::from),
        (None, None) => None,
    };
    let Some(text) = text else {
        return Ok(None);
    };
    let record = namespace.and_then(|n| n["metadata"]["annotations"][INSTALL_ANNOTATION].as_str());
    Ok(synthesize(&text, deployment?.as_ref(), record))
}

/// Why istiod's Deployment is not available with every replica updated (`None`: it is).
pub fn deployment_not_ready(d: Option<&Value>) -> Option<String> {
    let Some(d) = d.filter(|d| !d.is_null()) else {
        return Some(format!(
            "Deployment {ISTIO_NAMESPACE}/istiod does not exist"
        ));
    };
    let s = &d["status"];
    let want = d["spec"]["replicas"].as_u64().unwrap_or(1);
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    let current = s["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64();
    if current && n("updatedReplicas") >= want && n("availableReplicas") >= want {
        return None;
    }
    Some(format!(
        "Deployment {ISTIO_NAMESPACE}/istiod: {} of {want} replica(s) available, {} updated{}",
        n("availableReplicas"),
        n("updatedReplicas"),
        if current {
            ""
        } else {
            " (the controller has not seen its latest spec)"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_is_ready_when_every_replica_is_updated_and_available() {
        assert!(deployment_not_ready(None).is_some_and(|w| w.contains("does not exist")));
        let d = |obs: i64, upd: u64, avail: u64| {
            json!({"metadata": {"generation": 2},
            "spec": {"replicas": 1}, "status": {"observedGeneration": obs, "updatedReplicas": upd, "availableReplicas": avail}})
        };
        assert_eq!(deployment_not_ready(Some(&d(2, 1, 1))), None);
        assert!(deployment_not_ready(Some(&d(2, 1, 0))).is_some_and(|w| w.contains("0 of 1")));
        assert!(deployment_not_ready(Some(&d(1, 1, 1))).is_some_and(|w| w.contains("latest spec")));
        assert!(deployment_not_ready(Some(&d(2, 0, 1))).is_some_and(|w| w.contains("0 updated")));
    }

    #[test]
    fn installed_values_read_like_an_istio_resource() {
        let values = r#"{"global": {"meshID": "mesh1", "network": "n1", "multiCluster": {"clusterName": "east"}}, "pilot": {"env": {"EXTERNAL_ISTIOD": "true"}}}"#;
        let dep = json!({"metadata": {"labels": {"app.kubernetes.io/version": "1.31.0-dev"}}});
        let p = synthesize(values, Some(&dep), Some("istioctl 1.31-dev sha256:aa")).unwrap();
        assert_eq!(p["spec"]["values"]["global"]["meshID"], "mesh1");
        assert_eq!(p["spec"]["version"], "v1.31");
        assert_eq!(p["installer"], "istioctl");
        assert!(p["spec"]["profile"].is_null());
        // No record: the Deployment's version label.
        let p = synthesize(values, Some(&dep), None).unwrap();
        assert_eq!(p["spec"]["version"], "v1.31.0");
        // A remote: the remote profile's values, and no Deployment.
        let remote = r#"{"global": {"remotePilotAddress": "198.18.1.1"}, "istiodRemote": {"enabled": true}}"#;
        let p = synthesize(remote, None, Some("helm 1.31.0-dev sha256:bb")).unwrap();
        assert_eq!(p["spec"]["profile"], "remote");
        assert!(p["deployment"].is_null());
        assert_eq!(synthesize("not json", None, None), None);
    }
}
