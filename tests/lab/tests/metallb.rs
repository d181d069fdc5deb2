//! Load balancers in the lab: MetalLB's controller gives `type: LoadBalancer` Services an
//! address from their own cluster's pool, as a cloud would, and nothing else does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::state::LabState;
use mesh_lab::{Lab, metallb};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn service(namespace: &str, name: &str, kind: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}, \
         labels: {{topology.istio.io/network: network1}}}}\n\
         spec: {{type: {kind}, selector: {{istio: eastwestgateway}}, \
         ports: [{{name: tls, port: 15443}}]}}\n"
    )
}

fn kubectl(kubeconfig: &Path, ctx: &str) -> Command {
    let mut cmd = Command::new(mesh_lab::default_bin_dir().join("kubectl"));
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--context={ctx}"));
    cmd
}

fn apply(kubeconfig: &Path, ctx: &str, yaml: &str) {
    let mut child = kubectl(kubeconfig, ctx)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kubectl");
    assert!(out.status.success(), "apply in {ctx}: {}", text(&out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The Service's load-balancer ingress IPs (empty while pending); panics when it is missing.
fn ingress(kubeconfig: &Path, ctx: &str, namespace: &str, name: &str) -> Vec<String> {
    let out = kubectl(kubeconfig, ctx)
        .args(["get", "service", name, "-n", namespace])
        .args(["-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "get {namespace}/{name} in {ctx}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Polls until the Service has an ingress IP; `None` after `within`.
fn wait_ingress(
    kubeconfig: &Path,
    ctx: &str,
    namespace: &str,
    name: &str,
    within: Duration,
) -> Option<(String, Duration)> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(ip) = ingress(kubeconfig, ctx, namespace, name).into_iter().next() {
            return Some((ip, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn each_cluster_gives_load_balancers_addresses_from_its_own_pool_and_nothing_else() {
    let started = Instant::now();
    let lab = Lab::up_with(2, |o| o.crds = false).expect("lab");
    eprintln!(
        "lab: 2 clusters with load balancers up in {:.1}s; controller RSS (MiB): {:?}",
        started.elapsed().as_secs_f64(),
        lab.load_balancer_rss_kib()
            .iter()
            .map(|k| k.expect("a controller per cluster") / 1024)
            .collect::<Vec<_>>()
    );
    let kc = lab.kubeconfig();
    let mut gateways = Vec::new();
    for (i, ctx) in lab.contexts().iter().enumerate() {
        apply(
            &kc,
            ctx,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n",
        );
        apply(
            &kc,
            ctx,
            &service("istio-system", "istio-eastwestgateway", "LoadBalancer"),
        );
        apply(&kc, ctx, &service("istio-system", "plain", "ClusterIP"));
        let (ip, took) = wait_ingress(
            &kc,
            ctx,
            "istio-system",
            "istio-eastwestgateway",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("{ctx}: the east-west gateway got no address"));
        eprintln!("{ctx}: istio-eastwestgateway got {ip} after {took:?}");
        let pool = format!("198.18.{}.", 1 + i);
        assert!(
            ip.starts_with(&pool),
            "{ctx}: {ip} is not from its pool {pool}0/24"
        );
        // A second Service gets another address of the same pool.
        apply(&kc, ctx, &service("default", "second", "LoadBalancer"));
        let (other, _) = wait_ingress(&kc, ctx, "default", "second", Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{ctx}: the second Service got no address"));
        assert!(
            other.starts_with(&pool) && other != ip,
            "{ctx}: {other} next to {ip}"
        );
        // Control: the ClusterIP Service, seen by the controller before `second`, has none.
        assert_eq!(
            ingress(&kc, ctx, "istio-system", "plain"),
            Vec::<String>::new(),
            "{ctx}"
        );
        gateways.push(ip);
    }
    assert_ne!(
        gateways[0], gateways[1],
        "the clusters' gateways share an address"
    );

    // The state file records a controller per cluster (so `status` shows it, `down` stops it).
    let state = LabState::load(lab.dir()).expect("state");
    for c in &state.clusters {
        let names: Vec<&str> = c.processes.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&metallb::PROGRAM), "{}: {names:?}", c.name);
    }
    let running = state
        .status()
        .iter()
        .filter(|p| p.name == metallb::PROGRAM && p.running)
        .count();
    assert_eq!(running, 2);
}

fn mesh_lab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesh-lab"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("mesh-lab")
}

/// Takes a lab started with `mesh-lab up` down again, also when the test fails.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = mesh_lab(&["down"], self.0);
    }
}

#[test]
fn without_load_balancers_a_service_stays_pending_while_with_them_it_gets_an_address() {
    let tmp = tempfile::tempdir().expect("tmp");
    let on = tmp.path().join("on");
    let off = tmp.path().join("off");
    let (_down_on, _down_off) = (Down(&on), Down(&off));
    let up_on = mesh_lab(&["up", "--clusters", "1", "--no-crds"], &on);
    assert!(up_on.status.success(), "up: {}", text(&up_on));
    let up_off = mesh_lab(
        &["up", "--clusters", "1", "--no-crds", "--no-load-balancers"],
        &off,
    );
    assert!(
        up_off.status.success(),
        "up --no-load-balancers: {}",
        text(&up_off)
    );

    let status = |dir: &Path| -> Vec<String> {
        let out = mesh_lab(&["status", "--json"], dir);
        assert!(out.status.success(), "status: {}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let procs = report.as_array().expect("array").iter();
        procs
            .map(|p| p["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert!(status(&on).contains(&metallb::PROGRAM.to_string()));
    assert!(!status(&off).contains(&metallb::PROGRAM.to_string()));

    let (kc_on, kc_off) = (on.join("kubeconfig"), off.join("kubeconfig"));
    let created = Instant::now();
    apply(&kc_off, "lab-1", &service("default", "gw", "LoadBalancer"));
    apply(&kc_on, "lab-1", &service("default", "gw", "LoadBalancer"));
    let window = Duration::from_secs(5);
    let got = wait_ingress(&kc_on, "lab-1", "default", "gw", window);
    assert!(
        got.is_some(),
        "positive control: with load balancers the Service got no address within {window:?}"
    );
    while created.elapsed() < window {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ingress(&kc_off, "lab-1", "default", "gw"),
        Vec::<String>::new(),
        "an address without load balancers after {:?}",
        created.elapsed()
    );

    for dir in [&on, &off] {
        let down = mesh_lab(&["down"], dir);
        assert!(down.status.success(), "down: {}", text(&down));
    }
    let on_dir = on.canonicalize().expect("lab dir").display().to_string();
    let leftover = fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmd).contains(&on_dir)
        })
        .count();
    assert_eq!(leftover, 0, "processes left after down");
}
