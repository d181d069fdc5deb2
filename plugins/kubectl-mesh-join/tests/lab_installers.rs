//! Seed 002's installers run by the join: `--installer istioctl` (the lab's own istioctl) and
//! `--installer helm` (Helm built from its module, Istio's charts from the lab's istio module),
//! each in multi-primary multi-network and primary-remote, on clusters without the Sail
//! operator or Istio's CRDs: joined to Ready (istiod's pods run as real pilot-discovery
//! processes), verified, a second run writes nothing, and `leave --purge` of every cluster
//! returns them to their state before the join.
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

/// What a join adds cluster-wide, and the namespaces: compared before the join and after
/// the leave.
fn cluster_state(lab: &Lab, ctx: &str) -> Vec<String> {
    let out = ok(lab
        .kubectl(ctx)
        .args([
            "get",
            "crd,ns,clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration",
            "-o",
            "name",
        ])
        .output()
        .unwrap());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    names
}

/// The names of `ctx`'s istiod pods that are not being deleted.
fn istiod_pods(lab: &Lab, ctx: &str) -> Vec<String> {
    let pods = kubectl_json(
        lab,
        ctx,
        &["get", "pods", "-l", "app=istiod", "-n", "istio-system"],
    )
    .unwrap();
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn remote_secret(lab: &Lab, ctx: &str, peer: &str) -> bool {
    let name = format!("istio-remote-secret-{peer}");
    kubectl_json(lab, ctx, &["get", "secret", &name, "-n", "istio-system"]).is_some()
}

/// Joins with `installer` from fresh clusters, checks what the installer made and what the
/// join made after it, verifies, runs again (nothing is installed or written), then leaves
/// with --purge cluster by cluster and finds each as it was before.
fn joined_to_ready(lab: &Lab, installer: &str, mesh: &str) {
    let w = tempfile::tempdir().unwrap();
    let before = [cluster_state(lab, "lab-1"), cluster_state(lab, "lab-2")];
    prepare(lab, w.path(), mesh);
    let charts = charts(lab);
    // Before: no istiod and no Istio API (the CRDs come with the install).
    assert!(!available(lab, "lab-1", "istiod"));
    assert!(
        !before[0].iter().any(|n| n.ends_with(".istio.io")),
        "{:?}",
        before[0]
    );
    // The plan says where the installer will run (and writes nothing: the audit shows it).
    let m = marks(lab);
    let mut plan_args = join_args(installer, &charts);
    plan_args.insert(0, "plan");
    let plan = ok(run(lab, w.path(), JOIN, &plan_args));
    for c in ["east", "west"] {
        let says = format!("{c}: {installer} ");
        assert!(
            text(&plan).contains(&says) && text(&plan).contains("installs its control plane"),
            "{}",
            text(&plan)
        );
    }
    assert!(writes_since(lab, &m).iter().all(Vec::is_empty));
    let o = ok(run(lab, w.path(), JOIN, &join_args(installer, &charts)));
    let log = text(&o);
    assert!(log.contains(&format!("east: running {installer}")), "{log}");
    assert!(available(lab, "lab-1", "istiod"), "{log}");
    assert!(available(lab, "lab-1", "istio-eastwestgateway"), "{log}");
    let remote = mesh.contains("role: remote");
    // A remote runs no istiod; a primary does. Both record the install on the namespace.
    assert_eq!(available(lab, "lab-2", "istiod"), !remote, "{log}");
    // A remote's gateway comes after its injector serves (the CA bundle east's istiod patches
    // in): the join said so, and its pods carry the proxy (mesh-verify's eastwest-pods below).
    assert_eq!(
        log.contains("west: the injection webhook serves"),
        remote,
        "{log}"
    );
    assert!(available(lab, "lab-2", "istio-eastwestgateway"), "{log}");
    for ctx in ["lab-1", "lab-2"] {
        let ns = kubectl_json(lab, ctx, &["get", "ns", "istio-system"]).unwrap();
        let record = ns["metadata"]["annotations"]["kubectl-mesh.io/installed"]
            .as_str()
            .unwrap_or_default();
        assert!(record.starts_with(&format!("{installer} ")), "{ctx}: {ns}");
    }
    let istiod = kubectl_json(
        lab,
        "lab-1",
        &["get", "deploy", "istiod", "-n", "istio-system"],
    )
    .unwrap();
    let helm_release = &istiod["metadata"]["annotations"]["meta.helm.sh/release-name"];
    assert_eq!(helm_release == "istiod", installer == "helm", "{istiod}");
    assert!(remote_secret(lab, "lab-1", "west"), "{log}");
    assert_eq!(remote_secret(lab, "lab-2", "east"), !remote, "{log}");
    // mesh-verify passes, with istiod's debug endpoints read as on a real cluster: by
    // port-forward to the installer's istiod pod (API server, then kwok as its kubelet).
    let verify = plugin_path("kubectl-mesh-verify");
    let args = ["-f", "mesh.yaml", "--allow-loopback"];
    let v = ok(run(lab, w.path(), &verify, &args));
    let primaries: &[(&str, &str)] = match remote {
        true => &[("east", "lab-1")],
        false => &[("east", "lab-1"), ("west", "lab-2")],
    };
    for (cluster, ctx) in primaries {
        let pods = istiod_pods(lab, ctx);
        assert!(
            pods.iter().any(|pod| text(&v).contains(&format!(
                "✔ [{cluster}] istiod reports 1 remote cluster(s) synced (pod {pod}, by port-forward)"
            ))),
            "{ctx}: {pods:?}\n{}",
            text(&v)
        );
    }
    // The same mesh's series, once: all 1, and promtool's rule test fires no alert on them.
    let prom: Vec<&str> = args.iter().copied().chain(["-o", "prometheus"]).collect();
    let series = ok(run(lab, w.path(), &verify, &prom));
    let rules = mesh_core::app::watch::alerts::groups().to_string();
    mesh_lab::promtool::healthy_fires_nothing(
        lab,
        w.path(),
        &String::from_utf8_lossy(&series.stdout),
        &rules,
    );
    assert!(
        text(&v).contains(&format!("installed by {installer}")),
        "{}",
        text(&v)
    );
    // Again: nothing installed, nothing written. Positive control: the same probe sees the
    // write of a run whose input changed (a new mesh ID reinstalls both clusters).
    let m = marks(lab);
    let again = ok(run(lab, w.path(), JOIN, &join_args(installer, &charts)));
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "{writes:?}\n{}",
        text(&again)
    );
    assert!(!text(&again).contains("running"), "{}", text(&again));
    assert!(
        text(&again).contains("is not run: the namespace records this very install"),
        "{}",
        text(&again)
    );
    std::fs::write(
        w.path().join("mesh.yaml"),
        mesh.replace("meshID: mesh1", "meshID: mesh2"),
    )
    .unwrap();
    let m = marks(lab);
    let changed = ok(run(lab, w.path(), JOIN, &join_args(installer, &charts)));
    assert!(
        text(&changed).contains(&format!("west: running {installer}")),
        "{}",
        text(&changed)
    );
    assert!(!writes_since(lab, &m)[1].is_empty(), "{}", text(&changed));
    // Leave, remote first: the installer's uninstall, then what the join wrote, and the CRDs
    // the installers keep (nothing else uses them here).
    for (cluster, l) in ["west", "east"]
        .iter()
        .zip(purged_back(lab, w.path(), &before, "the join"))
    {
        assert!(
            text(&l).contains(&format!("{cluster}: running {installer} uninstall")),
            "{}",
            text(&l)
        );
    }
}

/// `leave --purge` of west, then east (mesh.yaml in `w`), and each cluster's state checked
/// back to `before` (lab-1, lab-2) as it was before `what`; the leaves' outputs, west first.
fn purged_back(lab: &Lab, w: &Path, before: &[Vec<String>; 2], what: &str) -> Vec<Output> {
    let mut out = Vec::new();
    for cluster in ["west", "east"] {
        let args = [
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            cluster,
            "--purge",
            "-y",
        ];
        out.push(ok(run(lab, w, JOIN, &args)));
    }
    for (i, ctx) in ["lab-1", "lab-2"].iter().enumerate() {
        let after = wait_for_state(lab, ctx, &before[i]);
        assert_eq!(after, before[i], "{ctx}: not as before {what}");
    }
    out
}

/// The cluster's state once it equals `want` (a namespace takes a moment to go), or the last
/// one read after 60 s.
fn wait_for_state(lab: &Lab, ctx: &str, want: &[String]) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = cluster_state(lab, ctx);
        if now == want || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// istioctl, then Helm, in both topologies on one lab (each leaves it as it found it); then an
/// istiod another installer made is not taken silently (the lab purged back after it); last,
/// an istioctl of another version is refused (its positive control leaves a partial join).
#[test]
fn istioctl_and_helm_join_both_topologies_and_refuse_what_they_must() {
    let lab = lab();
    joined_to_ready(&lab, "istioctl", MULTI_PRIMARY);
    joined_to_ready(&lab, "istioctl", PRIMARY_REMOTE);
    joined_to_ready(&lab, "helm", MULTI_PRIMARY);
    joined_to_ready(&lab, "helm", PRIMARY_REMOTE);
    an_istiod_another_installer_made_is_not_taken_silently(&lab);
    an_istioctl_of_another_version_is_refused_before_any_write(&lab);
}

fn an_istioctl_of_another_version_is_refused_before_any_write(lab: &Lab) {
    let w = tempfile::tempdir().unwrap();
    prepare(
        lab,
        w.path(),
        &MULTI_PRIMARY.replace("v1.31-latest", "v1.30.3"),
    );
    let m = marks(lab);
    let o = run(lab, w.path(), JOIN, &join_args("istioctl", ""));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1.31-dev") && err.contains("v1.30.3"), "{err}");
    assert!(writes_since(lab, &m).iter().all(Vec::is_empty));
    // Positive control: with the version it installs, the same probe sees the join's writes
    // (the namespace's record first, before the install fails on a lab without nodes).
    std::fs::write(w.path().join("mesh.yaml"), MULTI_PRIMARY).unwrap();
    let m = marks(lab);
    let _ = run(
        lab,
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
    assert!(!writes_since(lab, &m)[0].is_empty());
}

fn an_istiod_another_installer_made_is_not_taken_silently(lab: &Lab) {
    let w = tempfile::tempdir().unwrap();
    let before = [cluster_state(lab, "lab-1"), cluster_state(lab, "lab-2")];
    prepare(lab, w.path(), MULTI_PRIMARY);
    // Someone installed istiod in lab-1 with Helm by hand: no record of a join on the namespace.
    let charts = charts(lab);
    for (release, chart) in [("istio-base", "base"), ("istiod", "istiod")] {
        ok(Command::new(lab.bin_dir().join("helm"))
            .args([
                "upgrade",
                "--install",
                release,
                &format!("{charts}/{chart}"),
            ])
            .args(["-n", "istio-system", "--kube-context", "lab-1", "--wait"])
            .env("KUBECONFIG", lab.kubeconfig())
            .output()
            .unwrap());
    }
    assert!(available(lab, "lab-1", "istiod"));
    let m = marks(lab);
    let o = run(lab, w.path(), JOIN, &join_args("istioctl", ""));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("east: istiod is already installed there, by Helm release istiod"),
        "{err}"
    );
    assert!(writes_since(lab, &m).iter().all(Vec::is_empty));
    // Positive control: taking it over on purpose runs istioctl, and the probe sees its writes.
    let m = marks(lab);
    let mut args = join_args("istioctl", "");
    args.push("--force-conflicts");
    let taken = run(lab, w.path(), JOIN, &args);
    assert!(
        text(&taken).contains("east: running istioctl install"),
        "{}",
        text(&taken)
    );
    assert!(!writes_since(lab, &m)[0].is_empty(), "{}", text(&taken));
    // What istioctl took over goes with the mesh: the lab is as before for the next section.
    purged_back(lab, w.path(), &before, "the hand-made istiod");
}
