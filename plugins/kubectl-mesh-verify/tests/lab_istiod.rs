//! The peers consume what we produce: istiod loads our plugged-in CA and syncs the clusters our
//! remote secrets describe; istioctl's remote secret and ours are equivalent.
//!
//! Everything istiod-side is the lab's own: the Sail operator installs each cluster's istiod
//! (and writes every `Istio` status), and the lab's pod runner runs each istiod pod as a
//! pilot-discovery process (built from istio.io/istio) with the pod's arguments and its
//! `cacerts` volume. The test reads each pod's ports as a user does, by `kubectl port-forward`
//! through the API server (kwok plays the kubelet), and `mesh-verify` finds and port-forwards
//! to the pods itself. The pod's log is read from the file its process writes
//! (`<cluster dir>/pods/<pod>/istiod.log`): kwok, as the lab's kubelet, serves port-forwards
//! only and refuses `kubectl logs`. Nothing here writes a status or a pod, starts an istiod, or passes
//! `--istiod-address`. What the test writes is what a person would: istioctl's remote secret
//! in place of ours, and the fault, west's remote secret with a token that is not valid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, join_mesh_with, run_plugin as run,
};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::port_forward::{IstiodPod, PortForward, sync_status};
use support::{Mesh, VERIFY, results};

/// The mesh's clusters: (name, context).
const CLUSTERS: [(&str, &str); 3] = [("east", "lab-1"), ("west", "lab-2"), ("north", "lab-3")];

/// Writes `mesh.yaml` for `clusters` (all primaries of one network), creates the mesh's certs
/// (with `create` flags added), applies them and joins; (certs, join) binaries.
fn joined(lab: &Lab, w: &Path, clusters: &[(&str, &str)], create: &[&str]) -> (String, String) {
    let (certs, join) = (
        mesh_lab::testing::plugin_path("kubectl-mesh-certs"),
        mesh_lab::testing::plugin_path("kubectl-mesh-join"),
    );
    let mut yaml = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n".to_string();
    for (name, ctx) in clusters {
        yaml += &format!("- {{name: {name}, context: {ctx}, network: network1, role: primary}}\n");
    }
    std::fs::write(w.join("mesh.yaml"), yaml).unwrap();
    let names = clusters.iter().map(|c| c.0).collect::<Vec<_>>().join(",");
    let mut args = vec!["create", "--clusters", &names];
    args.extend_from_slice(create);
    ok(run(&certs, lab, w, &args));
    ok(run(&certs, lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(&join, lab, w));
    (certs, join)
}

/// `id`'s istiod pod signs with the plugged-in CA: its log says so, the certificate it serves
/// on 15012 (reached by port-forward) chains to our root through `id`'s intermediate, and no
/// self-signed `istio-ca-secret` exists in its cluster.
fn uses_our_ca(lab: &Lab, w: &Path, id: &str, pod: &IstiodPod) {
    let log = pod.log_text();
    assert!(
        log.contains("Use local CA certificate"),
        "{id} ({}): the plugged-in CA is used:\n{}",
        pod.name,
        support::port_forward::tail(&log, 30)
    );
    assert!(
        !log.contains("Use self-signed certificate"),
        "{id} ({}): no self-signed CA",
        pod.name
    );
    let tls = PortForward::open(lab, &pod.ctx, "istio-system", &pod.name, 15012);
    let s = Command::new("openssl")
        .args(["s_client", "-connect", &tls.address()])
        .args(["-servername", "istiod.istio-system.svc", "-CAfile"])
        .arg(w.join("mesh-certs/root-cert.pem"))
        .args(["-verify_return_error", "-showcerts"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(tls);
    let out = String::from_utf8_lossy(&s.stdout);
    assert!(
        out.contains("Verify return code: 0 (ok)"),
        "{id} ({}): istiod's serving chain must verify against our root:\n{out}{}",
        pod.name,
        String::from_utf8_lossy(&s.stderr)
    );
    assert!(
        out.contains(&format!("L = {id}")) || out.contains(&format!("L={id}")),
        "{id}: signed by that cluster's intermediate:\n{out}"
    );
    let secret = lab
        .kubectl(&pod.ctx)
        .args(["get", "secret", "istio-ca-secret", "-n", "istio-system"])
        .output()
        .unwrap();
    assert!(
        !secret.status.success(),
        "{id}: istiod must not create a self-signed istio-ca-secret"
    );
}

/// One three-cluster lab: istiod loads our CA and syncs every remote; north leaves; then, on
/// east and west (the mesh file down to them), istioctl's remote secret and ours compared.
#[test]
fn istiod_loads_our_ca_syncs_every_remote_and_forgets_one_that_leaves() {
    let lab = Lab::up_with(3, |o| o.load_balancers = false).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (certs, join) = joined(&lab, w, &CLUSTERS, &[]);
    let pods: Vec<IstiodPod> = CLUSTERS
        .iter()
        .map(|(_, ctx)| IstiodPod::ready(&lab, ctx))
        .collect();
    for ((id, _), pod) in CLUSTERS.iter().zip(&pods) {
        uses_our_ca(&lab, w, id, pod);
    }

    // Every istiod reports every other cluster synced (clusterz, by port-forward).
    for ((id, _), pod) in CLUSTERS.iter().zip(&pods) {
        let others: Vec<&str> = CLUSTERS.iter().map(|c| c.0).filter(|c| c != id).collect();
        pod.wait_clusterz("every remote synced", |z| {
            others
                .iter()
                .all(|o| sync_status(z, o).as_deref() == Some("synced"))
        });
    }
    // mesh-verify finds the same pods, port-forwards to them and agrees.
    let mesh = Mesh {
        lab: &lab,
        dir: w,
        certs,
        join: join.clone(),
    };
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    let synced = results(&report, "istiod.remote-clusters-synced");
    assert_eq!(synced.len(), 3, "{synced:#?}");
    for ((id, _), pod) in CLUSTERS.iter().zip(&pods) {
        let r = synced.iter().find(|c| c["cluster"] == *id).unwrap();
        assert_eq!(r["result"], "pass", "{r:#}");
        let message = r["message"].as_str().unwrap();
        assert!(
            message.contains("2 remote cluster(s) synced")
                && message.contains(&format!("pod {}, by port-forward", pod.name)),
            "{r:#}"
        );
    }

    // After north leaves, it disappears from the others' istiod.
    ok(run(
        &join,
        &lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "north", "--yes"],
    ));
    for (id, other, pod) in [("east", "west", &pods[0]), ("west", "east", &pods[1])] {
        let z = pod.wait_clusterz("north gone", |z| sync_status(z, "north").is_none());
        assert_eq!(
            sync_status(&z, other).as_deref(),
            Some("synced"),
            "{id} still syncs {other}"
        );
    }
    let mut yaml = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n".to_string();
    for (name, ctx) in &CLUSTERS[..2] {
        yaml += &format!("- {{name: {name}, context: {ctx}, network: network1, role: primary}}\n");
    }
    std::fs::write(w.join("mesh.yaml"), yaml).unwrap();
    istioctl_and_our_remote_secrets_are_equivalent_and_a_broken_one_is_reported(&lab, w, &join);
}

/// istioctl's `create-remote-secret` for west, and ours (`mesh-join remote-secret`), compared
/// field by field; (istioctl's output, our secret's kubeconfig).
fn remote_secrets_compared(lab: &Lab, w: &Path, join: &str) -> (Output, Value) {
    let server = lab.clusters()[1].server.clone();
    let theirs = Command::new(lab.bin("istioctl").unwrap())
        .args([
            "create-remote-secret",
            "--context",
            "lab-2",
            "--name",
            "west",
        ])
        .args(["--server", &server])
        .arg(format!("--kubeconfig={}", lab.kubeconfig().display()))
        .output()
        .unwrap();
    assert!(theirs.status.success(), "istioctl: {}", text(&theirs));
    let ours = ok(run(
        join,
        lab,
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
    assert!(
        String::from_utf8_lossy(&ours.stdout)
            .starts_with("# This file is autogenerated, do not edit.")
    );
    let (t, o) = (secret_of(&theirs), secret_of(&ours));
    for field in ["name", "namespace", "labels"] {
        assert_eq!(t["metadata"][field], o["metadata"][field], "{field}");
    }
    let cluster = |v: &Value| v["metadata"]["annotations"]["networking.istio.io/cluster"].clone();
    assert_eq!(cluster(&t), cluster(&o));
    let keys = |v: &Value| -> Vec<String> {
        v["stringData"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(&t), keys(&o));
    let kc = |v: &Value| yaml_value(v["stringData"]["west"].as_str().unwrap());
    let (tk, ok_) = (kc(&t), kc(&o));
    for k in ["apiVersion", "kind", "current-context", "contexts"] {
        assert_eq!(tk[k], ok_[k], "{k}");
    }
    let (tc, oc) = (&tk["clusters"][0], &ok_["clusters"][0]);
    assert_eq!(tc["name"], oc["name"]);
    for k in ["server", "certificate-authority-data"] {
        assert_eq!(tc["cluster"][k], oc["cluster"][k], "{k}");
    }
    assert_eq!(tk["users"][0]["name"], ok_["users"][0]["name"]);
    assert!(
        tk["users"][0]["user"]["token"].is_string() && ok_["users"][0]["user"]["token"].is_string()
    );
    (theirs, ok_)
}

/// The Secret document of a `kubectl apply`-able stream.
fn secret_of(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    yaml_value(
        text.split("\n---")
            .find(|d| d.contains("kind: Secret"))
            .unwrap(),
    )
}

fn yaml_value(doc: &str) -> Value {
    serde_json::to_value(yaml_serde::from_str::<Value>(doc).unwrap()).unwrap()
}

/// `kubectl apply -f -` of `manifest` in `ctx`.
fn apply_text(lab: &Lab, ctx: &str, manifest: &[u8]) {
    let mut child = lab
        .kubectl(ctx)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), manifest).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// East's remote secret for west given a token that is not valid (the rest of `kubeconfig`).
fn break_west_secret(lab: &Lab, kubeconfig: &Value) {
    let mut broken = kubeconfig.clone();
    broken["users"][0]["user"]["token"] = Value::String("not-a-valid-token".into());
    let b64 = base64::engine::general_purpose::STANDARD.encode(broken.to_string());
    let patch = format!(r#"{{"data":{{"west":"{b64}"}},"stringData":null}}"#);
    support::kubectl(
        lab,
        "lab-1",
        &[
            "patch",
            "secret",
            "istio-remote-secret-west",
            "-n",
            "istio-system",
            "--type=merge",
            "-p",
            &patch,
        ],
    );
}

/// On east and west, joined: istiod takes istioctl's remote secret in place of ours; a broken
/// one is reported by istiod and by mesh-verify; a rejoin repairs it.
fn istioctl_and_our_remote_secrets_are_equivalent_and_a_broken_one_is_reported(
    lab: &Lab,
    w: &Path,
    join: &str,
) {
    let east = IstiodPod::ready(lab, "lab-1");
    let west_synced = |z: &[Value]| sync_status(z, "west").as_deref() == Some("synced");
    east.wait_clusterz("west synced", west_synced);

    let (theirs, ours) = remote_secrets_compared(lab, w, join);
    // istiod accepts istioctl's secret in place of ours.
    apply_text(lab, "lab-1", &theirs.stdout);
    east.wait_clusterz("west synced with istioctl's secret", west_synced);

    // A broken secret (a token that is not valid): istiod stops syncing and mesh-verify, which
    // port-forwards to the same pod, says so.
    break_west_secret(lab, &ours);
    east.wait_clusterz("west not synced", |z| {
        sync_status(z, "west").is_some_and(|s| s != "synced")
    });
    let v = run(
        VERIFY,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    let report: Value = serde_json::from_slice(&v.stdout).unwrap();
    let failed = support::failing(&report);
    let failed_in_east = |id: &str| failed.iter().find(|f| f.0 == id && f.1 == "east");
    assert!(
        failed_in_east("remote.credentials").is_some(),
        "{failed:#?}"
    );
    let (_, _, _, hint) =
        failed_in_east("istiod.remote-clusters-synced").unwrap_or_else(|| panic!("{failed:#?}"));
    assert!(hint.contains("remote-access"), "{hint}");
    let synced = results(&report, "istiod.remote-clusters-synced");
    let message = synced.iter().find(|c| c["cluster"] == "east").unwrap()["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains(&format!("pod {}, by port-forward", east.name)),
        "{message}"
    );
    // A rejoin taking back the patched field repairs it, and istiod syncs again.
    ok(join_mesh_with(join, lab, w, &["--force-conflicts"]));
    east.wait_clusterz("west synced again", west_synced);
}
