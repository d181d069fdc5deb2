//! The seed-built section of `lab_operator`, on its clusters purged back to untouched: a mesh
//! built the seeds' way (seed 004 with the upstream files it follows: `kubectl create
//! secret generic cacerts`, a namespace label, one `Istio` manifest, `kubectl wait`, the
//! published east-west gateway and expose-services files, `istioctl create-remote-secret |
//! kubectl apply` per pair), with the lab's kubectl and istioctl and the real Sail operator:
//! `mesh-verify` reads it as healthy, and `mesh-join` run over it afterwards writes only what
//! the seeds' commands left out.

use crate::join::{JOIN, Untouched, untouched};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{
    describe as text, expect_success as ok, kubectl_json, plugin_path, run_plugin as run,
};
use serde_json::Value;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/seed");

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nistio:\n  version: v1.30.3\nclusters:\n- {name: c1, context: lab-1, network: network1, role: primary}\n- {name: c2, context: lab-2, network: network2, role: primary}\n";

/// Seed 004, "Install Istio on the East cluster", step 1.
fn istio_manifest(i: usize) -> String {
    format!(
        "apiVersion: sailoperator.io/v1\nkind: Istio\nmetadata:\n  name: default\nspec:\n  version: v1.30.3\n  namespace: istio-system\n  values:\n    global:\n      meshID: mesh1\n      network: network{i}\n      multiCluster:\n        clusterName: c{i}\n"
    )
}

fn sh(lab: &Lab, cmd: &mut Command, stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = cmd
        .env("KUBECONFIG", lab.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    o.stdout
}

fn kubectl(lab: &Lab, ctx: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    sh(lab, lab.kubectl(ctx).args(args), stdin)
}

/// The seeds' commands, one process each, in their order.
fn build_the_seeds_way(lab: &Lab, w: &Path) {
    for (i, ctx) in [(1, "lab-1"), (2, "lab-2")] {
        let dir = w.join(format!("mesh-certs/c{i}"));
        let files: Vec<String> = [
            "ca-cert.pem",
            "ca-key.pem",
            "root-cert.pem",
            "cert-chain.pem",
        ]
        .iter()
        .map(|f| format!("--from-file={}", dir.join(f).display()))
        .collect();
        kubectl(lab, ctx, &["create", "namespace", "istio-system"], None);
        let mut args = vec![
            "create",
            "secret",
            "generic",
            "cacerts",
            "-n",
            "istio-system",
        ];
        args.extend(files.iter().map(String::as_str));
        kubectl(lab, ctx, &args, None);
        let label = format!("topology.istio.io/network=network{i}");
        kubectl(
            lab,
            ctx,
            &["label", "namespace", "istio-system", &label],
            None,
        );
        kubectl(
            lab,
            ctx,
            &["apply", "-f", "-"],
            Some(istio_manifest(i).as_bytes()),
        );
        let wait = [
            "wait",
            "--for",
            "condition=Ready",
            "istio/default",
            "--timeout=3m",
        ];
        kubectl(lab, ctx, &wait, None);
        let gateway = format!("{SEED}/east-west-gateway-net{i}.yaml");
        kubectl(lab, ctx, &["apply", "-f", &gateway], None);
        let expose = format!("{SEED}/expose-services.yaml");
        kubectl(
            lab,
            ctx,
            &["apply", "-n", "istio-system", "-f", &expose],
            None,
        );
    }
    let istioctl = lab.bin("istioctl").unwrap();
    for (reader, source, name) in [("lab-1", "lab-2", "c2"), ("lab-2", "lab-1", "c1")] {
        let secret = sh(
            lab,
            Command::new(&istioctl).args([
                "create-remote-secret",
                "--context",
                source,
                "--name",
                name,
            ]),
            None,
        );
        kubectl(lab, reader, &["apply", "-f", "-"], Some(&secret));
    }
}

fn failing(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["result"] == "fail")
        .map(|c| {
            format!(
                "{} {} {}: {}",
                c["id"], c["cluster"], c["peer"], c["message"]
            )
        })
        .collect()
}

/// The seed-built mesh on untouched clusters: `mesh-verify` reads it as healthy, `mesh-join`
/// over it writes only what the seeds left out, and `leave` keeps the seed's gateways. The
/// lab's last section: it leaves the mesh it built.
pub fn section(lab: &Lab, fresh: &Untouched) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let certs = plugin_path("kubectl-mesh-certs");
    ok(run(&certs, lab, w, &["create", "--clusters", "c1,c2"]));
    build_the_seeds_way(lab, w);
    verify_reads_it_as_healthy(lab, w);
    join_writes_only_what_the_seeds_left_out(lab, w);
    leave_keeps_the_seeds_gateway(lab, w);
}

/// The revision label on the pod template of `ctx`'s east-west gateway Deployment.
fn rev(lab: &Lab, ctx: &str) -> Value {
    let d = kubectl_json(
        lab,
        ctx,
        &[
            "get",
            "deployment",
            "istio-eastwestgateway",
            "-n",
            "istio-system",
        ],
    )
    .unwrap();
    d["spec"]["template"]["metadata"]["labels"]["istio.io/rev"].clone()
}

/// `mesh-verify` fails no check and exits 0.
fn verify_reads_it_as_healthy(lab: &Lab, w: &Path) {
    // istiod's own view comes from the operator's istiod pods, read by port-forward.
    let verify = plugin_path("kubectl-mesh-verify");
    let args: Vec<String> = [
        "-f",
        "mesh.yaml",
        "--allow-loopback",
        "-o",
        "json",
        "--wait",
        "60s",
    ]
    .map(String::from)
    .to_vec();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = run(&verify, lab, w, &args);
    let report: Value = serde_json::from_slice(&v.stdout).expect("verify JSON");
    assert_eq!(failing(&report), Vec::<String>::new(), "{}", text(&v));
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

/// mesh-join over it: only what the seeds left out is written, and a second run writes nothing.
fn join_writes_only_what_the_seeds_left_out(lab: &Lab, w: &Path) {
    let plan = run(
        JOIN,
        lab,
        w,
        &[
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--force-conflicts",
        ],
    );
    eprintln!(
        "plan over the seed-built mesh (taking every field):\n{}",
        text(&plan)
    );
    assert_eq!(
        rev(lab, "lab-1"),
        Value::Null,
        "the seed's gateway pods carry no revision"
    );
    let m = marks(lab);
    let o = ok(run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--timeout", "60s"],
    ));
    let writes = writes_since(lab, &m);
    // The one thing the seeds leave out: the revision label on the gateway's pod template
    // (the published gateway file puts it on the objects, not on the pods).
    assert_eq!(
        writes,
        vec![vec!["patch deployments istio-eastwestgateway".to_string()]; 2],
        "{}",
        text(&o)
    );
    for ctx in ["lab-1", "lab-2"] {
        assert_eq!(rev(lab, ctx), "default", "{ctx}");
    }
    let m = marks(lab);
    ok(run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--timeout", "60s"],
    ));
    let again = writes_since(lab, &m);
    assert!(
        again.iter().all(Vec::is_empty),
        "a second join wrote {again:?}"
    );
    assert!(
        writes
            .iter()
            .flatten()
            .all(|w| !w.contains("secrets cacerts")),
        "join rewrote the seeds' cacerts: {writes:?}"
    );
}

/// The join's one write to the seed's gateway adopted it (marked); `leave` then takes off only
/// the join's fields (the pod template's revision label, the mark) and keeps the gateways,
/// which the seed made (the revision label, present before, is the positive control).
fn leave_keeps_the_seeds_gateway(lab: &Lab, w: &Path) {
    let gateway = |ctx: &str| {
        kubectl_json(
            lab,
            ctx,
            &[
                "get",
                "deployment",
                "istio-eastwestgateway",
                "-n",
                "istio-system",
            ],
        )
    };
    let adopted = |d: &Value| d["metadata"]["annotations"]["kubectl-mesh.io/adopted"].clone();
    assert_eq!(
        adopted(&gateway("lab-2").unwrap()),
        "true",
        "the write adopted it"
    );
    let o = ok(run(
        JOIN,
        lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "c2", "--yes"],
    ));
    let said = text(&o);
    assert!(
        said.contains("existed before kubectl-mesh changed it"),
        "the plan says the gateway is released, not deleted: {said}"
    );
    // A one-cluster mesh needs no east-west gateway either: c1's is released the same way.
    for ctx in ["lab-1", "lab-2"] {
        let left = gateway(ctx).expect("the seed's gateway is still there");
        assert_eq!(
            adopted(&left),
            Value::Null,
            "{ctx}: the mark went with our fields"
        );
        assert_eq!(
            rev(lab, ctx),
            Value::Null,
            "{ctx}: the revision label is taken off"
        );
    }
}
