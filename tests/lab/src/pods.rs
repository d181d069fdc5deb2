//! The lab's one real pod: istiod. kwok runs every pod as a status only; istiod is the pod the
//! API server must reach (the sidecar injector and config validation are its webhooks), and
//! the one program of a pod the lab can run natively. For every istiod pod kwok has given an
//! address, the runner starts `pilot-discovery` as a local process with the pod's own
//! arguments and environment (field references resolved as the kubelet would, `cacerts`
//! mounted from the Secret and refreshed from it every pass, as a kubelet refreshes a Secret
//! volume, unless a test holds it: [`HOLD_VOLUMES_FILE`]), listening on loopback ports, and
//! routes `POD_IP:PORT` to them through the pod-network proxy ([`crate::netproxy`]) the API
//! server dials for webhooks.
//! When the pod goes, its process is stopped.

use crate::api::Api;
use crate::netproxy::{self, Routes};
use crate::podnet;
use crate::podspec::{
    LISTENERS, container_env, listen_locally, now, pod_key, port_forward, readiness_patch,
};
use crate::workloads::KUBELET_PORT_FILE;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use netproxy::egress_selector;

/// The file in the cluster directory that names the newest istiod pod's monitoring address.
pub const MONITORING_FILE: &str = "istiod-monitoring.addr";

/// While this file is in the cluster directory, the runner leaves the pods' Secret volumes as
/// they are, as a kubelet between two syncs does (a real kubelet refreshes a Secret volume at
/// its periodic pod sync, a minute apart by default, plus its cache's lifetime: a changed
/// Secret reaches the files late). The runner answers with [`VOLUMES_HELD_FILE`].
pub const HOLD_VOLUMES_FILE: &str = "secret-volumes.hold";

/// Written by the runner after a pass that saw [`HOLD_VOLUMES_FILE`] (no refresh under way
/// from then on), removed after one that did not.
pub const VOLUMES_HELD_FILE: &str = "secret-volumes.held";

/// Who writes a pod's `PortForward` (kwok's configuration as the pod's kubelet).
const KUBELET: &str = "system:node:kwok";

/// The pod-network proxy's socket, in the cluster directory.
pub const SOCKET: &str = "pod-network.sock";

/// What the runner needs: the cluster's directory, the lab binaries, its proxy port.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The cluster directory (`lab-N`).
    pub cluster_dir: PathBuf,
    /// The lab binaries.
    pub bin_dir: PathBuf,
    /// The API server URL.
    pub server: String,
    /// Also serve the proxy on this loopback port (`HTTPS_PROXY` for the operator).
    pub http_proxy_port: Option<u16>,
}

/// A Secret volume: its directory and the Secret's namespace.
type Volume = (PathBuf, String);

struct Running {
    ip: String,
    child: Child,
    /// The loopback port of its HTTP listener (`/ready`).
    http: u16,
    /// Whether the pod's status says Ready (as this runner last wrote it).
    ready: bool,
    /// Its `cacerts` volume (refreshed from the Secret, as the kubelet does).
    cacerts: Option<Volume>,
}

impl Runner {
    /// Serves the proxy and keeps the istiod processes in step with the pods, until killed.
    pub fn run(&self) -> Result<()> {
        let routes: Routes = Default::default();
        let user = "system:serviceaccount:istio-system:istiod";
        let istiod =
            crate::pki::component_kubeconfig(&self.cluster_dir, &self.server, "istiod", user)?;
        let k = Api::new(&istiod)?;
        let kubelet = std::fs::read_to_string(self.cluster_dir.join(KUBELET_PORT_FILE))
            .ok()
            .map(|p| format!("127.0.0.1:{}", p.trim()));
        let router = podnet::with_kubelet(
            podnet::router(k.clone(), self.lab_dir(), routes.clone()),
            kubelet,
        );
        crate::pki::component_kubeconfig(&self.cluster_dir, &self.server, "kubelet", KUBELET)?;
        let socket = self.cluster_dir.join(SOCKET);
        netproxy::serve(&socket, router.clone())
            .with_context(|| format!("pod-network proxy on {}", socket.display()))?;
        if let Some(port) = self.http_proxy_port {
            netproxy::serve_tcp(port, router)
                .with_context(|| format!("pod-network proxy on port {port}"))?;
        }
        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        let mut through_gateway = Vec::new();
        loop {
            if let Err(e) = self.sync(&k, &istiod, &routes, &mut running) {
                eprintln!("mesh-lab pods: {e:#}");
            }
            self.route_gateway(&k, &routes, &running, &mut through_gateway);
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn lab_dir(&self) -> PathBuf {
        self.cluster_dir
            .parent()
            .unwrap_or(&self.cluster_dir)
            .to_path_buf()
    }

    /// Routes the gateway's exposed istiod ports to a Ready istiod of this cluster, and
    /// publishes this cluster's table for the others.
    fn route_gateway(
        &self,
        k: &Api,
        routes: &Routes,
        running: &BTreeMap<String, Running>,
        previous: &mut Vec<String>,
    ) {
        let Ok(mut table) = routes.lock() else { return };
        for key in previous.drain(..) {
            table.remove(&key);
        }
        if let Some(r) = running.values().find(|r| r.ready) {
            for (from, to) in podnet::gateway_routes(k, &table, &r.ip) {
                previous.push(from.clone());
                table.insert(from, to);
            }
        }
        let name = self
            .cluster_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        podnet::publish(&self.lab_dir(), &name, &table);
    }

    fn pods(&self, k: &Api) -> Result<Vec<Value>> {
        let list = k
            .get("/api/v1/pods?labelSelector=app%3Distiod")
            .context("listing istiod pods: the API server did not answer")?;
        let cluster = self
            .cluster_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let prefix = format!("{cluster}-");
        // Only pods on the lab's own (kwok) nodes: an object a test writes as a kubelet would,
        // on no node or another, is not ours to run.
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .cloned()
            .collect())
    }

    fn sync(
        &self,
        k: &Api,
        kubeconfig: &Path,
        routes: &Routes,
        running: &mut BTreeMap<String, Running>,
    ) -> Result<()> {
        let pods = self.pods(k)?;
        let mut wanted = BTreeMap::new();
        for pod in &pods {
            let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
            let live = pod["metadata"]["deletionTimestamp"].is_null() && !ip.is_empty();
            if live {
                let key = format!(
                    "{}/{}",
                    pod["metadata"]["namespace"].as_str().unwrap_or_default(),
                    pod["metadata"]["name"].as_str().unwrap_or_default()
                );
                wanted.insert(key, (ip.to_string(), pod));
            }
        }
        let mut gone = Vec::new();
        for (k, r) in running.iter_mut() {
            let exited = r.child.try_wait().ok().flatten().is_some();
            if exited || wanted.get(k).is_none_or(|(ip, _)| *ip != r.ip) {
                gone.push(k.clone());
            }
        }
        for key in gone {
            if let Some(mut r) = running.remove(&key) {
                let _ = r.child.kill();
                let _ = r.child.wait();
                if let Ok(mut table) = routes.lock() {
                    table.retain(|k, _| !k.starts_with(&format!("{}:", r.ip)));
                }
            }
        }
        for (key, (ip, pod)) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = running.entry(key) {
                let (child, http, cacerts) = self.start(pod, &ip, k, kubeconfig, routes)?;
                slot.insert(Running {
                    ip,
                    child,
                    http,
                    ready: false,
                    cacerts,
                });
            }
        }
        let hold = self.cluster_dir.join(HOLD_VOLUMES_FILE).exists();
        for (key, r) in running.iter_mut() {
            if let (false, Some((dir, ns))) = (hold, &r.cacerts) {
                let _ = crate::istiod::fetch_cacerts_from(k, ns, dir);
            }
            let ready = crate::http_get(r.http, "/ready").is_some_and(|(code, _)| code == 200);
            let pod = pods.iter().find(|p| pod_key(p) == *key);
            if let (true, Some(pod)) = (ready != r.ready, pod) {
                self.report_ready(kubeconfig, pod, ready)?;
                r.ready = ready;
            }
        }
        let held = self.cluster_dir.join(VOLUMES_HELD_FILE);
        if hold {
            std::fs::write(held, "")?;
        } else if held.exists() {
            std::fs::remove_file(held)?;
        }
        Ok(())
    }

    /// Writes the pod's readiness from the probe, as the kubelet does: the Ready and
    /// ContainersReady conditions and each container's `ready`.
    fn report_ready(&self, kubeconfig: &Path, pod: &Value, ready: bool) -> Result<()> {
        let key = pod_key(pod);
        let (ns, name) = key.split_once('/').unwrap_or(("istio-system", &key));
        let patch = readiness_patch(pod, ready, &now());
        let status = if ready { "True" } else { "False" };
        let out = Command::new(self.bin_dir.join("kubectl"))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args([
                "patch",
                "pod",
                name,
                "-n",
                ns,
                "--subresource=status",
                "--type=strategic",
            ])
            .args(["-p", &patch.to_string()])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "reporting {key} Ready={status}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("mesh-lab pods: istiod pod {key} Ready={status}");
        Ok(())
    }

    fn start(
        &self,
        pod: &Value,
        ip: &str,
        k: &Api,
        kubeconfig: &Path,
        routes: &Routes,
    ) -> Result<(Child, u16, Option<Volume>)> {
        let name = pod["metadata"]["name"].as_str().unwrap_or("istiod");
        let dir = self.cluster_dir.join("pods").join(name);
        std::fs::create_dir_all(&dir)?;
        let container = &pod["spec"]["containers"][0];
        let local = crate::allocate_ports(LISTENERS.len() + 1)?;
        let (args, table) = listen_locally(container, ip, &local);
        let mut env = container_env(pod, container);
        env.retain(|(k, _)| k != "KUBECONFIG");
        env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("istio-system");
        let cacerts = dir.join("cacerts");
        let mounted = crate::istiod::fetch_cacerts_from(k, ns, &cacerts).is_ok();
        if mounted {
            env.push(("ROOT_CA_DIR".into(), cacerts.display().to_string()));
        }
        let log = std::fs::File::create(dir.join("istiod.log"))?;
        let child = Command::new(self.bin_dir.join("pilot-discovery"))
            .args(&args)
            .envs(env)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting pilot-discovery")?;
        if let Ok(mut t) = routes.lock() {
            t.extend(table);
        }
        eprintln!(
            "mesh-lab pods: istiod pod {name} ({ip}) runs as pid {}",
            child.id()
        );
        self.forward_ports(pod, &local)?;
        // Where to reach this istiod's monitoring port directly (`mesh-verify
        // --istiod-address`, for the test of that flag; everything else port-forwards).
        let monitoring = format!("127.0.0.1:{}\n", local[4]);
        std::fs::write(self.cluster_dir.join(MONITORING_FILE), monitoring)?;
        Ok((child, local[0], mounted.then(|| (cacerts, ns.to_string()))))
    }
}

impl Runner {
    /// Tells kwok, the pod's kubelet, where the pod's ports listen ([`port_forward`]).
    fn forward_ports(&self, pod: &Value, local: &[u16]) -> Result<()> {
        let kubeconfig = self.cluster_dir.join("kubelet.kubeconfig");
        let mut kubectl = Command::new(self.bin_dir.join("kubectl"));
        kubectl.arg(format!("--kubeconfig={}", kubeconfig.display()));
        let manifest = port_forward(pod, local).to_string();
        let what = format!("writing the PortForward of {}", pod_key(pod));
        crate::operator::apply_stdin(kubectl, &manifest, "kwok", &what)
    }
}
