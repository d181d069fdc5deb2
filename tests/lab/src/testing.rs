//! Helpers the lab test suites share: run a plugin against a lab, check its exit code with its
//! output in the failure message, read objects with the lab's kubectl, reach a pod's port by
//! `kubectl port-forward`.
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

/// `kubectl get … -o json` with the lab's kubectl: `Some` object, `None` when the server
/// says it is absent (NotFound, or a kind it does not serve). Any other failure (an API
/// server that does not answer, a forbidden read, bad arguments) panics naming kubectl's
/// error: "kubectl failed" is never read as "absent". [`kubectl_json_result`] returns it.
pub fn kubectl_json(lab: &Lab, ctx: &str, args: &[&str]) -> Option<Value> {
    kubectl_json_result(lab, ctx, args)
        .unwrap_or_else(|e| panic!("kubectl --context {ctx} {args:?} failed: {e}"))
}

/// [`kubectl_json`], with a failure other than absence as `Err(kubectl's stderr)`.
pub fn kubectl_json_result(lab: &Lab, ctx: &str, args: &[&str]) -> Result<Option<Value>, String> {
    let o = lab
        .kubectl(ctx)
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("kubectl");
    if o.status.success() {
        return Ok(Some(
            serde_json::from_slice(&o.stdout).expect("kubectl printed JSON"),
        ));
    }
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    if absent(&stderr) {
        Ok(None)
    } else {
        Err(stderr)
    }
}

/// kubectl's words for "no such object" and "no such kind".
fn absent(stderr: &str) -> bool {
    stderr.contains("(NotFound)") || stderr.contains("the server doesn't have a resource type")
}

/// The path of another package's plugin binary (built when missing), as a string.
pub fn plugin_path(package: &str) -> String {
    crate::plugin_bin(package)
        .expect("plugin binary")
        .display()
        .to_string()
}

/// `text` followed by every base64 run in it decoded (twice over, so a token inside a
/// kubeconfig inside a Secret's `data` shows in plain), then each of those layers again with
/// its line breaks, indentation and JSON escapes (`\n`) removed: a PEM key as printed spans
/// lines, so a probe cut from its body (lines joined) matches only there. What a secret scan
/// must search.
pub fn leak_views(text: &str) -> String {
    let mut layers = vec![text.to_string()];
    for _ in 0..2 {
        let decoded: Vec<String> = base64_runs(layers.last().map_or("", String::as_str))
            .iter()
            .chain(base64_runs(&squash(layers.last().map_or("", String::as_str))).iter())
            .filter_map(|r| decode(r))
            .collect();
        layers.push(decoded.join("\n"));
    }
    let squashed: Vec<String> = layers.iter().map(|l| squash(l)).collect();
    format!("{}\n{}", layers.join("\n"), squashed.join("\n"))
}

/// `text` without whitespace and without the escapes JSON writes for line breaks.
fn squash(text: &str) -> String {
    text.replace("\\r", "")
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
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
    // One kubectl per group of kinds a cluster always serves together (a kind it does not
    // serve fails its whole group, as it failed alone).
    for kind in [
        "namespaces,clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations",
        "istios.sailoperator.io,istiorevisions.sailoperator.io,istiocnis.sailoperator.io",
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

/// `kubectl apply -f -` of `manifest` in context `ctx`, as a person applies it; panics when
/// kubectl fails.
pub fn apply(lab: &Lab, ctx: &str, manifest: &Value) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = lab
        .kubectl(ctx)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("kubectl");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(manifest.to_string().as_bytes())
        .expect("manifest");
    drop(stdin);
    assert!(child.wait().expect("kubectl").success(), "apply {manifest}");
}

/// The results of check `id` in a `mesh-verify -o json` report.
pub fn results<'r>(report: &'r Value, id: &str) -> Vec<&'r Value> {
    report["checks"]
        .as_array()
        .expect("a report's checks")
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

/// The one result of check `id` for `cluster` in a `mesh-verify -o json` report.
pub fn result<'r>(report: &'r Value, id: &str, cluster: &str) -> &'r Value {
    let r: Vec<_> = results(report, id)
        .into_iter()
        .filter(|c| c["cluster"] == cluster)
        .collect();
    assert_eq!(r.len(), 1, "{id} for {cluster}: {report:#}");
    r[0]
}

/// `kubectl port-forward` to a pod's port through the API server (the lab's kwok serves the
/// kubelet's side), open until dropped. kubectl prints a line per connection: a thread reads
/// its output, so the pipe neither fills nor closes (either would end kubectl), and keeps
/// its error output for failure messages.
#[derive(Debug)]
pub struct PortForward {
    child: std::process::Child,
    /// The local port kubectl listens on.
    pub port: u16,
    errors: std::sync::Arc<std::sync::Mutex<String>>,
}

impl PortForward {
    /// `kubectl port-forward -n NAMESPACE pod/POD :PORT` in context `ctx`; returns once kubectl
    /// listens.
    pub fn open(lab: &Lab, ctx: &str, namespace: &str, pod: &str, port: u16) -> PortForward {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = lab
            .kubectl(ctx)
            .args(["port-forward", "-n", namespace, &format!("pod/{pod}")])
            .arg(format!(":{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl port-forward");
        let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut stderr, sink) = (child.stderr.take().expect("stderr"), errors.clone());
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            if let Ok(mut e) = sink.lock() {
                e.push_str(&text);
            }
        });
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        // "Forwarding from 127.0.0.1:PORT -> 15014"
        let local = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let mut forward = PortForward {
            child,
            port: 0,
            errors,
        };
        forward.port = local.unwrap_or_else(|| {
            let _ = forward.child.wait();
            panic!(
                "kubectl port-forward to {ctx}/{pod} said: {line}{}",
                forward.errors()
            )
        });
        forward
    }

    /// `GET path` through the forward ([`get_framed`]).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        get_framed(self.port, path)
    }

    /// Whether kubectl still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// `127.0.0.1:PORT`, for a client that takes an address.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What kubectl wrote to its error output so far.
    pub fn errors(&self) -> String {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on a local port with HTTP/1.1, reading the body its `Content-Length` says (a
/// forwarded stream stays open after the server answers): (status, body).
pub fn get_framed(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })?;
            if body.len() >= length {
                let code = head.split_whitespace().nth(1)?.parse().ok()?;
                return Some((code, body[..length].to_string()));
            }
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_not_found_and_an_unserved_kind_are_absent() {
        assert!(super::absent(
            r#"Error from server (NotFound): istios.sailoperator.io "default" not found"#
        ));
        assert!(super::absent(
            r#"error: the server doesn't have a resource type "istios""#
        ));
        assert!(!super::absent(
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
        ));
        assert!(!super::absent(
            r#"Error from server (Forbidden): secrets "cacerts" is forbidden: User "x" cannot get resource "secrets""#
        ));
    }

    use super::*;
    use base64::Engine as _;

    /// A PEM key as the tools print it, and a probe cut from its body with the lines joined
    /// (as the leak tests cut it): found in every printed form, absent from unrelated text.
    #[test]
    fn a_key_probe_is_found_in_every_printed_form() {
        let body: Vec<String> = (0..4)
            .map(|i| {
                format!("{i}{}", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo".repeat(2))[..64].to_string()
            })
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            body.join("\n")
        );
        let joined = body.concat();
        let probe = &joined[50..90];
        assert!(!pem.contains(probe), "the probe spans a line break");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let json = serde_json::to_string(&serde_json::json!({"ca-key.pem": pem})).unwrap();
        let yaml = format!(
            "data:\n  ca-key.pem: |\n    {}\n",
            pem.replace('\n', "\n    ")
        );
        for (form, printed) in [
            ("PEM as written", pem.clone()),
            ("JSON-escaped", json),
            ("YAML block", yaml),
            ("base64", b64(&pem)),
            ("base64 of base64", b64(&b64(&pem))),
            (
                "base64 inside JSON",
                format!("{{\"data\": {{\"k\": \"{}\"}}}}", b64(&pem)),
            ),
        ] {
            assert!(leak_views(&printed).contains(probe), "{form}: {printed}");
        }
        // Negative control: text without the key does not match.
        assert!(!leak_views("nothing here\n-----BEGIN-----\nQUJD\n").contains(probe));
    }
}
