//! What the join's lab tests share: certificates and mesh file, the state a join manages,
//! remote-secret checks, and purging a cluster back to its state before the join.
#![allow(dead_code)]

pub mod topologies;
pub mod verified;

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{
    describe as text, expect_success as ok, footprint, join_mesh, kubectl_json, run_plugin as run,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

pub fn certs_bin() -> String {
    mesh_lab::plugin_bin("kubectl-mesh-certs")
        .unwrap()
        .display()
        .to_string()
}

/// Certificates made and applied, mesh file written: ready for `mesh-join -f mesh.yaml`.
pub fn prepare(lab: &Lab, dir: &Path, mesh: &str, clusters: &str) {
    std::fs::write(dir.join("mesh.yaml"), mesh).unwrap();
    ok(run(
        &certs_bin(),
        lab,
        dir,
        &["create", "--clusters", clusters, "--key-type", "ecdsa-p256"],
    ));
    ok(run(&certs_bin(), lab, dir, &["apply", "-f", "mesh.yaml"]));
}

pub fn join(lab: &Lab, dir: &Path) -> Output {
    join_mesh(JOIN, lab, dir)
}

/// Everything join manages in a cluster (every kind a join writes), with resourceVersions when
/// asked (a second proof, beside the audit logs, that a re-run wrote nothing).
pub fn state(lab: &Lab, ctx: &str, with_versions: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, ns) in [
        ("istios.sailoperator.io", None),
        ("istiocnis.sailoperator.io", None),
        ("namespaces", None),
        ("clusterroles", None),
        ("clusterrolebindings", None),
        ("secrets", Some("istio-system")),
        ("serviceaccounts", Some("istio-system")),
        ("services", Some("istio-system")),
        ("deployments", Some("istio-system")),
        ("roles", Some("istio-system")),
        ("rolebindings", Some("istio-system")),
        ("poddisruptionbudgets", Some("istio-system")),
        ("horizontalpodautoscalers", Some("istio-system")),
        ("gateways.networking.istio.io", Some("istio-system")),
        ("virtualservices.networking.istio.io", Some("istio-system")),
    ] {
        let mut args = vec!["get", kind];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        // A kind that cannot be listed fails the test: skipping it would hide its changes.
        let list = kubectl_json(lab, ctx, &args)
            .unwrap_or_else(|| panic!("{ctx}: kubectl get {kind} failed"));
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap();
            if kind == "namespaces" && !name.starts_with("istio") {
                continue;
            }
            if kind.starts_with("clusterrole") && !name.starts_with("istio-reader") {
                continue;
            }
            if kind == "serviceaccounts" && name == "default" {
                continue;
            }
            // The operator's Helm release history grows with every reconcile of a changed
            // Istio; what the release rendered is compared like the rest.
            if item["type"] == "helm.sh/release.v1" {
                continue;
            }
            let mut line = format!("{kind}/{name}");
            if kind == "namespaces" {
                line.push_str(&format!(
                    " labels={} annotations={}",
                    item["metadata"]["labels"], item["metadata"]["annotations"]
                ));
            }
            if kind.starts_with("istio") {
                line.push_str(&format!(" spec={}", item["spec"]));
            }
            if with_versions {
                line.push_str(&format!(" rv={}", item["metadata"]["resourceVersion"]));
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

/// [`state`] of every cluster of the lab, in its order.
pub fn states(lab: &Lab, with_versions: bool) -> Vec<Vec<String>> {
    lab.contexts()
        .iter()
        .map(|c| state(lab, c, with_versions))
        .collect()
}

/// The kubeconfig of `reader`'s remote secret for `source`, checked with the lab's kubectl:
/// it authenticates as the reader, may list services and endpointslices, may not create secrets.
pub fn check_remote_secret(lab: &Lab, dir: &Path, reader_ctx: &str, source: &str) {
    let secret = kubectl_json(
        lab,
        reader_ctx,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{source}"),
            "-n",
            "istio-system",
        ],
    )
    .unwrap_or_else(|| panic!("{reader_ctx} lacks the remote secret for {source}"));
    assert_eq!(secret["metadata"]["labels"]["istio/multiCluster"], "true");
    assert_eq!(
        secret["metadata"]["annotations"]["networking.istio.io/cluster"],
        source
    );
    assert_eq!(secret["type"], "Opaque");
    let data = secret["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [source],
        "the data key is the cluster name"
    );
    let kubeconfig = base64::engine::general_purpose::STANDARD
        .decode(data[source].as_str().unwrap())
        .unwrap();
    let parsed: Value =
        serde_json::to_value(yaml_serde::from_slice::<serde_json::Value>(&kubeconfig).unwrap())
            .unwrap();
    assert_eq!(parsed["current-context"], source);
    assert_eq!(parsed["users"][0]["name"], source);
    let path = dir.join(format!("remote-{reader_ctx}-{source}.kubeconfig"));
    std::fs::write(&path, &kubeconfig).unwrap();
    let as_reader = |args: &[&str]| {
        Command::new(lab.bin("kubectl").unwrap())
            .arg(format!("--kubeconfig={}", path.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let who = as_reader(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&who.stdout),
        "system:serviceaccount:istio-system:istio-reader-service-account",
        "{}",
        text(&who)
    );
    assert!(as_reader(&["get", "services", "-A"]).status.success());
    assert!(as_reader(&["get", "endpointslices", "-A"]).status.success());
    let can = as_reader(&["auth", "can-i", "create", "secrets", "-n", "istio-system"]);
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "no");
    let m = marks(lab);
    let denied = as_reader(&["create", "secret", "generic", "intruder", "-n", "default"]);
    // The audit probe counts a service account's write (here refused): the positive control
    // that "nothing written" would see a plugin writing with a token it read. A refused create
    // names no object (the name is in the body, not the path).
    let seen = writes_since(lab, &m);
    assert!(
        seen.iter().flatten().any(|w| w.trim() == "create secrets"),
        "the audit probe missed the reader's write: {seen:?}"
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("forbidden"),
        "{}",
        text(&denied)
    );
}

pub fn istio(lab: &Lab, ctx: &str) -> Value {
    kubectl_json(lab, ctx, &["get", "istios.sailoperator.io", "default"]).expect("Istio default")
}

/// Each cluster's footprint (`mesh_lab::testing::footprint`) by context: what `purge_back`
/// must return a cluster to.
pub type Untouched = BTreeMap<String, Vec<String>>;

/// The footprint of every cluster of the lab, taken before anything is written.
pub fn untouched(lab: &Lab) -> Untouched {
    lab.contexts()
        .into_iter()
        .map(|c| {
            let f = footprint(lab, &c);
            (c, f)
        })
        .collect()
}

/// Joins `mesh` on the lab's first two clusters (untouched, as `untouched` says), runs
/// `checks`, joins again (nothing written: the audit logs and resourceVersions agree), checks
/// the control planes with `mesh-verify` and purges both clusters back to untouched, so the
/// next topology starts on clusters as fresh as a new lab's.
pub fn topology(lab: &Lab, untouched: &Untouched, mesh: &str, checks: impl Fn(&Lab, &Path)) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    prepare(lab, w, mesh, "east,west");
    let first = ok(join(lab, w));
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("applied"),
        "{}",
        text(&first)
    );
    checks(lab, w);
    let before = states(lab, true);
    let m = marks(lab);
    let second = ok(join(lab, w));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("nothing to do"),
        "{}",
        text(&second)
    );
    // Counted in the audit logs, after a barrier write each (the positive control).
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "a second join wrote {writes:?}"
    );
    assert_eq!(before, states(lab, true), "a second join wrote something");
    control_plane_checks_pass(lab, w);
    verified::every_check_passes_with_a_service_in_both_clusters(lab, w, mesh);
    purge_back(
        lab,
        w,
        "mesh.yaml",
        &[("west", "lab-2"), ("east", "lab-1")],
        untouched,
    );
}

/// `mesh-verify`'s control-plane checks on the operator's real status: none fails or warns,
/// and each cluster's `Istio` is observed Ready.
pub fn control_plane_checks_pass(lab: &Lab, w: &Path) {
    let verify = mesh_lab::testing::plugin_path("kubectl-mesh-verify");
    let o = run(
        &verify,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    let report: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let checks = report["checks"].as_array().unwrap();
    let control: Vec<&Value> = checks
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("control-plane."))
        .collect();
    for c in &control {
        assert!(c["result"] == "pass" || c["result"] == "n/a", "{c:#}");
    }
    for cluster in ["east", "west"] {
        assert!(
            control
                .iter()
                .any(|c| c["id"] == "control-plane.istio-ready"
                    && c["cluster"] == cluster
                    && c["result"] == "pass"),
            "{cluster}: Istio not observed Ready: {report:#}"
        );
    }
}

/// `leave -f FILE --cluster NAME --purge` for each `(name, context)` of `clusters` (in that
/// order) takes each back to what it was before `mesh-certs apply` and the join: the
/// operator's uninstall finishes (its charts' cluster-wide objects go) and nothing of ours is
/// left; the namespace's deletion is waited for. Each cluster must have had a footprint to
/// remove (the positive control).
pub fn purge_back(
    lab: &Lab,
    w: &Path,
    file: &str,
    clusters: &[(&str, &str)],
    untouched: &Untouched,
) {
    for (name, ctx) in clusters {
        assert_ne!(
            &footprint(lab, ctx),
            &untouched[*ctx],
            "{name} ({ctx}): the join left a footprint to remove"
        );
        ok(run(
            JOIN,
            lab,
            w,
            &["leave", "-f", file, "--cluster", name, "--purge", "--yes"],
        ));
    }
    for (name, ctx) in clusters {
        back_to_untouched(lab, name, ctx, untouched, "leave --purge");
    }
}

/// Waits up to 90 s for `ctx`'s footprint to be what `untouched` says it was (a namespace's
/// deletion takes its time); panics naming what is left and what is missing, and `after`.
pub fn back_to_untouched(lab: &Lab, name: &str, ctx: &str, untouched: &Untouched, after: &str) {
    let was = &untouched[ctx];
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = footprint(lab, ctx);
        if &now == was {
            return;
        }
        if Instant::now() > deadline {
            let left: Vec<&String> = now.iter().filter(|o| !was.contains(o)).collect();
            let gone: Vec<&String> = was.iter().filter(|o| !now.contains(o)).collect();
            panic!("90 s after {after}, {name} ({ctx}) still has {left:?} and lacks {gone:?}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
