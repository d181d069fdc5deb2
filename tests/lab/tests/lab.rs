//! Acceptance tests of the lab itself: real control planes as local processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_lab::{Lab, LabOptions};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running kubectl")
}

fn apply(lab: &Lab, ctx: &str, yaml: &str) -> Output {
    use std::io::Write;
    let mut child = lab
        .kubectl(ctx)
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    child.wait_with_output().expect("kubectl")
}

/// Processes whose command line mentions `dir` (lab processes started there).
fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmd).contains(&needle)
        })
        .collect()
}

#[test]
fn three_clusters_serve_crds_tokens_rbac_and_stay_isolated() {
    let started = Instant::now();
    let lab = Lab::up(3).expect("lab up");
    let up = started.elapsed();
    let memory = lab.memory_kib();
    eprintln!(
        "lab: 3 clusters up in {:.1}s; memory (MiB): {:?}",
        up.as_secs_f64(),
        memory.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    assert_eq!(lab.contexts(), ["lab-1", "lab-2", "lab-3"]);

    // kubectl works against every context, and the CRDs are served.
    for ctx in lab.contexts() {
        let resources = ok(
            run(lab.kubectl(&ctx).args(["api-resources", "-o", "name"])),
            "api-resources",
        );
        for want in [
            "istios.sailoperator.io",
            "istiocnis.sailoperator.io",
            "gateways.networking.istio.io",
            "virtualservices.networking.istio.io",
            "peerauthentications.security.istio.io",
        ] {
            assert!(
                resources.lines().any(|l| l == want),
                "{ctx}: {want} missing from api-resources"
            );
        }
    }

    // Isolation: an object in lab-1 is not in lab-2.
    ok(
        run(lab
            .kubectl("lab-1")
            .args(["create", "configmap", "only-in-lab-1", "-n", "default"])),
        "create cm",
    );
    ok(
        run(lab
            .kubectl("lab-1")
            .args(["get", "configmap", "only-in-lab-1", "-n", "default"])),
        "get cm lab-1",
    );
    let other =
        run(lab
            .kubectl("lab-2")
            .args(["get", "configmap", "only-in-lab-1", "-n", "default"]));
    assert!(
        !other.status.success(),
        "lab-2 must not see lab-1's ConfigMap"
    );
    assert!(String::from_utf8_lossy(&other.stderr).contains("NotFound"));

    // The controller manager fills a service-account-token Secret; the token authenticates,
    // and RBAC holds it to a read-only role.
    let rbac = r#"
apiVersion: v1
kind: Namespace
metadata: {name: lab-rbac}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: lab-rbac}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: lab-read-only}
rules:
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: lab-read-only}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: lab-read-only}
subjects:
- {kind: ServiceAccount, name: reader, namespace: lab-rbac}
---
apiVersion: v1
kind: Secret
metadata:
  name: reader-token
  namespace: lab-rbac
  annotations: {kubernetes.io/service-account.name: reader}
type: kubernetes.io/service-account-token
"#;
    ok(apply(&lab, "lab-2", rbac), "apply rbac");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (token, ca) = loop {
        let out = run(lab.kubectl("lab-2").args([
            "get",
            "secret",
            "reader-token",
            "-n",
            "lab-rbac",
            "-o",
            "jsonpath={.data.token} {.data.ca\\.crt}",
        ]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut parts = text.split(' ');
        if let (Some(t), Some(c)) = (parts.next(), parts.next())
            && !t.is_empty()
            && !c.is_empty()
        {
            break (t.to_string(), c.to_string());
        }
        assert!(
            Instant::now() < deadline,
            "token controller did not fill reader-token"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let token = String::from_utf8(b64.decode(token).expect("b64")).expect("utf8");
    let ca = b64.decode(ca).expect("b64");
    assert_eq!(
        ca,
        lab.clusters()[1].ca_pem.as_bytes(),
        "ca.crt is the cluster CA"
    );
    let ca_file = lab.dir().join("reader-ca.crt");
    fs::write(&ca_file, &ca).expect("write ca");
    let as_reader = |args: &[&str]| {
        Command::new(lab.bin("kubectl").expect("kubectl"))
            .arg(format!("--server={}", lab.clusters()[1].server))
            .arg(format!("--certificate-authority={}", ca_file.display()))
            .arg(format!("--token={token}"))
            .arg("--kubeconfig=/dev/null")
            .args(args)
            .output()
            .expect("kubectl")
    };
    ok(
        as_reader(&["get", "services", "-A"]),
        "reader lists services",
    );
    let whoami = ok(
        as_reader(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ]),
        "whoami",
    );
    assert_eq!(whoami, "system:serviceaccount:lab-rbac:reader");
    let denied = as_reader(&["create", "secret", "generic", "nope", "-n", "lab-rbac"]);
    assert!(
        !denied.status.success(),
        "a read-only token must not create secrets"
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("forbidden"),
        "expected Forbidden, got {}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let bad = Command::new(lab.bin("kubectl").expect("kubectl"))
        .arg(format!("--server={}", lab.clusters()[1].server))
        .arg(format!("--certificate-authority={}", ca_file.display()))
        .arg("--token=not-a-token")
        .arg("--kubeconfig=/dev/null")
        .args(["get", "services"])
        .output()
        .expect("kubectl");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Unauthorized"),
        "a bad token is refused"
    );

    // Schema validation of the Sail CRDs is real.
    let valid = "apiVersion: sailoperator.io/v1\nkind: Istio\nmetadata: {name: default}\nspec:\n  version: v1.28.1\n  namespace: istio-system\n  values: {global: {meshID: mesh1, network: network1, multiCluster: {clusterName: east}}}\n";
    ok(apply(&lab, "lab-3", valid), "valid Istio");
    let defaults = ok(
        run(lab.kubectl("lab-3").args([
            "get",
            "istio",
            "default",
            "-o",
            "jsonpath={.spec.updateStrategy.type}",
        ])),
        "get istio",
    );
    assert_eq!(defaults, "InPlace", "CRD defaults are applied");
    for (bad, what) in [
        ("  profile: bogus\n", "Unsupported value"),
        (
            "  values: {global: {externalIstiod: \"yes\"}}\n",
            "must be of type boolean",
        ),
        (
            "  values: {global: {istioNamespace: other}}\n",
            "must match spec.namespace",
        ),
        ("  unknownField: 1\n", "unknown field"),
    ] {
        let doc = format!(
            "apiVersion: sailoperator.io/v1\nkind: Istio\nmetadata: {{name: bad}}\nspec:\n  version: v1.28.1\n{bad}"
        );
        let out = apply(&lab, "lab-3", &doc);
        assert!(!out.status.success(), "invalid Istio accepted: {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "expected {what:?} in {err}");
    }
    let cni = apply(
        &lab,
        "lab-3",
        "apiVersion: sailoperator.io/v1\nkind: IstioCNI\nmetadata: {name: other}\nspec: {version: v1.28.1}\n",
    );
    assert!(String::from_utf8_lossy(&cni.stderr).contains("must be 'default'"));

    // Namespace deletion completes (namespace + garbage-collector controllers).
    ok(
        run(lab.kubectl("lab-1").args(["create", "namespace", "doomed"])),
        "create ns",
    );
    ok(
        run(lab
            .kubectl("lab-1")
            .args(["create", "configmap", "x", "-n", "doomed"])),
        "create cm",
    );
    ok(
        run(lab.kubectl("lab-1").args([
            "delete",
            "namespace",
            "doomed",
            "--wait=true",
            "--timeout=60s",
        ])),
        "delete ns",
    );
    let gone = run(lab.kubectl("lab-1").args(["get", "namespace", "doomed"]));
    assert!(
        !gone.status.success(),
        "namespace still present after delete"
    );

    // Every process is still up; stop leaves none behind.
    let dir = lab.dir().to_path_buf();
    assert!(
        processes_under(&dir).len() >= 9,
        "etcd, apiserver and KCM for each cluster"
    );
    drop(lab);
    assert!(
        processes_under(&dir).is_empty(),
        "processes left after drop"
    );
}

#[test]
fn a_failed_start_says_why_and_leaves_no_processes() {
    let tmp = tempfile::tempdir().expect("tmp");

    // A binary missing.
    let empty = tmp.path().join("empty-bin");
    fs::create_dir_all(&empty).expect("mkdir");
    let mut options = LabOptions::new(1, tmp.path().join("a"));
    options.bin_dir = Some(empty.clone());
    let err = format!("{:#}", Lab::start(options).expect_err("must fail"));
    assert!(
        err.contains("etcd not found") && err.contains("tests/lab-go/build.sh"),
        "{err}"
    );

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut options = LabOptions::new(1, tmp.path().join("b"));
    options.base_port = Some(port);
    let err = format!("{:#}", Lab::start(options).expect_err("must fail"));
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("lab-1 kube-apiserver"),
        "{err}"
    );

    // A program that dies after others started: the error carries its log, and etcd is stopped.
    let real = mesh_lab::default_bin_dir();
    let broken = tmp.path().join("broken-bin");
    fs::create_dir_all(&broken).expect("mkdir");
    for name in [
        "etcd",
        "kube-controller-manager",
        "kubectl",
        "kube-scheduler",
        "kwok",
    ] {
        std::os::unix::fs::symlink(real.join(name), broken.join(name)).expect("link");
    }
    let fake = broken.join("kube-apiserver");
    fs::write(
        &fake,
        "#!/bin/sh\necho 'simulated failure: cannot listen' >&2\nexit 3\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = tmp.path().join("c");
    let mut options = LabOptions::new(2, &dir);
    options.bin_dir = Some(broken);
    options.crds = false;
    let err = format!("{:#}", Lab::start(options).expect_err("must fail"));
    assert!(
        err.contains("kube-apiserver") && err.contains("simulated failure"),
        "{err}"
    );
    assert!(
        processes_under(&dir).is_empty(),
        "stray processes after a failed start: {:?}",
        processes_under(&dir)
    );
    assert!(
        !dir.join("lab.json").exists(),
        "no state file for a lab that did not start"
    );
}

#[test]
fn the_command_line_brings_a_lab_up_reports_it_and_takes_it_down() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("lab");
    let exe = env!("CARGO_BIN_EXE_mesh-lab");
    let up = Command::new(exe)
        .args(["up", "--clusters", "1", "--no-crds", "--bare", "--dir"])
        .arg(&dir)
        .output()
        .expect("mesh-lab up");
    let stdout = ok(up, "mesh-lab up");
    assert_eq!(
        stdout.trim(),
        format!(
            "export KUBECONFIG={}",
            dir.canonicalize()
                .expect("dir")
                .join("kubeconfig")
                .display()
        )
    );
    let status = Command::new(exe)
        .args(["status", "--json", "--dir"])
        .arg(&dir)
        .output()
        .expect("status");
    let report: serde_json::Value = serde_json::from_str(&ok(status, "status")).expect("json");
    let procs = report.as_array().expect("array");
    // --bare: the control plane only, no kube-scheduler or kwok.
    let names: Vec<_> = procs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["etcd", "kube-apiserver", "kube-controller-manager"],
        "{report}"
    );
    assert!(procs.iter().all(|p| p["running"] == true));
    // Up again on a running lab: refused.
    let again = Command::new(exe)
        .args(["up", "--clusters", "1", "--dir"])
        .arg(&dir)
        .output()
        .expect("up");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));
    ok(
        Command::new(exe)
            .args(["down", "--dir"])
            .arg(&dir)
            .output()
            .expect("down"),
        "down",
    );
    assert!(
        processes_under(&dir).is_empty(),
        "processes left after down"
    );
    let status = Command::new(exe)
        .args(["status", "--dir"])
        .arg(&dir)
        .output()
        .expect("status");
    assert_eq!(status.status.code(), Some(2), "no lab after down");
}
