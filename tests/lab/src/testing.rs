//! Helpers the lab test suites share: run a plugin against a lab, check its exit code with its
//! output in the failure message, read objects with the lab's kubectl.
#![allow(clippy::expect_used, clippy::panic)]

use crate::Lab;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs plugin binary `bin` in `cwd` against the lab (`KUBECONFIG`), without colour and
/// without an inherited `MESH_CERTS_DIR`.
pub fn run_plugin(bin: &str, lab: &Lab, cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .env_remove("MESH_CERTS_DIR")
        .output()
        .expect("run plugin")
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts exit code 0 and hands the output back.
pub fn expect_success(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    o
}

/// `kubectl get … -o json` with the lab's kubectl; `None` when kubectl fails (e.g. NotFound).
pub fn kubectl_json(lab: &Lab, ctx: &str, args: &[&str]) -> Option<Value> {
    let o = lab
        .kubectl(ctx)
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("kubectl");
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).expect("kubectl printed JSON"))
}

/// The path of another package's plugin binary (built when missing), as a string.
pub fn plugin_path(package: &str) -> String {
    crate::plugin_bin(package)
        .expect("plugin binary")
        .display()
        .to_string()
}

/// `text` followed by every base64 run in it decoded (twice over, so a token inside a
/// kubeconfig inside a Secret's `data` shows in plain): what a secret scan must search.
pub fn leak_views(text: &str) -> String {
    let mut out = text.to_string();
    let mut layer = text.to_string();
    for _ in 0..2 {
        let decoded: Vec<String> = base64_runs(&layer)
            .iter()
            .filter_map(|r| decode(r))
            .collect();
        layer = decoded.join("\n");
        out.push('\n');
        out.push_str(&layer);
    }
    out
}

fn base64_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|r| r.len() >= 40)
        .map(String::from)
        .collect()
}

fn decode(run: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(run).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `mesh-join -f mesh.yaml --allow-loopback` run in `cwd`; the lab's Sail operator installs
/// the control planes (and the reader account and RBAC, from its charts) and reports them Ready.
pub fn join_mesh(bin: &str, lab: &Lab, cwd: &Path) -> Output {
    join_mesh_with(bin, lab, cwd, &[])
}

/// [`join_mesh`] with more flags (e.g. `--force-conflicts` to repair a field a test changed).
pub fn join_mesh_with(bin: &str, lab: &Lab, cwd: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["-f", "mesh.yaml", "--allow-loopback", "--timeout", "180s"];
    args.extend_from_slice(extra);
    run_plugin(bin, lab, cwd, &args)
}

/// What a mesh may leave in a cluster, by name: namespaces, cluster-wide RBAC, webhooks, Sail
/// resources, and every object in `istio-system`'s usual kinds. Compared before a join and
/// after `leave --purge`: anything the join, the operator's charts or istiod created and left
/// behind shows here. A kind that cannot be listed fails the test.
pub fn footprint(lab: &Lab, ctx: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [
        "namespaces",
        "clusterroles",
        "clusterrolebindings",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "istios.sailoperator.io",
        "istiorevisions.sailoperator.io",
        "istiocnis.sailoperator.io",
        "configmaps,secrets,serviceaccounts,services,deployments,roles,rolebindings",
    ] {
        let list = kubectl_json(lab, ctx, &["get", kind, "-n", "istio-system"])
            .unwrap_or_else(|| panic!("{ctx}: kubectl get {kind} failed"));
        for item in list["items"].as_array().expect("items") {
            let kind = item["kind"].as_str().unwrap_or_default();
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            // Kubernetes' own objects come and go with the cluster, not the mesh.
            if name.starts_with("system:") || name == "kube-root-ca.crt" || name == "default" {
                continue;
            }
            let ns = item["metadata"]["namespace"].as_str().unwrap_or("-");
            out.push(format!("{kind} {ns}/{name}"));
        }
    }
    out.sort();
    out
}
