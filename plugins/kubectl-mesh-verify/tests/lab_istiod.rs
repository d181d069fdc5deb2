//! The peers consume what we produce: istiod (built from istio.io/istio, run as a local
//! process per lab cluster) loads our plugged-in CA and syncs the clusters our remote secrets
//! describe; istioctl's remote secret and ours are equivalent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
mod support;

use mesh_lab::Lab;
use mesh_lab::istiod::Istiod;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, join_mesh_with, run_plugin as run,
};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

fn bins() -> (String, String) {
    (
        mesh_lab::plugin_bin("kubectl-mesh-certs")
            .unwrap()
            .display()
            .to_string(),
        mesh_lab::plugin_bin("kubectl-mesh-join")
            .unwrap()
            .display()
            .to_string(),
    )
}

/// Polls istiod's `/debug/clusterz` until `want` holds.
fn wait_clusterz(istiod: &Istiod, what: &str, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let z = istiod
            .clusterz()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        if want(&z) {
            return z;
        }
        assert!(
            Instant::now() < deadline,
            "istiod {}: {what}; clusterz is {z:?}; log:\n{}",
            istiod.cluster_id,
            tail(&istiod.log_text())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn tail(s: &str) -> String {
    s.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_of(z: &[Value], id: &str) -> Option<String> {
    z.iter()
        .find(|e| e["id"] == id)
        .map(|e| e["syncStatus"].as_str().unwrap_or_default().to_string())
}

#[test]
fn istiod_loads_our_ca_syncs_every_remote_and_forgets_one_that_leaves() {
    let mut lab = Lab::up_with(3, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = bins();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n- {name: north, context: lab-3, network: network1, role: primary}\n",
    )
    .unwrap();
    ok(run(
        &certs,
        &lab,
        w,
        &["create", "--clusters", "east,west,north"],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(&join, &lab, w));

    let mut istiods = Vec::new();
    for (i, id) in ["east", "west", "north"].iter().enumerate() {
        istiods.push(lab.start_istiod(i, id).expect("istiod"));
    }
    for d in &istiods {
        let log = d.log_text();
        assert!(
            log.contains("Use local CA certificate"),
            "{}: the plugged-in CA is used:\n{}",
            d.cluster_id,
            tail(&log)
        );
        assert!(
            !log.contains("Use self-signed certificate"),
            "{}: no self-signed CA",
            d.cluster_id
        );
        // The certificate istiod serves on its TLS xDS port chains to our root.
        let s = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &d.secure_grpc,
                "-servername",
                "istiod.istio-system.svc",
                "-CAfile",
            ])
            .arg(w.join("mesh-certs/root-cert.pem"))
            .args(["-verify_return_error", "-showcerts"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&s.stdout);
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "{}: istiod's serving chain must verify against our root:\n{out}{}",
            d.cluster_id,
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(
            out.contains(&format!("L = {}", d.cluster_id))
                || out.contains(&format!("L={}", d.cluster_id)),
            "{}: signed by that cluster's intermediate:\n{out}",
            d.cluster_id
        );
    }
    let secret = lab
        .kubectl("lab-1")
        .args(["get", "secret", "istio-ca-secret", "-n", "istio-system"])
        .output()
        .unwrap();
    assert!(
        !secret.status.success(),
        "istiod must not create a self-signed istio-ca-secret"
    );

    // Every istiod reports every other cluster synced.
    for d in &istiods {
        let others: Vec<&str> = ["east", "west", "north"]
            .into_iter()
            .filter(|c| *c != d.cluster_id)
            .collect();
        wait_clusterz(d, "every remote synced", |z| {
            others
                .iter()
                .all(|o| status_of(z, o).as_deref() == Some("synced"))
        });
    }
    // mesh-verify reaches them (directly: they run outside the cluster) and agrees. The lab
    // runs no operator and no kubelet: Istio's status and the istiod Pod's are written as
    // they would write them (see the support module).
    for ctx in ["lab-1", "lab-2", "lab-3"] {
        support::istio_reconciled(&lab, ctx);
        support::istiod_pod(&lab, ctx);
    }
    let mut args: Vec<String> = ["-f", "mesh.yaml", "--allow-loopback", "-o", "json"]
        .map(String::from)
        .to_vec();
    for d in &istiods {
        args.push("--istiod-address".into());
        args.push(format!("{}={}", d.cluster_id, d.monitoring));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = run(VERIFY, &lab, w, &argv);
    let report: Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(v.status.code(), Some(0), "{report:#}");
    let synced: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "istiod.remote-clusters-synced")
        .collect();
    assert_eq!(synced.len(), 3);
    assert!(synced.iter().all(|c| c["result"] == "pass"), "{synced:#?}");

    // After north leaves, it disappears from the others' istiod.
    ok(run(
        &join,
        &lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "north", "--yes"],
    ));
    for d in &istiods[..2] {
        let other = if d.cluster_id == "east" {
            "west"
        } else {
            "east"
        };
        let z = wait_clusterz(d, "north gone", |z| status_of(z, "north").is_none());
        assert_eq!(
            status_of(&z, other).as_deref(),
            Some("synced"),
            "{} still syncs {other}",
            d.cluster_id
        );
    }
    lab.stop_process(0, "pilot-discovery");
}

#[test]
fn istioctl_and_our_remote_secrets_are_equivalent_and_a_broken_one_is_reported() {
    let mut lab = Lab::up_with(2, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = bins();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
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
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(&join, &lab, w));
    let east = lab.start_istiod(0, "east").expect("istiod");
    wait_clusterz(&east, "west synced", |z| {
        status_of(z, "west").as_deref() == Some("synced")
    });

    // istioctl create-remote-secret for the same cluster, and ours (mesh-join remote-secret).
    let server = lab.clusters()[1].server.clone();
    let theirs = Command::new(lab.bin("istioctl").unwrap())
        .args([
            "create-remote-secret",
            "--context",
            "lab-2",
            "--name",
            "west",
            "--server",
            &server,
        ])
        .arg(format!("--kubeconfig={}", lab.kubeconfig().display()))
        .output()
        .unwrap();
    assert!(theirs.status.success(), "istioctl: {}", text(&theirs));
    let ours = ok(run(
        &join,
        &lab,
        w,
        &[
            "remote-secret",
            "--context",
            "lab-2",
            "--name",
            "west",
            "--allow-loopback",
            // The kubeconfig is compared with istioctl's, token included: asked for.
            "--include-secrets",
        ],
    ));
    let parse = |o: &Output| -> Value {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let doc = text
            .split("\n---")
            .find(|d| d.contains("kind: Secret"))
            .unwrap()
            .to_string();
        serde_json::to_value(yaml_serde::from_str::<Value>(&doc).unwrap()).unwrap()
    };
    let (t, o) = (parse(&theirs), parse(&ours));
    assert!(
        String::from_utf8_lossy(&ours.stdout)
            .starts_with("# This file is autogenerated, do not edit.")
    );
    for path in [["metadata", "name"], ["metadata", "namespace"]] {
        assert_eq!(t[path[0]][path[1]], o[path[0]][path[1]], "{path:?}");
    }
    assert_eq!(t["metadata"]["labels"], o["metadata"]["labels"]);
    assert_eq!(
        t["metadata"]["annotations"]["networking.istio.io/cluster"],
        o["metadata"]["annotations"]["networking.istio.io/cluster"]
    );
    let keys = |v: &Value| {
        v["stringData"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&t), keys(&o));
    let kc = |v: &Value| {
        serde_json::to_value(
            yaml_serde::from_str::<Value>(v["stringData"]["west"].as_str().unwrap()).unwrap(),
        )
        .unwrap()
    };
    let (tk, ok_) = (kc(&t), kc(&o));
    for k in ["apiVersion", "kind", "current-context"] {
        assert_eq!(tk[k], ok_[k], "{k}");
    }
    assert_eq!(tk["clusters"][0]["name"], ok_["clusters"][0]["name"]);
    assert_eq!(
        tk["clusters"][0]["cluster"]["server"],
        ok_["clusters"][0]["cluster"]["server"]
    );
    assert_eq!(
        tk["clusters"][0]["cluster"]["certificate-authority-data"],
        ok_["clusters"][0]["cluster"]["certificate-authority-data"]
    );
    assert_eq!(tk["contexts"], ok_["contexts"]);
    assert_eq!(tk["users"][0]["name"], ok_["users"][0]["name"]);
    assert!(
        tk["users"][0]["user"]["token"].is_string() && ok_["users"][0]["user"]["token"].is_string()
    );

    // istiod accepts istioctl's secret in place of ours.
    let mut child = lab
        .kubectl("lab-1")
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &theirs.stdout).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    wait_clusterz(&east, "west synced with istioctl's secret", |z| {
        status_of(z, "west").as_deref() == Some("synced")
    });

    // A broken secret (a token that is not valid): istiod stops syncing and mesh-verify says so.
    // The istiod Pod object (no kubelet in the lab: status written as a kubelet would) lets
    // mesh-verify know istiod runs in east.
    support::istiod_pod(&lab, "lab-1");
    let broken_kc = serde_json::to_string(&{
        let mut k = ok_.clone();
        k["users"][0]["user"]["token"] = Value::String("not-a-valid-token".into());
        k
    })
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(broken_kc);
    let patch = format!(r#"{{"data":{{"west":"{b64}"}},"stringData":null}}"#);
    let o = lab
        .kubectl("lab-1")
        .args([
            "patch",
            "secret",
            "istio-remote-secret-west",
            "-n",
            "istio-system",
            "--type=merge",
            "-p",
            &patch,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_clusterz(&east, "west not synced", |z| {
        status_of(z, "west").is_some_and(|s| s != "synced")
    });
    let v = run(
        VERIFY,
        &lab,
        w,
        &[
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "-o",
            "json",
            "--istiod-address",
            &format!("east={}", east.monitoring),
        ],
    );
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    let report: Value = serde_json::from_slice(&v.stdout).unwrap();
    let failed: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| {
            (
                c["id"].as_str().unwrap(),
                c["cluster"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        failed.contains(&("istiod.remote-clusters-synced", "east")),
        "{failed:?}"
    );
    assert!(
        failed.contains(&("remote.credentials", "east")),
        "{failed:?}"
    );
    let hint = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "istiod.remote-clusters-synced" && c["cluster"] == "east")
        .unwrap()["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hint.contains("remote-access"), "{hint}");
    // A rejoin taking back the patched field repairs it, and istiod syncs again.
    ok(join_mesh_with(&join, &lab, w, &["--force-conflicts"]));
    wait_clusterz(&east, "west synced again", |z| {
        status_of(z, "west").as_deref() == Some("synced")
    });
}
