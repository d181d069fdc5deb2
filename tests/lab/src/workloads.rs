//! Pods that get scheduled and become Ready: per cluster a kube-scheduler, and kwok playing
//! the kubelet of two fake Nodes the lab creates (`lab-N-worker`, and `lab-N-infra` labelled
//! `node-role.kubernetes.io/infra`). kwok moves the nodes to Ready and every pod bound to them
//! to Running and Ready with an IP from its node's `spec.podCIDR`; nothing runs in them.
//!
//! Pod addresses never overlap between clusters: cluster `lab-N` owns `10.N.0.0/16`, its node
//! `k` (from 0) gets `10.N.k.0/24`. The lab sets `spec.podCIDR` when it creates a node (no
//! node-ipam controller), so the ranges follow from the cluster number alone, whatever the
//! number of clusters. `10.96.0.0/16` is every cluster's service range, hence at most 95
//! clusters with workloads.

use crate::{Lab, LabOptions, find_bin, pki};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// The kwok stages the lab runs with (kwok's own "fast" node and pod stages).
pub const KWOK_STAGES: &str = include_str!("../kwok/stages.yaml");

/// The annotation marking the nodes kwok manages.
pub const FAKE_NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

/// The label of the node infrastructure workloads are placed on.
pub const INFRA_LABEL: &str = "node-role.kubernetes.io/infra";

/// Controllers of a bare control plane: service accounts and their tokens, namespace
/// deletion, garbage collection, the root CA ConfigMap, role aggregation.
const CONTROL_PLANE_CONTROLLERS: &[&str] = &[
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "legacy-serviceaccount-token-cleaner-controller",
];

/// Controllers added for workloads: the workload kinds, Service endpoints, PDB status, and
/// the removal of pods whose node is gone. Left out on purpose: node-lifecycle (the fake
/// nodes send no heartbeats; it would taint them unreachable and evict their pods), node-ipam
/// (the lab sets each node's podCIDR), horizontal-pod-autoscaler (no metrics), service-lb (no
/// cloud), persistent volumes, resource quotas, cron jobs.
const WORKLOAD_CONTROLLERS: &[&str] = &[
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",
    "statefulset-controller",
    "job-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
];

/// The controller manager's `--controllers` value.
pub fn controllers(workloads: bool) -> String {
    let mut list = CONTROL_PLANE_CONTROLLERS.to_vec();
    if workloads {
        list.extend_from_slice(WORKLOAD_CONTROLLERS);
    }
    list.join(",")
}

/// The programs a lab with workloads needs besides the control plane's.
pub const PROGRAMS: &[&str] = &["kube-scheduler", "kwok"];

/// Fails, saying how to build them, when `options` want workloads and [`PROGRAMS`] are not
/// in `bin_dir`.
pub fn find_programs(bin_dir: &Path, options: &LabOptions) -> Result<()> {
    if options.workloads {
        for name in PROGRAMS {
            find_bin(bin_dir, name)?;
        }
    }
    Ok(())
}

/// One fake node of a lab cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNode {
    /// `lab-N-worker`, `lab-N-infra`.
    pub name: String,
    /// Its pod range, `10.N.k.0/24`.
    pub pod_cidr: String,
    /// Whether it carries [`INFRA_LABEL`].
    pub infra: bool,
}

/// The second octet of cluster `cluster`'s (from 0) pod range, or why there is none.
fn cluster_octet(cluster: usize) -> Result<usize> {
    let octet = cluster + 1;
    if octet >= 96 {
        bail!(
            "lab-{octet}: a lab with workloads has at most 95 clusters (pod ranges 10.N.0.0/16 \
             stop below the service range 10.96.0.0/16); hint: fewer clusters, or --bare"
        );
    }
    Ok(octet)
}

/// The pod range of cluster `cluster` (from 0): `10.N.0.0/16` for `lab-N`.
pub fn cluster_pod_cidr(cluster: usize) -> Result<String> {
    Ok(format!("10.{}.0.0/16", cluster_octet(cluster)?))
}

/// The fake nodes of cluster `cluster` (from 0).
pub fn nodes(cluster: usize) -> Result<Vec<LabNode>> {
    let octet = cluster_octet(cluster)?;
    Ok(["worker", "infra"]
        .iter()
        .enumerate()
        .map(|(k, role)| LabNode {
            name: format!("lab-{octet}-{role}"),
            pod_cidr: format!("10.{octet}.{k}.0/24"),
            infra: *role == "infra",
        })
        .collect())
}

/// The Node objects, as one `v1/List`. Labelled like a kubelet labels its node (hostname,
/// os, arch) plus a role; annotated for kwok; no taints.
pub fn node_list(nodes: &[LabNode]) -> Value {
    let items = nodes
        .iter()
        .map(|n| {
            let role = if n.infra { "infra" } else { "worker" };
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": n.name,
                    "annotations": {FAKE_NODE_ANNOTATION.0: FAKE_NODE_ANNOTATION.1},
                    "labels": {
                        "kubernetes.io/hostname": n.name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        format!("node-role.kubernetes.io/{role}"): "",
                    },
                },
                "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]},
            })
        })
        .collect::<Vec<_>>();
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// kube-scheduler's arguments: no leader election, no serving port.
pub fn scheduler_args(cluster_dir: &Path) -> Vec<String> {
    vec![
        format!(
            "--kubeconfig={}",
            cluster_dir.join("admin.kubeconfig").display()
        ),
        "--leader-elect=false".into(),
        "--secure-port=0".into(),
        "--v=1".into(),
    ]
}

/// The file in the cluster directory naming the port its kubelet (kwok) serves on.
pub const KUBELET_PORT_FILE: &str = "kubelet.port";

/// kwok's CRDs (`PortForward`), in the cache's `share/` directory beside `bin/`.
pub const KWOK_CRD_FILE: &str = "kwok-crds.yaml";

/// kwok's arguments: the lab's stages, only the nodes annotated for it, node address
/// 127.0.0.1 (the nodes are this machine), for a node without a podCIDR a range of the
/// cluster's own (`10.N.255.0/24`), and the kubelet API on `127.0.0.1:kubelet_port` (the
/// nodes' `daemonEndpoints`) with the cluster CA's `kubelet.crt`: port-forwards as each
/// `PortForward` object says (the pod runner writes one per istiod pod); exec, attach and logs
/// are refused, as nothing runs in a kwok pod.
pub fn kwok_args(
    cluster_dir: &Path,
    stages: &Path,
    cluster: usize,
    kubelet_port: u16,
) -> Result<Vec<String>> {
    let octet = cluster_octet(cluster)?;
    let d = |f: &str| cluster_dir.join(f).display().to_string();
    Ok(vec![
        format!(
            "--kubeconfig={}",
            cluster_dir.join("admin.kubeconfig").display()
        ),
        format!("--config={}", stages.display()),
        "--manage-all-nodes=false".into(),
        format!(
            "--manage-nodes-with-annotation-selector={}={}",
            FAKE_NODE_ANNOTATION.0, FAKE_NODE_ANNOTATION.1
        ),
        "--node-ip=127.0.0.1".into(),
        format!("--cidr=10.{octet}.255.0/24"),
        format!("--node-port={kubelet_port}"),
        format!("--server-address=127.0.0.1:{kubelet_port}"),
        format!("--tls-cert-file={}", d("kubelet.crt")),
        format!("--tls-private-key-file={}", d("kubelet.key")),
        "--enable-crds=PortForward".into(),
    ])
}

impl Lab {
    /// Starts the scheduler and kwok of every cluster, creates the fake nodes and waits until
    /// they are Ready.
    pub(crate) fn start_workloads(&mut self, options: &LabOptions) -> Result<()> {
        let started = Instant::now();
        pki::write(&self.dir, "kwok-stages.yaml", KWOK_STAGES, false)?;
        let stages = self.dir.join("kwok-stages.yaml");
        let crds = crate::operator::share_file(&self.bin_dir, KWOK_CRD_FILE, "kwok")?;
        let crds = crds.display().to_string();
        let ports = crate::allocate_ports(self.clusters.len())?;
        for (i, port) in ports.into_iter().enumerate() {
            let c = self.clusters[i].clone();
            let apply = ["apply", "--server-side", "--field-manager=mesh-lab", "-f"];
            let args = [&apply[..], &[crds.as_str()]].concat();
            self.kubectl_ok(&c.name, "installing kwok's PortForward CRD", &args)?;
            pki::write_kubelet_pki(&c.dir)?;
            pki::write(&c.dir, KUBELET_PORT_FILE, &port.to_string(), false)?;
            self.spawn(i, "kube-scheduler", &scheduler_args(&c.dir), &[])?;
            let kwok = kwok_args(&c.dir, &stages, i, port)?;
            self.spawn(i, "kwok", &kwok, &[])?;
            let list = serde_json::to_string_pretty(&node_list(&nodes(i)?))?;
            pki::write(&c.dir, "nodes.json", &list, false)?;
        }
        for i in 0..self.clusters.len() {
            self.create_nodes(i)?;
        }
        for i in 0..self.clusters.len() {
            let wait = [
                "wait",
                "--for=condition=Ready",
                "node",
                "--all",
                "--timeout=5s",
            ];
            self.wait_kubectl(i, "kwok to make the nodes Ready", options.timeout, &wait)?;
        }
        eprintln!(
            "mesh-lab: kube-scheduler, kwok and {} node(s) ready (+{:.1}s)",
            2 * self.clusters.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl Lab {
    /// Creates cluster `i`'s nodes and takes off the `node.kubernetes.io/not-ready` taint the
    /// API server puts on every new node (TaintNodesByCondition): the node-lifecycle
    /// controller would lift it once the node is Ready, and the lab runs none. Nothing puts
    /// it back.
    fn create_nodes(&mut self, i: usize) -> Result<()> {
        let c = self.clusters[i].clone();
        let file = c.dir.join("nodes.json").display().to_string();
        let apply = [
            "apply",
            "--server-side",
            "--field-manager=mesh-lab",
            "-f",
            &file,
        ];
        let mut steps = vec![("creating the nodes", apply.map(String::from).to_vec())];
        for n in nodes(i)? {
            let untaint = ["patch", "node", &n.name, "--type=merge", "-p", UNTAINTED];
            steps.push(("untainting a node", untaint.map(String::from).to_vec()));
        }
        for (what, args) in steps {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = self.kubectl_quiet(&c.name, &args)?;
            if !out.status.success() {
                bail!(
                    "{}: {what} ({}) failed: {}",
                    c.name,
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }
}

/// A merge patch that leaves a node without taints.
const UNTAINTED: &str = r#"{"spec":{"taints":null}}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ranges_differ_between_clusters_and_nodes() {
        assert_eq!(cluster_pod_cidr(0).unwrap(), "10.1.0.0/16");
        assert_eq!(cluster_pod_cidr(1).unwrap(), "10.2.0.0/16");
        let a = nodes(0).unwrap();
        let b = nodes(1).unwrap();
        let names: Vec<_> = a.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["lab-1-worker", "lab-1-infra"]);
        let cidrs: Vec<_> = a.iter().chain(&b).map(|n| n.pod_cidr.as_str()).collect();
        assert_eq!(
            cidrs,
            ["10.1.0.0/24", "10.1.1.0/24", "10.2.0.0/24", "10.2.1.0/24"]
        );
        assert_eq!(a.iter().filter(|n| n.infra).count(), 1);
        assert!(b[1].infra && b[1].name == "lab-2-infra");
    }

    #[test]
    fn pod_ranges_stop_below_the_service_range() {
        assert_eq!(cluster_pod_cidr(94).unwrap(), "10.95.0.0/16");
        let err = format!("{:#}", cluster_pod_cidr(95).unwrap_err());
        assert!(err.contains("lab-96") && err.contains("--bare"), "{err}");
        assert!(nodes(95).is_err());
    }

    #[test]
    fn nodes_are_annotated_for_kwok_labelled_by_role_and_untainted() {
        let list = node_list(&nodes(2).unwrap());
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let infra = &items[1];
        assert_eq!(infra["metadata"]["name"], "lab-3-infra");
        assert_eq!(infra["metadata"]["labels"][INFRA_LABEL], "");
        assert!(items[0]["metadata"]["labels"].get(INFRA_LABEL).is_none());
        assert_eq!(
            infra["metadata"]["annotations"]["kwok.x-k8s.io/node"],
            "fake"
        );
        assert_eq!(infra["spec"]["podCIDR"], "10.3.1.0/24");
        assert!(items.iter().all(|n| n["spec"].get("taints").is_none()));
    }

    #[test]
    fn a_missing_scheduler_or_kwok_is_named_only_when_workloads_are_wanted() {
        let empty = tempfile::tempdir().unwrap();
        let mut options = LabOptions::new(1, empty.path());
        let err = format!("{:#}", find_programs(empty.path(), &options).unwrap_err());
        assert!(
            err.contains("kube-scheduler not found") && err.contains("build.sh"),
            "{err}"
        );
        options.workloads = false;
        assert!(find_programs(empty.path(), &options).is_ok());
    }

    #[test]
    fn workload_controllers_only_with_workloads() {
        let bare = controllers(false);
        let full = controllers(true);
        assert!(!bare.contains("deployment-controller"));
        assert!(full.starts_with(&bare));
        for c in ["deployment", "replicaset", "daemonset", "endpointslice"] {
            assert!(full.contains(&format!("{c}-controller")), "{c}");
        }
        assert!(!full.contains("node-lifecycle"));
    }

    #[test]
    fn kwok_manages_only_annotated_nodes_with_the_lab_stages() {
        let args = kwok_args(Path::new("/l/lab-1"), Path::new("/l/stages.yaml"), 0, 4321).unwrap();
        assert!(args.contains(&"--config=/l/stages.yaml".to_string()));
        assert!(args.contains(&"--manage-all-nodes=false".to_string()));
        assert!(args.contains(
            &"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".to_string()
        ));
        assert!(args.contains(&"--cidr=10.1.255.0/24".to_string()));
        // The kubelet API where the node says (its daemonEndpoints), port-forwards from CRs.
        assert!(args.contains(&"--node-port=4321".to_string()));
        assert!(args.contains(&"--server-address=127.0.0.1:4321".to_string()));
        assert!(args.contains(&"--tls-cert-file=/l/lab-1/kubelet.crt".to_string()));
        assert!(args.contains(&"--enable-crds=PortForward".to_string()));
        assert_eq!(KWOK_STAGES.matches("kind: Stage").count(), 5);
        // istiod's pods are left to the pod runner's readiness probe.
        assert!(KWOK_STAGES.contains("name: pod-running-istiod"));
    }
}
