//! Helpers of the root-rotation lab tests: running the plugin, reading `cacerts`, openssl as
//! the referee, hashing the certificate directory, and the kubelet's part for an istiod that
//! runs as a local process.
#![allow(dead_code)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::istiod::Istiod;
use mesh_lab::testing::kubectl_json;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CERTS: &str = env!("CARGO_BIN_EXE_kubectl-mesh_certs");

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

/// What istiod's `/debug/clusterz` showed while a stage ran: how many samples saw a remote
/// cluster `synced`, and every sample that saw one otherwise.
#[derive(Debug, Default)]
pub struct Samples {
    pub synced: usize,
    pub other: Vec<String>,
}

/// The kubelet's part for istiods that run as local processes: copies each cluster's
/// `cacerts` Secret into the istiod's `ROOT_CA_DIR` whenever it changes (file by file,
/// each renamed into place, as a Secret volume update lands), until `child` exits; meanwhile
/// samples each istiod's view of the remote clusters.
pub fn run_syncing(lab: &Lab, istiods: &[Istiod], mut child: Child) -> (Output, Samples) {
    let mut seen: Vec<String> = vec![String::new(); istiods.len()];
    let mut samples = Samples::default();
    loop {
        for (i, d) in istiods.iter().enumerate() {
            let ctx = &lab.contexts()[d.cluster];
            if let Some(secret) = kubectl_json(
                lab,
                ctx,
                &["get", "secret", "cacerts", "-n", "istio-system"],
            ) {
                let rv = secret["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if rv != seen[i] {
                    sync_files(&d.dir.join("cacerts"), &secret);
                    seen[i] = rv;
                }
            }
            sample(d, &mut samples);
        }
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), samples);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn sample(d: &Istiod, samples: &mut Samples) {
    let z = d.clusterz().and_then(|v| v.as_array().cloned());
    let Some(z) = z else {
        samples
            .other
            .push(format!("{}: clusterz unreadable", d.cluster_id));
        return;
    };
    for e in z.iter().filter(|e| e["id"] != d.cluster_id.as_str()) {
        match e["syncStatus"].as_str() {
            Some("synced") => samples.synced += 1,
            s => samples
                .other
                .push(format!("{} sees {}: {s:?}", d.cluster_id, e["id"])),
        }
    }
}

fn sync_files(dir: &Path, secret: &Value) {
    use std::os::unix::fs::PermissionsExt;
    for (k, _) in secret["data"].as_object().unwrap() {
        let bytes = data(secret, k);
        let path = dir.join(k);
        if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        let tmp = dir.join(format!(".{k}.tmp"));
        std::fs::write(&tmp, &bytes).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
}

/// Starts the plugin in the background (for [`run_syncing`]).
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

/// [`audit::writes_since`] (its barrier is the positive control) without the writes of the
/// lab's istiods (leader leases, their own ConfigMaps): what every other client stored.
pub fn writes_but_istiod(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    let _ = mesh_lab::audit::writes_since(lab, marks);
    lab.clusters()
        .iter()
        .zip(marks)
        .map(|(c, m)| {
            std::fs::read_to_string(c.audit_log())
                .unwrap()
                .lines()
                .skip(*m)
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|e| {
                    !e["userAgent"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("pilot-discovery")
                })
                .filter_map(|e| mesh_lab::audit::stored_write(&e))
                .filter(|w| !w.starts_with("create configmaps audit-barrier-"))
                .collect()
        })
        .collect()
}
