//! Seed 002's installers run by the join: `--installer istioctl` (the lab's own istioctl) and
//! `--installer helm` (Helm built from its module, Istio's charts from the lab's istio module),
//! on clusters without the Sail operator or Istio's CRDs, joined to Ready (istiod's pods run
//! as real pilot-discovery processes), and a second run that writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json, plugin_path};
use std::path::Path;
use std::process::{Command, Output};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

const MULTI_PRIMARY: &str = "meshID: mesh1\ncerts: ./mesh-certs\nistio: {version: v1.31-latest}\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n";
const PRIMARY_REMOTE: &str = "meshID: mesh1\ncerts: ./mesh-certs\nistio: {version: v1.31-latest}\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

fn lab() -> Lab {
    // A cluster as upstream Istio finds it: no Sail operator, no Istio CRDs.
    Lab::up_with(2, |o| {
        o.crds = false;
        o.operator = false;
    })
    .expect("lab")
}

/// Runs a plugin with the lab's programs (istioctl, helm) first on PATH.
fn run(lab: &Lab, w: &Path, bin: &str, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        lab.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(bin)
        .args(args)
        .current_dir(w)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .env_remove("MESH_CERTS_DIR")
        .output()
        .unwrap()
}

fn charts(lab: &Lab) -> String {
    let dir = lab.bin_dir().join("../share/istio-charts");
    dir.canonicalize().unwrap().display().to_string()
}

fn join_args<'a>(installer: &'a str, charts: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "-f",
        "mesh.yaml",
        "--allow-loopback",
        "--timeout",
        "120s",
        "--installer",
        installer,
    ];
    if installer == "helm" {
        a.extend(["--charts", charts]);
    }
    a
}

fn prepare(lab: &Lab, w: &Path, mesh: &str) {
    std::fs::write(w.join("mesh.yaml"), mesh).unwrap();
    let certs = plugin_path("kubectl-mesh-certs");
    ok(run(lab, w, &certs, &["create", "--clusters", "east,west"]));
    ok(run(lab, w, &certs, &["apply", "-f", "mesh.yaml"]));
}

fn available(lab: &Lab, ctx: &str, name: &str) -> bool {
    kubectl_json(lab, ctx, &["get", "deploy", name, "-n", "istio-system"])
        .is_some_and(|d| d["status"]["availableReplicas"].as_u64() >= Some(1))
}

fn remote_secret(lab: &Lab, ctx: &str, peer: &str) -> bool {
    let name = format!("istio-remote-secret-{peer}");
    kubectl_json(lab, ctx, &["get", "secret", &name, "-n", "istio-system"]).is_some()
}

/// Joins with `installer` from fresh clusters, checks what the installer made and what the
/// join made after it, then runs again: nothing is installed or written.
fn joined_to_ready(installer: &str, mesh: &str) {
    let lab = lab();
    let w = tempfile::tempdir().unwrap();
    prepare(&lab, w.path(), mesh);
    let charts = charts(&lab);
    // Before: no istiod and no Istio API (the CRDs come with the install).
    assert!(!available(&lab, "lab-1", "istiod"));
    assert!(
        kubectl_json(
            &lab,
            "lab-1",
            &["get", "crd", "gateways.networking.istio.io"]
        )
        .is_none()
    );
    let o = ok(run(&lab, w.path(), JOIN, &join_args(installer, &charts)));
    let log = text(&o);
    assert!(log.contains(&format!("east: running {installer}")), "{log}");
    assert!(available(&lab, "lab-1", "istiod"), "{log}");
    assert!(available(&lab, "lab-1", "istio-eastwestgateway"), "{log}");
    let remote = mesh.contains("role: remote");
    // A remote runs no istiod; a primary does. Both record the install on the namespace.
    assert_eq!(available(&lab, "lab-2", "istiod"), !remote, "{log}");
    for ctx in ["lab-1", "lab-2"] {
        let ns = kubectl_json(&lab, ctx, &["get", "ns", "istio-system"]).unwrap();
        let record = ns["metadata"]["annotations"]["kubectl-mesh.io/installed"]
            .as_str()
            .unwrap_or_default();
        assert!(record.starts_with(&format!("{installer} ")), "{ctx}: {ns}");
    }
    if installer == "helm" {
        let istiod = kubectl_json(
            &lab,
            "lab-1",
            &["get", "deploy", "istiod", "-n", "istio-system"],
        )
        .unwrap();
        assert_eq!(
            istiod["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "istiod"
        );
    }
    assert!(remote_secret(&lab, "lab-1", "west"), "{log}");
    assert_eq!(remote_secret(&lab, "lab-2", "east"), !remote, "{log}");
    // Again: nothing installed, nothing written. Positive control: the same probe sees the
    // write of a run whose input changed (a new mesh ID reinstalls both clusters).
    let m = marks(&lab);
    let again = ok(run(&lab, w.path(), JOIN, &join_args(installer, &charts)));
    let writes = writes_since(&lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "{writes:?}\n{}",
        text(&again)
    );
    assert!(!text(&again).contains("running"), "{}", text(&again));
    std::fs::write(
        w.path().join("mesh.yaml"),
        mesh.replace("meshID: mesh1", "meshID: mesh2"),
    )
    .unwrap();
    let m = marks(&lab);
    let changed = ok(run(&lab, w.path(), JOIN, &join_args(installer, &charts)));
    assert!(
        text(&changed).contains(&format!("west: running {installer}")),
        "{}",
        text(&changed)
    );
    assert!(!writes_since(&lab, &m)[1].is_empty(), "{}", text(&changed));
}

#[test]
fn istioctl_multi_primary_multi_network_is_installed_and_joined_to_ready() {
    joined_to_ready("istioctl", MULTI_PRIMARY);
}

#[test]
fn helm_primary_remote_is_installed_and_joined_to_ready() {
    joined_to_ready("helm", PRIMARY_REMOTE);
}

#[test]
fn an_istioctl_of_another_version_is_refused_before_any_write() {
    let lab = Lab::up_without_crds(2).expect("lab");
    let w = tempfile::tempdir().unwrap();
    prepare(
        &lab,
        w.path(),
        &MULTI_PRIMARY.replace("v1.31-latest", "v1.30.3"),
    );
    let m = marks(&lab);
    let o = run(&lab, w.path(), JOIN, &join_args("istioctl", ""));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1.31-dev") && err.contains("v1.30.3"), "{err}");
    assert!(writes_since(&lab, &m).iter().all(Vec::is_empty));
    // Positive control: with the version it installs, the same probe sees the join's writes
    // (the namespace's record first, before the install fails on a lab without nodes).
    std::fs::write(w.path().join("mesh.yaml"), MULTI_PRIMARY).unwrap();
    let m = marks(&lab);
    let _ = run(
        &lab,
        w.path(),
        JOIN,
        &[
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--installer",
            "istioctl",
            "--timeout",
            "5s",
        ],
    );
    assert!(!writes_since(&lab, &m)[0].is_empty());
}
