//! istiod's own view of the mesh: `/debug/clusterz` on its monitoring port lists every remote
//! cluster with its sync status. Real clusters are reached through a port-forward to a
//! Running `app=istiod` pod (as `istioctl remote-clusters` does); a local istiod (the lab) is
//! reached directly. Both give a byte stream that carries the same HTTP request: this file is
//! the only place that knows the difference.

use super::{CheckId, CheckResult, Emit};
use crate::cluster::Kube;
use crate::labels::ISTIO_NAMESPACE;
use serde::Deserialize;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How to reach istiod's debug endpoints.
#[derive(Debug, Clone)]
pub enum IstiodAccess {
    /// Port-forward to a Running `app=istiod` pod's monitoring port (15014).
    PortForward,
    /// A local istiod at this `host:port` (its monitoring address).
    Direct(String),
}

/// One entry of `/debug/clusterz`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterzEntry {
    /// Cluster ID.
    pub id: String,
    /// `<ns>/<secret>` for remotes.
    #[serde(default)]
    pub secret_name: String,
    /// `synced`, `syncing`, `timeout`, `closed`.
    #[serde(default)]
    pub sync_status: String,
}

async fn http_get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
) -> Result<String, String> {
    let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: kubectl-mesh\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    stream
        .read_to_end(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    Ok(rest.to_string())
}

/// How to reach a cluster's istiod: the address given for it (`--istiod-address`, keyed by
/// the cluster's name or its context — the installed watch knows only its context), else a
/// port-forward to its first Running `app=istiod` pod of the facts (none: nothing to ask).
pub fn reach(
    addresses: &std::collections::BTreeMap<String, String>,
    f: &super::ClusterFacts,
) -> (IstiodAccess, Option<String>) {
    let access = match addresses.get(&f.name).or_else(|| addresses.get(&f.context)) {
        Some(a) => IstiodAccess::Direct(a.clone()),
        None => IstiodAccess::PortForward,
    };
    let running = f
        .pods_labelled("app", "istiod")
        .into_iter()
        .find(|p| p["status"]["phase"] == "Running")
        .and_then(|p| p["metadata"]["name"].as_str())
        .map(String::from);
    (access, running)
}

/// Fetches `/debug/clusterz` (through a port-forward to `running_pod`, a Running `app=istiod`
/// pod of the facts); `Ok(None)` when no istiod pod runs.
pub async fn clusterz(
    kube: &Kube,
    access: &IstiodAccess,
    running_pod: Option<&str>,
    timeout: Duration,
) -> Result<Option<Vec<ClusterzEntry>>, String> {
    debug_json(kube, access, running_pod, "/debug/clusterz", timeout).await
}

/// GETs one of istiod's debug endpoints on its monitoring port and parses its JSON (`null`
/// as an empty value); `Ok(None)` when no istiod pod runs.
pub async fn debug_json<T: serde::de::DeserializeOwned + Default>(
    kube: &Kube,
    access: &IstiodAccess,
    running_pod: Option<&str>,
    path: &str,
    timeout: Duration,
) -> Result<Option<T>, String> {
    let fetch = async {
        let body = match access {
            IstiodAccess::Direct(addr) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("{addr}: {e}"))?;
                http_get(stream, path).await?
            }
            IstiodAccess::PortForward => {
                let Some(name) = running_pod else {
                    return Ok(None);
                };
                let forwarded = kube.port_forward(ISTIO_NAMESPACE, name, &[15014]).await;
                let mut pf = forwarded.map_err(|e| {
                    format!(
                        "port-forward to pod {name}: {}",
                        crate::cluster::sentence(&e)
                    )
                })?;
                let stream = pf.take_stream(15014).ok_or("port-forward gave no stream")?;
                http_get(stream, path).await?
            }
        };
        serde_json::from_str::<Option<T>>(&body)
            .map(|v| Some(v.unwrap_or_default()))
            .map_err(|e| format!("{path} is not the expected JSON: {e}"))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("{path}: no answer within {}s", timeout.as_secs()))?
}

/// Judges one cluster's istiod view against the remotes it should read; `runs_istiod` is
/// false for a remote (its primary's istiod serves it).
pub fn evaluate(
    runs_istiod: bool,
    cluster: &str,
    context: &str,
    expected: &[String],
    view: &Result<Option<Vec<ClusterzEntry>>, String>,
    out: &mut Vec<CheckResult>,
) {
    let e = Emit::new(CheckId::IstiodRemoteClustersSynced);
    let c = Some(cluster);
    if !runs_istiod {
        out.push(e.not_applicable(
            c,
            "a remote runs no istiod: its primary's istiod reads the clusters",
        ));
        return;
    }
    match view {
        Err(err) => out.push(e.problem(
            c,
            format!("cannot read istiod's /debug/clusterz: {err}"),
            &format!(
                "check istiod: kubectl --context {context} -n {ISTIO_NAMESPACE} logs -l app=istiod"
            ),
        )),
        Ok(None) => out.push(e.problem(
            c,
            "no Running app=istiod pod to ask for /debug/clusterz",
            &format!("see control-plane.istiod-pods; kubectl --context {context} -n {ISTIO_NAMESPACE} get pods -l app=istiod"),
        )),
        Ok(Some(entries)) => {
            let mut bad = Vec::new();
            for want in expected {
                match entries.iter().find(|x| x.id == *want) {
                    None => bad.push(format!(
                        "{want} is unknown to istiod (no remote secret loaded)"
                    )),
                    Some(x) if x.sync_status != "synced" => {
                        bad.push(format!("{want} is {}", x.sync_status))
                    }
                    Some(_) => {}
                }
            }
            if bad.is_empty() {
                out.push(e.pass(
                    c,
                    format!("istiod reports {} remote cluster(s) synced", expected.len()),
                ));
            } else {
                out.push(e.problem(
                    c,
                    bad.join("; "),
                    "a remote that is not synced has credentials istiod cannot use (token revoked, wrong CA, unreachable server): run the remote-access checks; istiod's log names the cause",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_found_by_cluster_name_else_by_context() {
        let f = super::super::ClusterFacts {
            name: "east".into(),
            context: "in-cluster".into(),
            ..Default::default()
        };
        let by = |key: &str| [(key.to_string(), "istiod:15014".to_string())].into();
        for key in ["east", "in-cluster"] {
            let (access, _) = reach(&by(key), &f);
            assert!(
                matches!(access, IstiodAccess::Direct(a) if a == "istiod:15014"),
                "{key}"
            );
        }
        // Positive control: another cluster's address is not taken.
        let (access, _) = reach(&by("west"), &f);
        assert!(matches!(access, IstiodAccess::PortForward));
    }
}
