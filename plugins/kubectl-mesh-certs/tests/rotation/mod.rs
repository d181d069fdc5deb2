//! Helpers of the certificate lab tests (`lab_trust`, `lab_rotate_root_istiod`): running the
//! plugin, reading `cacerts`, openssl as the referee, hashing the certificate directory;
//! [`istiod`]: the operator's istiod pods.
#![allow(dead_code)]

pub mod istiod;

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::testing::kubectl_json;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CERTS: &str = env!("CARGO_BIN_EXE_kubectl-mesh_certs");

/// Both lab clusters, as each stage names them.
pub const BOTH: &[&str] = &["--context", "lab-1,lab-2", "--cluster", "east,west"];

/// `rotate-root STAGE` over [`BOTH`], then `extra`.
pub fn args<'a>(stage: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["rotate-root", stage];
    v.extend_from_slice(BOTH);
    v.extend_from_slice(extra);
    v
}

pub fn certs(lab: &Lab, cwd: &Path, args: &[&str]) -> Output {
    mesh_lab::testing::run_plugin(CERTS, lab, cwd, args)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn cacerts(lab: &Lab, ctx: &str) -> Value {
    kubectl_json(
        lab,
        ctx,
        &["get", "secret", "cacerts", "-n", "istio-system"],
    )
    .expect("cacerts exists")
}

pub fn data(secret: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().expect("key"))
        .expect("base64")
}

/// Number of certificates in a PEM text.
pub fn pem_count(bytes: &[u8]) -> usize {
    String::from_utf8_lossy(bytes)
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

/// `openssl verify -CAfile trust -untrusted chain cert`: whether it verifies, and the output.
pub fn verify(dir: &Path, trust: &[u8], chain: &[u8], cert: &[u8]) -> (bool, String) {
    std::fs::write(dir.join("trust.pem"), trust).unwrap();
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    let o = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            "trust.pem",
            "-untrusted",
            "chain.pem",
            "cert.pem",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success() && text.contains("cert.pem: OK"), text)
}

/// SHA-256 of every file under `dir`, by relative path (the directory's whole state).
pub fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let digest = Sha256::digest(std::fs::read(&p).unwrap());
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    format!("{digest:x}"),
                );
            }
        }
    }
    out
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The `root-cert.pem` of the `istio-ca-root-cert` ConfigMap in `ns`.
pub fn root_configmap(lab: &Lab, ctx: &str, ns: &str) -> Option<String> {
    kubectl_json(
        lab,
        ctx,
        &["get", "configmap", "istio-ca-root-cert", "-n", ns],
    )
    .and_then(|v| v["data"]["root-cert.pem"].as_str().map(String::from))
}

/// Starts the plugin in the background (for [`istiod::run_sampling`]).
pub fn spawn_certs(lab: &Lab, cwd: &Path, args: &[&str]) -> Child {
    Command::new(CERTS)
        .args(args)
        .current_dir(cwd)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .env_remove("MESH_CERTS_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin")
}

/// Waits until `cond` holds (or fails the test after `secs`, saying `what`).
pub fn eventually(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Puts an earlier copy of `cacerts` back (what the cluster held before a run was killed),
/// written as the plugin writes it: server-side apply by its field manager.
pub fn put_back(lab: &Lab, ctx: &str, secret: &Value) {
    let mut s = secret.clone();
    for f in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
    ] {
        s["metadata"].as_object_mut().unwrap().remove(f);
    }
    let path = lab.dir().join(format!("put-back-{ctx}.json"));
    std::fs::write(&path, s.to_string()).unwrap();
    let o = lab
        .kubectl(ctx)
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            mesh_core::cluster::CERTS_FIELD_MANAGER,
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `status -o json` over [`BOTH`], expecting exit 0.
pub fn status_ok(lab: &Lab, w: &Path) -> Value {
    let mut a = vec!["status", "-o", "json"];
    a.extend_from_slice(BOTH);
    let o = certs(lab, w, &a);
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    v
}
