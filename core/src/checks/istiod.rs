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
use tokio::io::{AsyncRead, AsyncWrite};

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

/// GETs `path` over `stream` with HTTP/1.1 (hyper): the response ends where its framing says
/// (`Content-Length` or chunked), not when the peer closes, since a port-forward's stream can
/// stay open after istiod has answered.
async fn http_get<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    path: &str,
) -> Result<String, String> {
    use http_body_util::{BodyExt, Empty};
    use hyper::header::{CONNECTION, HOST, USER_AGENT};
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let request = hyper::Request::get(path)
        .header(HOST, "localhost")
        .header(USER_AGENT, "kubectl-mesh")
        .header(CONNECTION, "close")
        .body(Empty::<hyper::body::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, body))
    };
    tokio::pin!(exchange, conn);
    let answered = tokio::select! {
        biased;
        r = &mut exchange => r,
        c = &mut conn => match c {
            Ok(()) => exchange.await,
            Err(e) => Err(e),
        },
    };
    let (status, body) = answered.map_err(|e| format!("HTTP GET {path}: {e}"))?;
    if status != hyper::StatusCode::OK {
        return Err(format!("HTTP GET {path}: {status}"));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
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
    (access, pick_pod(f.pods_labelled("app", "istiod")))
}

/// The istiod pod to port-forward to: a Running one that is not being deleted, a Ready one
/// first (during a rollout the old pod is still Running while its process stops).
pub fn pick_pod<'a>(pods: impl IntoIterator<Item = &'a serde_json::Value>) -> Option<String> {
    let ready = |p: &serde_json::Value| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let mut live: Vec<&serde_json::Value> = pods
        .into_iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    live.sort_by_key(|p| !ready(p));
    live.first()
        .and_then(|p| p["metadata"]["name"].as_str())
        .map(String::from)
}

/// Where istiod was asked, for a check's message: `pod NAME, by port-forward` or the address.
pub fn asked(access: &IstiodAccess, running_pod: Option<&str>) -> String {
    match (access, running_pod) {
        (IstiodAccess::Direct(addr), _) => format!("at {addr}"),
        (IstiodAccess::PortForward, Some(pod)) => format!("pod {pod}, by port-forward"),
        (IstiodAccess::PortForward, None) => "no pod to port-forward to".into(),
    }
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
                let refused = pf.take_error(15014);
                match http_get(stream, path).await {
                    Ok(body) => body,
                    Err(e) => return Err(with_kubelet_reason(e, refused).await),
                }
            }
        };
        serde_json::from_str::<Option<T>>(&body)
            .map(|v| Some(v.unwrap_or_default()))
            .map_err(|e| format!("{path} is not the expected JSON: {e}"))
    };
    let asked = asked(access, running_pod);
    match tokio::time::timeout(timeout, fetch).await {
        Ok(r) => r.map_err(|e| format!("{e} ({asked})")),
        Err(_) => Err(format!(
            "{path}: no answer within {}s ({asked})",
            timeout.as_secs()
        )),
    }
}

/// A failed read through a port-forward, with what the kubelet said on the port's error
/// channel (why it could not forward), when it said something within a moment.
async fn with_kubelet_reason(
    e: String,
    refused: Option<impl std::future::Future<Output = Option<String>>>,
) -> String {
    let Some(refused) = refused else { return e };
    match tokio::time::timeout(Duration::from_secs(1), refused).await {
        Ok(Some(reason)) if !reason.trim().is_empty() => {
            format!(
                "{e}; the kubelet refused the port-forward: {}",
                reason.trim()
            )
        }
        _ => e,
    }
}

/// Judges one cluster's istiod view against the remotes it should read; `runs_istiod` is
/// false for a remote (its primary's istiod serves it).
pub fn evaluate(
    runs_istiod: bool,
    (cluster, context): (&str, &str),
    expected: &[String],
    (view, asked): (&Result<Option<Vec<ClusterzEntry>>, String>, &str),
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
                    format!(
                        "istiod reports {} remote cluster(s) synced ({asked})",
                        expected.len()
                    ),
                ));
            } else {
                out.push(e.problem(
                    c,
                    format!("{} ({asked})", bad.join("; ")),
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

    /// A server that answers `response` and then keeps the stream open (as a port-forward
    /// does when the kubelet keeps its side open); returns what the client sent.
    async fn answer_and_hold(response: &'static str) -> (Result<String, String>, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let serve = async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            server.write_all(response.as_bytes()).await.unwrap();
            (server, String::from_utf8(got).unwrap())
        };
        let get = tokio::time::timeout(Duration::from_secs(1), http_get(client, "/debug/clusterz"));
        let (got, (_held, request)) = tokio::join!(get, serve);
        (got.unwrap_or_else(|_| Err("hung".into())), request)
    }

    #[test]
    fn a_response_ends_by_its_framing_while_the_stream_stays_open() {
        crate::test_support::block_on(async {
            let (got, request) =
                answer_and_hold("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]").await;
            assert_eq!(got, Ok("[]".to_string()));
            assert!(
                request.starts_with("GET /debug/clusterz HTTP/1.1\r\n"),
                "{request}"
            );
            assert!(
                request.to_lowercase().contains("connection: close"),
                "{request}"
            );
            let (got, _) = answer_and_hold(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n",
            )
            .await;
            assert_eq!(got, Ok("[1]".to_string()));
            // Positive control: a body that its framing says is not complete is not taken.
            let (got, _) = answer_and_hold("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[]").await;
            assert_eq!(got, Err("hung".to_string()));
            let (got, _) =
                answer_and_hold("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    .await;
            assert_eq!(
                got,
                Err("HTTP GET /debug/clusterz: 503 Service Unavailable".to_string())
            );
        });
    }

    #[test]
    fn the_pod_asked_is_running_not_terminating_and_ready_first() {
        let pod = |name: &str, phase: &str, ready: bool, deleting: bool| {
            serde_json::json!({"metadata": {"name": name,
                "deletionTimestamp": if deleting { serde_json::json!("t") } else { serde_json::Value::Null }},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
        };
        let old = pod("istiod-old", "Running", true, true);
        let starting = pod("istiod-new", "Running", false, false);
        let ready = pod("istiod-ready", "Running", true, false);
        let pending = pod("istiod-pending", "Pending", false, false);
        assert_eq!(
            pick_pod([&old, &starting, &ready]).as_deref(),
            Some("istiod-ready")
        );
        assert_eq!(pick_pod([&old, &starting]).as_deref(), Some("istiod-new"));
        // Positive control: the terminating pod would be taken if it were not being deleted.
        let old_live = pod("istiod-old", "Running", true, false);
        assert_eq!(
            pick_pod([&starting, &old_live]).as_deref(),
            Some("istiod-old")
        );
        assert_eq!(pick_pod([&old, &pending]), None);
    }
}
