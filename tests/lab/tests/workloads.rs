//! Pods in the lab: a scheduler and kwok's fake nodes make Deployments and DaemonSets
//! available, with pod addresses from per-cluster ranges; a bare lab schedules nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::state::LabState;
use mesh_lab::testing::kubectl_json;
use mesh_lab::workloads::INFRA_LABEL;
use mesh_lab::{Lab, LabOptions};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const WORKLOADS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.invalid/web:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: demo}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: registry.invalid/agent:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: placed, namespace: demo}
spec:
  nodeSelector: {node-role.kubernetes.io/infra: ""}
  containers: [{name: placed, image: registry.invalid/placed:1}]
"#;

fn apply(lab: &Lab, ctx: &str, yaml: &str) {
    let mut child = lab
        .kubectl(ctx)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(yaml.as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("kubectl");
    assert!(out.status.success(), "{ctx}: apply: {}", text(&out));
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rollout(lab: &Lab, ctx: &str, what: &str, timeout: &str) -> Output {
    lab.kubectl(ctx)
        .args(["rollout", "status", "-n", "demo", what])
        .arg(format!("--timeout={timeout}"))
        .output()
        .expect("kubectl rollout status")
}

fn start(clusters: usize, workloads: bool) -> (Lab, tempfile::TempDir, Duration) {
    let temp = tempfile::Builder::new()
        .prefix("mesh-lab-")
        .tempdir()
        .expect("tmp");
    let mut options = LabOptions::new(clusters, temp.path());
    options.crds = false;
    options.workloads = workloads;
    let started = Instant::now();
    let lab = Lab::start(options).expect("lab");
    (lab, temp, started.elapsed())
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let (net, bits) = cidr.split_once('/').expect("CIDR");
    let bits: u32 = bits.parse().expect("prefix length");
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    let ip: Ipv4Addr = ip.parse().expect("pod IP");
    let net: Ipv4Addr = net.parse().expect("network");
    u32::from(ip) & mask == u32::from(net) & mask
}

fn items(lab: &Lab, ctx: &str, args: &[&str]) -> Vec<Value> {
    let list = kubectl_json(lab, ctx, args).expect("kubectl get");
    list["items"].as_array().expect("items").clone()
}

/// Node name → podCIDR.
fn node_cidrs(lab: &Lab, ctx: &str) -> Vec<(String, String)> {
    items(lab, ctx, &["get", "nodes"])
        .iter()
        .map(|n| {
            let name = n["metadata"]["name"].as_str().expect("name").to_string();
            (
                name,
                n["spec"]["podCIDR"].as_str().expect("podCIDR").to_string(),
            )
        })
        .collect()
}

/// Checks one cluster of the workloads lab; returns its pod IPs.
fn check_cluster(lab: &Lab, i: usize) -> BTreeSet<String> {
    let ctx = &lab.contexts()[i];
    for what in ["deployment/web", "daemonset/agent"] {
        let out = rollout(lab, ctx, what, "90s");
        assert!(out.status.success(), "{ctx}: {what}: {}", text(&out));
    }
    let deploy = kubectl_json(lab, ctx, &["get", "-n", "demo", "deployment", "web"]).unwrap();
    assert_eq!(deploy["status"]["availableReplicas"], 2, "{ctx}: {deploy}");
    let ds = kubectl_json(lab, ctx, &["get", "-n", "demo", "daemonset", "agent"]).unwrap();
    assert_eq!(ds["status"]["numberAvailable"], 2, "{ctx}: one per node");
    let cluster_cidr = mesh_lab::workloads::cluster_pod_cidr(i).unwrap();
    let nodes = node_cidrs(lab, ctx);
    assert_eq!(nodes.len(), 2, "{ctx}: {nodes:?}");
    let wait = ["wait", "-n", "demo", "--for=condition=Ready", "pod/placed"];
    let out = lab
        .kubectl(ctx)
        .args(wait)
        .arg("--timeout=60s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{ctx}: placed pod: {}", text(&out));
    let pods = items(lab, ctx, &["get", "pods", "-n", "demo"]);
    assert_eq!(pods.len(), 5, "{ctx}: 2 web, 2 agent, 1 placed");
    let mut ips = BTreeSet::new();
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let node = pod["spec"]["nodeName"].as_str().expect("scheduled");
        let ip = pod["status"]["podIP"].as_str().expect("pod IP");
        let (_, node_cidr) = nodes.iter().find(|(n, _)| n == node).expect("known node");
        assert!(
            in_cidr(ip, node_cidr),
            "{ctx}: {name} {ip} outside {node_cidr}"
        );
        assert!(
            in_cidr(ip, &cluster_cidr),
            "{ctx}: {name} {ip} outside {cluster_cidr}"
        );
        assert!(ips.insert(ip.to_string()), "{ctx}: {ip} given twice");
        assert_eq!(pod["status"]["phase"], "Running", "{ctx}: {name}");
        if name == "placed" {
            let n = kubectl_json(lab, ctx, &["get", "node", node]).unwrap();
            assert!(n["metadata"]["labels"].get(INFRA_LABEL).is_some(), "{node}");
            assert_eq!(node, format!("{ctx}-infra"));
        }
    }
    ips
}

#[test]
fn deployments_and_daemonsets_become_available_on_fake_nodes_and_a_bare_lab_runs_none() {
    // Positive: a lab with workloads.
    let (lab, _temp, up) = start(2, true);
    let memory = lab.memory_kib();
    let procs: Vec<(String, String, bool)> = LabState::load(lab.dir())
        .expect("state")
        .status()
        .into_iter()
        .map(|p| (p.cluster, p.name, p.running))
        .collect();
    for ctx in lab.contexts() {
        for name in ["kube-scheduler", "kwok"] {
            let found = procs.iter().any(|(c, n, r)| *c == ctx && n == name && *r);
            assert!(found, "{ctx}: {name} recorded and running: {procs:?}");
        }
    }
    let applied = Instant::now();
    for ctx in lab.contexts() {
        apply(&lab, &ctx, WORKLOADS);
    }
    let ips: Vec<_> = (0..2).map(|i| check_cluster(&lab, i)).collect();
    let available = applied.elapsed();
    assert!(ips[0].is_disjoint(&ips[1]), "pod IPs shared: {ips:?}");
    let ranges: Vec<_> = lab.contexts().iter().map(|c| node_cidrs(&lab, c)).collect();
    for (_, a) in &ranges[0] {
        for (_, b) in &ranges[1] {
            assert!(
                !in_cidr(&a[..a.find('/').unwrap()], b) && !in_cidr(&b[..b.find('/').unwrap()], a),
                "{a} overlaps {b}"
            );
        }
    }
    eprintln!(
        "workloads lab: 2 clusters up in {:.1}s, RSS per cluster (MiB) {:?}; \
         workloads available in {:.1}s",
        up.as_secs_f64(),
        memory.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        available.as_secs_f64()
    );
    // kwok plays the kubelet's part in deletion too: the namespace and its pods go away.
    let del = ["delete", "namespace", "demo", "--wait", "--timeout=60s"];
    let out = lab.kubectl("lab-1").args(del).output().expect("kubectl");
    assert!(out.status.success(), "namespace deletion: {}", text(&out));
    assert!(items(&lab, "lab-1", &["get", "pods", "-n", "demo"]).is_empty());
    drop(lab);

    // Negative: the same Deployment on a bare control plane stays at 0 available.
    let (bare, _temp, up) = start(2, false);
    let memory = bare.memory_kib();
    eprintln!(
        "bare lab: 2 clusters up in {:.1}s, RSS per cluster (MiB) {:?}",
        up.as_secs_f64(),
        memory.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    apply(&bare, "lab-1", WORKLOADS);
    let wait = available.max(Duration::from_secs(5)) * 2;
    let out = rollout(
        &bare,
        "lab-1",
        "deployment/web",
        &format!("{}s", wait.as_secs()),
    );
    assert!(
        !out.status.success(),
        "a bare lab must not roll out: {}",
        text(&out)
    );
    let deploy = kubectl_json(&bare, "lab-1", &["get", "-n", "demo", "deployment", "web"]).unwrap();
    let avail = deploy["status"]["availableReplicas"].as_u64().unwrap_or(0);
    assert_eq!(avail, 0, "{deploy}");
    assert!(
        items(&bare, "lab-1", &["get", "nodes"]).is_empty(),
        "no nodes in a bare lab"
    );
}
