//! A write the API server holds: an interruption at an exact point of a client's run.
//!
//! A validating webhook, scoped by CEL match conditions to the stored write of one object
//! (dry runs pass through), points at a loopback listener (a URL webhook is dialled directly,
//! not through the pod network) that accepts the API server's connection and never answers. The client's write waits inside
//! the API server; [`Stall::wait_hit`] says when it arrived, so a test can kill the client
//! knowing every earlier write landed and this one did not. [`Stall::release`] closes the
//! connection, so the held write fails (`failurePolicy: Fail`) and is never stored, and
//! removes the webhook.

use crate::Lab;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The object whose stored write is held.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// API group (`""` for the core group).
    pub group: &'a str,
    /// Plural resource, e.g. `secrets`.
    pub resource: &'a str,
    /// Namespace, or `None` for a cluster-scoped object.
    pub namespace: Option<&'a str>,
    /// Object name.
    pub name: &'a str,
}

/// One held write on one cluster. Dropping it releases the write.
pub struct Stall {
    kubectl: Command,
    webhook: String,
    port: u16,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    hit: Receiver<()>,
    released: bool,
}

/// The webhook configuration that sends `target`'s stored writes to `url`.
pub fn webhook_manifest(name: &str, url: &str, t: &Target) -> String {
    let namespace = match t.namespace {
        Some(ns) => format!(" && object.metadata.namespace == '{ns}'"),
        None => String::new(),
    };
    let condition = format!(
        "object != null && object.metadata.name == '{}'{namespace} && !(has(request.dryRun) && request.dryRun)",
        t.name
    );
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "stall.mesh-lab.test",
            "clientConfig": {"url": url},
            "rules": [{
                "apiGroups": [t.group], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": [t.resource], "scope": "*",
            }],
            "matchConditions": [{"name": "the-held-object", "expression": condition}],
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 30,
        }],
    })
    .to_string()
}

impl Stall {
    /// Holds the next stored write of `target` on `context`'s API server.
    pub fn at(lab: &Lab, context: &str, target: &Target) -> Result<Stall> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (tx, hit) = channel();
        let (s, h) = (stop.clone(), Arc::clone(&held));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut held) = h.lock() {
                    held.push(conn);
                }
                let _ = tx.send(());
            }
        });
        let webhook = format!("mesh-lab-stall-{port}");
        let manifest = webhook_manifest(&webhook, &format!("https://127.0.0.1:{port}/"), target);
        let stall = Stall {
            kubectl: lab.kubectl(context),
            webhook,
            port,
            stop,
            held,
            hit,
            released: false,
        };
        stall.kubectl_stdin(&["apply", "-f", "-"], &manifest)?;
        Ok(stall)
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Result<()> {
        let mut cmd = Command::new(self.kubectl.get_program());
        cmd.args(self.kubectl.get_args()).args(args);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("kubectl stdin")?
            .write_all(stdin.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Whether the held write reached the API server's webhook call within `timeout`.
    pub fn wait_hit(&self, timeout: Duration) -> bool {
        self.hit.recv_timeout(timeout).is_ok()
    }

    /// Fails the held write (its connection closes), then removes the webhook.
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Ok(mut held) = self.held.lock() {
            for conn in held.drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
        self.kubectl_stdin(
            &[
                "delete",
                "validatingwebhookconfiguration",
                &self.webhook,
                "--ignore-not-found",
            ],
            "",
        )
    }
}

impl std::fmt::Debug for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stall")
            .field("webhook", &self.webhook)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_holds_only_the_stored_write_of_the_named_object() {
        let t = Target {
            group: "",
            resource: "secrets",
            namespace: Some("istio-system"),
            name: "istio-remote-secret-east",
        };
        let m: serde_json::Value =
            serde_json::from_str(&webhook_manifest("w", "https://10.0.0.1:1/", &t)).unwrap();
        let hook = &m["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["rules"][0]["resources"][0], "secrets");
        let cond = hook["matchConditions"][0]["expression"].as_str().unwrap();
        assert!(cond.contains("object.metadata.name == 'istio-remote-secret-east'"));
        assert!(cond.contains("object.metadata.namespace == 'istio-system'"));
        assert!(cond.contains("request.dryRun"));
    }
}
