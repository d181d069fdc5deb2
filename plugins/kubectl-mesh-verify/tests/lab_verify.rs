//! `kubectl mesh-verify` against a lab mesh joined by `mesh-join`: all green, then each fault
//! injected turns the right check red with the right hint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, expect_success as ok, run_plugin as run};
use serde_json::Value;
use std::path::Path;

const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

fn kubectl(lab: &Lab, ctx: &str, args: &[&str]) {
    let o = lab.kubectl(ctx).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Mesh<'a> {
    lab: &'a Lab,
    dir: &'a Path,
    certs: String,
    join: String,
}

impl Mesh<'_> {
    fn verify(&self, extra: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec!["-f", "mesh.yaml", "-o", "json"];
        args.extend_from_slice(extra);
        let o = run(VERIFY, self.lab, self.dir, &args);
        let report: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("stdout is only JSON: {}", text(&o)));
        (o.status.code(), report)
    }

    fn rejoin(&self) {
        ok(run(
            &self.join,
            self.lab,
            self.dir,
            &["-f", "mesh.yaml", "--no-wait", "--allow-loopback"],
        ));
    }
}

fn failing(report: &Value) -> Vec<(String, String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("cluster"), s("peer"), s("hint"))
        })
        .collect()
}

/// Exit 1, and exactly `id` fails (for `cluster`, and `peer` when given), with a hint.
fn expect_fault(mesh: &Mesh, id: &str, cluster: &str, peer: &str, hint: &str) {
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["success"], false);
    let f = failing(&report);
    assert!(
        f.iter()
            .any(|(i, c, p, h)| i == id && c == cluster && p == peer && h.contains(hint)),
        "expected {id} to fail for {cluster}/{peer} with hint ~{hint:?}, got {f:#?}"
    );
    assert!(
        f.iter()
            .all(|(i, ..)| i == id || i.starts_with(id.split('.').next().unwrap())),
        "only {id} (and its category) should fail: {f:#?}"
    );
}

#[test]
fn a_joined_lab_mesh_passes_and_each_fault_is_named() {
    let mut lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let certs = mesh_lab::plugin_bin("kubectl-mesh-certs")
        .unwrap()
        .display()
        .to_string();
    let join = mesh_lab::plugin_bin("kubectl-mesh-join")
        .unwrap()
        .display()
        .to_string();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: primary, eastWestAddress: 192.0.2.2}\n",
    )
    .unwrap();
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "west",
            "--key-type",
            "ecdsa-p256",
            "--dir",
            "foreign",
        ],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    // Pre-join checks on the fresh clusters: reachable, supported, CRDs served, permitted.
    let pre = run(VERIFY, &lab, w, &["--pre", "-f", "mesh.yaml", "-o", "json"]);
    let report: Value = serde_json::from_slice(&pre.stdout).unwrap();
    assert_eq!(pre.status.code(), Some(0), "{report:#}");
    for (id, want) in [
        ("pre.reachable", "pass"),
        ("pre.kubernetes-version", "pass"),
        ("pre.sail-crds", "pass"),
        ("pre.permissions", "pass"),
        ("pre.kernel", "skip"),
        ("pre.load-balancer", "pass"),
        ("pre.unique-names", "pass"),
    ] {
        let results: Vec<&Value> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == id)
            .collect();
        assert!(
            !results.is_empty() && results.iter().all(|c| c["result"] == want),
            "{id}: {results:#?}"
        );
    }
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join,
    };
    mesh.rejoin();

    // All green: every check that can run passes; the rest say why they were skipped.
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["schemaVersion"], "kubectl-mesh.io/verify/v1");
    assert_eq!(report["success"], true);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["result"] != "fail"), "{report:#}");
    for id in [
        "trust.shared-root",
        "remote.credentials",
        "control-plane.mesh-id",
        "network.cross-network-gateway",
        "network.eastwest-service",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["id"] == id && c["result"] == "pass"),
            "{id} did not pass: {report:#}"
        );
    }
    for c in checks.iter().filter(|c| c["result"] == "skip") {
        assert!(
            !c["message"].as_str().unwrap().is_empty(),
            "a skip says why: {c}"
        );
    }
    let skipped: Vec<&str> = checks
        .iter()
        .filter(|c| c["result"] == "skip")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"istiod.remote-clusters-synced")
            && skipped.contains(&"control-plane.istio-ready"),
        "{skipped:?}"
    );
    // The table says the same to people.
    let table = ok(run(
        VERIFY,
        &lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback"],
    ));
    assert!(String::from_utf8_lossy(&table.stdout).contains("Status check results are ✔"));

    // A legacy (Istio 1.4-1.7) setup is detected and explained, with the migration path.
    let se = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: httpbin-bar, namespace: default}\nspec:\n  hosts: [httpbin.bar.global]\n  location: MESH_INTERNAL\n  resolution: DNS\n  addresses: [240.0.0.2]\n  ports: [{name: http1, number: 8000, protocol: http}]\n  endpoints: [{address: 192.0.2.9, ports: {http1: 15443}}]\n";
    let mut child = lab
        .kubectl("lab-1")
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), se.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(code, Some(0), "a legacy setup is a warning: {report:#}");
    let legacy = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "legacy.global-dns" && c["cluster"] == "east")
        .unwrap()
        .clone();
    assert_eq!(legacy["result"], "warn", "{legacy:#}");
    assert!(
        legacy["message"]
            .as_str()
            .unwrap()
            .contains("default/httpbin-bar")
            && legacy["message"].as_str().unwrap().contains("240.0.0.0/4"),
        "{legacy:#}"
    );
    assert!(
        legacy["hint"].as_str().unwrap().contains("multi-primary"),
        "{legacy:#}"
    );
    kubectl(
        &lab,
        "lab-1",
        &[
            "delete",
            "serviceentries.networking.istio.io",
            "httpbin-bar",
            "-n",
            "default",
        ],
    );

    // A loopback server without --allow-loopback.
    let (code, report) = mesh.verify(&[]);
    assert_eq!(code, Some(1));
    assert!(
        failing(&report)
            .iter()
            .any(|(i, c, p, h)| i == "remote.server-address"
                && c == "east"
                && p == "west"
                && h.contains("--server")),
        "{report:#}"
    );

    // A cacerts from a foreign root in west.
    kubectl(
        &lab,
        "lab-2",
        &["delete", "secret", "cacerts", "-n", "istio-system"],
    );
    ok(run(
        &mesh.certs,
        &lab,
        w,
        &[
            "apply",
            "--context",
            "lab-2",
            "--cluster",
            "west",
            "--dir",
            "foreign",
        ],
    ));
    expect_fault(&mesh, "trust.shared-root", "west", "", "root-rotation");
    kubectl(
        &lab,
        "lab-2",
        &["delete", "secret", "cacerts", "-n", "istio-system"],
    );
    ok(run(&mesh.certs, &lab, w, &["apply", "-f", "mesh.yaml"]));

    // A missing remote secret.
    kubectl(
        &lab,
        "lab-1",
        &[
            "delete",
            "secret",
            "istio-remote-secret-west",
            "-n",
            "istio-system",
        ],
    );
    expect_fault(
        &mesh,
        "remote.secret-present",
        "east",
        "west",
        "kubectl mesh-join remote-secret --context lab-2 --name west",
    );
    mesh.rejoin();

    // A revoked token: the token Secret in west is deleted, so its token no longer authenticates.
    kubectl(
        &lab,
        "lab-2",
        &[
            "delete",
            "secret",
            "istio-reader-service-account-istio-remote-secret-token",
            "-n",
            "istio-system",
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, report) = mesh.verify(&["--allow-loopback"]);
        if failing(&report)
            .iter()
            .any(|(i, ..)| i == "remote.credentials")
            || std::time::Instant::now() > deadline
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    expect_fault(&mesh, "remote.credentials", "east", "west", "remote-secret");
    mesh.rejoin();
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(
        code,
        Some(0),
        "a rejoin issues a new token and updates the secret: {report:#}"
    );

    // A wrong network label.
    kubectl(
        &lab,
        "lab-1",
        &[
            "label",
            "namespace",
            "istio-system",
            "topology.istio.io/network=wrong",
            "--overwrite",
        ],
    );
    expect_fault(
        &mesh,
        "control-plane.network-label",
        "east",
        "",
        "kubectl mesh-join",
    );
    mesh.rejoin();

    // A mismatched meshID.
    kubectl(
        &lab,
        "lab-2",
        &[
            "patch",
            "istios.sailoperator.io",
            "default",
            "--type=merge",
            "-p",
            r#"{"spec":{"values":{"global":{"meshID":"other"}}}}"#,
        ],
    );
    expect_fault(&mesh, "control-plane.mesh-id", "", "", "meshID");
    mesh.rejoin();

    // A missing cross-network Gateway.
    kubectl(
        &lab,
        "lab-1",
        &[
            "delete",
            "gateways.networking.istio.io",
            "cross-network-gateway",
            "-n",
            "istio-system",
        ],
    );
    expect_fault(
        &mesh,
        "network.cross-network-gateway",
        "east",
        "",
        "kubectl mesh-join",
    );
    mesh.rejoin();
    assert_eq!(mesh.verify(&["--allow-loopback"]).0, Some(0));

    // Contexts only: clusters are named by their control planes, peers found from secrets.
    let by_context = run(
        VERIFY,
        &lab,
        w,
        &["--context", "lab-1,lab-2", "--allow-loopback", "-o", "json"],
    );
    let report: Value = serde_json::from_slice(&by_context.stdout).unwrap();
    // Without the mesh file nobody tells it the east-west addresses, and the lab has no load
    // balancer: that, and only that, fails.
    assert_eq!(by_context.status.code(), Some(1), "{report:#}");
    let f = failing(&report);
    assert!(
        !f.is_empty() && f.iter().all(|(i, ..)| i == "network.eastwest-service"),
        "{f:#?}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "remote.credentials"
                && c["cluster"] == "east"
                && c["peer"] == "west")
    );

    // An unreachable context: exit 2, named.
    let unknown = run(VERIFY, &lab, w, &["--context", "lab-1,nowhere"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nowhere"));
    lab.stop_process(1, "kube-apiserver");
    let down = run(
        VERIFY,
        &lab,
        w,
        &["-f", "mesh.yaml", "--request-timeout", "5s"],
    );
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("lab-2"),
        "{}",
        text(&down)
    );
    assert!(
        down.stdout.is_empty(),
        "nothing on stdout when it could not run"
    );
}
