//! The traffic check (`--traffic`): helloworld v1 in the first cluster, v2 in the next, … and
//! curl in every cluster, in a temporary namespace with sidecar injection; N requests from each
//! cluster's curl; a matrix of which versions answered from where; cleanup unless `--keep`.
//! Manifests follow Istio's samples (reference §5.3–§5.4); images are overridable for
//! registries behind a firewall.

use super::{CheckId, CheckResult, Emit};
use crate::cluster::{ClusterError, Kube};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the traffic check runs.
#[derive(Debug, Clone)]
pub struct TrafficOptions {
    /// The temporary namespace.
    pub namespace: String,
    /// Requests from each cluster.
    pub requests: usize,
    /// How long to wait for the pods.
    pub timeout: Duration,
    /// Leave the namespace in place afterwards.
    pub keep: bool,
    /// Image of helloworld `vN`: `{version}` is replaced by `v1`, `v2`, ….
    pub helloworld_image: String,
    /// Image of the curl client.
    pub curl_image: String,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        TrafficOptions {
            namespace: "mesh-verify-traffic".into(),
            requests: 10,
            timeout: Duration::from_secs(120),
            keep: false,
            helloworld_image: HELLOWORLD_IMAGE.into(),
            curl_image: "docker.io/curlimages/curl:8.16.0".into(),
        }
    }
}

/// The helloworld image: upstream publishes v1 and v2 only and runs more versions from the v1
/// image with `SERVICE_VERSION` (what the app answers with) set.
pub const HELLOWORLD_IMAGE: &str = "registry.istio.io/release/examples-helloworld-v1:1.0";

/// The version cluster number `index` (0-based) serves.
pub fn version_of(index: usize) -> String {
    format!("v{}", index + 1)
}

/// The objects of the check in one cluster.
pub fn manifests(opts: &TrafficOptions, index: usize) -> Vec<Value> {
    let ns = &opts.namespace;
    let v = version_of(index);
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"istio-injection": "enabled", "app.kubernetes.io/managed-by": "kubectl-mesh"}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "helloworld", "namespace": ns, "labels": {"app": "helloworld", "service": "helloworld"}},
            "spec": {"ports": [{"port": 5000, "name": "http"}], "selector": {"app": "helloworld"}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("helloworld-{v}"), "namespace": ns, "labels": {"app": "helloworld", "version": v}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helloworld", "version": v}},
                "template": {"metadata": {"labels": {"app": "helloworld", "version": v}},
                    "spec": {"containers": [{"name": "helloworld", "image": opts.helloworld_image.replace("{version}", &v),
                        "env": [{"name": "SERVICE_VERSION", "value": v}],
                        "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 5000}], "resources": {"requests": {"cpu": "100m"}}}]}}}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "curl", "namespace": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "curl", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "curl"}},
                "template": {"metadata": {"labels": {"app": "curl"}},
                    "spec": {"terminationGracePeriodSeconds": 0, "serviceAccountName": "curl",
                        "containers": [{"name": "curl", "image": opts.curl_image, "command": ["/bin/sleep", "infinity"], "imagePullPolicy": "IfNotPresent"}]}}}}),
    ]
}

/// Counts the versions in helloworld's answers (`Hello version: v2, instance: …`).
pub fn tally(output: &str) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for line in output.lines() {
        if let Some(rest) = line.trim().strip_prefix("Hello version: ") {
            let v = rest
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            *t.entry(v).or_default() += 1;
        }
    }
    t
}

/// What one cluster's curl got: helloworld's versions counted, and curl's first error if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    pub versions: BTreeMap<String, usize>,
    pub curl_error: Option<String>,
}

/// Reads the curl pod's output: answers on stdout, curl's errors (`curl: (6) …`) on stderr.
pub fn answers(stdout: &str, stderr: &str) -> Answers {
    let curl_error = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string);
    Answers {
        versions: tally(stdout),
        curl_error,
    }
}

/// Judges the matrix: every cluster must have reached every cluster's version.
pub fn judge(
    clusters: &[String],
    matrix: &BTreeMap<String, Result<Answers, NoAnswers>>,
    requests: usize,
    out: &mut Vec<CheckResult>,
) {
    let e = Emit::new(CheckId::TrafficCrossCluster);
    let want: Vec<String> = (0..clusters.len()).map(version_of).collect();
    for c in clusters {
        let who = Some(c.as_str());
        match matrix.get(c) {
            None => out.push(e.skip(who, "not run")),
            Some(Err(why @ NoAnswers::NotSent(_))) => out.push(e.problem(who, why.to_string(), "kubectl exec -n mesh-verify-traffic deploy/curl -- true (rerun with --keep to inspect); the API server must reach the node's kubelet to exec")),
            Some(Err(why @ NoAnswers::Workloads(_))) => out.push(e.problem(who, why.to_string(), "kubectl get pods -n mesh-verify-traffic -o wide (rerun with --keep to inspect); pods need nodes, image pulls and sidecar injection")),
            Some(Ok(a)) => {
                let t = &a.versions;
                let row = want.iter().map(|v| format!("{v}:{}", t.get(v).copied().unwrap_or(0))).collect::<Vec<_>>().join(" ");
                let missing: Vec<String> = want
                    .iter()
                    .zip(clusters)
                    .filter(|(v, _)| t.get(*v).copied().unwrap_or(0) == 0)
                    .map(|(v, owner)| format!("{v} ({owner})"))
                    .collect();
                if missing.is_empty() {
                    out.push(e.pass(who, format!("{requests} requests from {c} reached every cluster: {row}")));
                } else {
                    out.push(e.problem(
                        who,
                        format!(
                            "{requests} requests from {c}: {row}; never answered by {}{}",
                            missing.join(", "),
                            a.curl_error.as_ref().map(|e| format!("; curl said: {e}")).unwrap_or_default()
                        ),
                        "traffic stays in its cluster: check the remote-access and network checks (remote secrets, east-west gateway, cross-network Gateway)",
                    ));
                }
            }
        }
    }
}

async fn pods_ready(kube: &Kube, ns: &str) -> Result<Result<String, String>, ClusterError> {
    let pods = kube.list("v1", "Pod", Some(ns), None).await?;
    let mut curl = None;
    let mut waiting = Vec::new();
    for app in ["curl", "helloworld"] {
        let mine: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == app)
            .collect();
        let ready = mine.iter().find(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
        match ready {
            Some(p) => {
                if app == "curl" {
                    curl = p["metadata"]["name"].as_str().map(String::from);
                }
            }
            None => waiting.push(match mine.first() {
                None => format!(
                    "no {app} pod exists yet (is a controller manager and a scheduler running?)"
                ),
                Some(p) => format!(
                    "{} is {}{}",
                    p["metadata"]["name"].as_str().unwrap_or(app),
                    p["status"]["phase"].as_str().unwrap_or("Pending"),
                    p["status"]["conditions"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["status"] == "False"))
                        .and_then(|c| c["message"].as_str())
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
            }),
        }
    }
    Ok(match (curl, waiting.is_empty()) {
        (Some(c), true) => Ok(c),
        _ => Err(waiting.join("; ")),
    })
}

/// Why a cluster has no answers to tally; each has its own hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoAnswers {
    /// The workloads are not there to send from (not deployed, pods not Ready).
    #[error("{0}")]
    Workloads(String),
    /// The requests were not sent: the exec into the curl pod failed or never ran.
    #[error("the requests were not sent: {0}")]
    NotSent(String),
}

/// What the curl pod printed: helloworld's answers on stdout, curl's errors on stderr.
#[derive(Debug)]
struct Sent {
    stdout: String,
    stderr: String,
}

async fn exec_requests(kube: &Kube, ns: &str, pod: &str, n: usize) -> Result<Sent, NoAnswers> {
    use tokio::io::AsyncReadExt;
    let script = format!(
        "for i in $(seq {n}); do curl -sS --max-time 5 helloworld.{ns}:5000/hello; echo; done"
    );
    let mut proc = kube
        .exec(ns, pod, "curl", vec!["sh", "-c", &script])
        .await
        .map_err(|e| {
            NoAnswers::NotSent(format!(
                "exec into {ns}/{pod}: {}",
                crate::cluster::sentence(&e)
            ))
        })?;
    let status = proc.take_status();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let Some(mut s) = proc.stdout() {
        s.read_to_string(&mut stdout).await.map_err(|e| {
            NoAnswers::NotSent(format!("exec into {ns}/{pod}: reading its output: {e}"))
        })?;
    }
    if let Some(mut s) = proc.stderr() {
        let _ = s.read_to_string(&mut stderr).await;
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let _ = proc.join().await;
    exec_outcome(ns, pod, status, Sent { stdout, stderr })
}

/// An exec whose status is not Success, or that ended without a status and printed nothing,
/// did not send the requests: that is its own failure, never "no answers".
fn exec_outcome(
    ns: &str,
    pod: &str,
    status: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
    sent: Sent,
) -> Result<Sent, NoAnswers> {
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => Ok(sent),
        Some(s) => Err(NoAnswers::NotSent(format!(
            "exec into {ns}/{pod} failed: {}",
            s.message.unwrap_or_else(|| s.reason.unwrap_or_default())
        ))),
        None if sent.stdout.trim().is_empty() && sent.stderr.trim().is_empty() => {
            Err(NoAnswers::NotSent(format!(
                "exec into {ns}/{pod} ended without a status or any \
                 output (the node's kubelet did not run it)"
            )))
        }
        None => Ok(sent),
    }
}

/// Runs the check on every cluster: deploy, wait, request, tally, clean up.
pub async fn run(kubes: &[(String, Kube)], opts: &TrafficOptions, out: &mut Vec<CheckResult>) {
    let names: Vec<String> = kubes.iter().map(|(n, _)| n.clone()).collect();
    let mut matrix: BTreeMap<String, Result<Answers, NoAnswers>> = BTreeMap::new();
    // Deploy everywhere first.
    for (i, (name, kube)) in kubes.iter().enumerate() {
        for m in manifests(opts, i) {
            if let Err(e) = kube.apply(&m, false).await {
                matrix.insert(
                    name.clone(),
                    Err(NoAnswers::Workloads(format!(
                        "cannot deploy the traffic workloads: {e}"
                    ))),
                );
                break;
            }
        }
    }
    // Wait for every cluster's pods.
    let deadline = Instant::now() + opts.timeout;
    let mut curl_pods: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut pending = Vec::new();
        for (name, kube) in kubes {
            if matrix.contains_key(name) || curl_pods.contains_key(name) {
                continue;
            }
            match pods_ready(kube, &opts.namespace).await {
                Ok(Ok(pod)) => {
                    curl_pods.insert(name.clone(), pod);
                }
                Ok(Err(why)) => pending.push((name.clone(), why)),
                Err(e) => {
                    matrix.insert(name.clone(), Err(NoAnswers::Workloads(e.to_string())));
                }
            }
        }
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for (name, why) in pending {
                matrix.insert(
                    name,
                    Err(NoAnswers::Workloads(format!(
                        "the traffic pods are not Ready after {}s: {why}",
                        opts.timeout.as_secs()
                    ))),
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Requests from each cluster's curl.
    for (name, kube) in kubes {
        if let Some(pod) = curl_pods.get(name) {
            let r = exec_requests(kube, &opts.namespace, pod, opts.requests)
                .await
                .map(|o| answers(&o.stdout, &o.stderr));
            matrix.insert(name.clone(), r);
        }
    }
    judge(&names, &matrix, opts.requests, out);
    if !opts.keep {
        for (_, kube) in kubes {
            let _ = kube
                .delete("v1", "Namespace", None, &opts.namespace, false)
                .await;
        }
    }
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
