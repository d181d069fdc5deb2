//! A stand-in for what the Sail operator does that `mesh-join` waits for, for labs started
//! without the operator (bare mode): it marks `Istio`/`IstioCNI` resources Reconciled and
//! Ready, and creates the reader ServiceAccount the Istio charts would create. It renders no
//! chart and runs no istiod: tests that use it say so, and what it cannot show (the operator's
//! real conditions, objects the charts own) is tested with the real operator.
#![allow(clippy::expect_used, clippy::panic)]

use crate::Lab;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The running stand-in; stops when dropped.
#[derive(Debug)]
pub struct OperatorStandIn {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const READY: &str = r#"{"status":{"state":"Healthy","conditions":[{"type":"Reconciled","status":"True","reason":"ReconcileSuccess","lastTransitionTime":"2026-01-01T00:00:00Z"},{"type":"Ready","status":"True","reason":"Healthy","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;

impl OperatorStandIn {
    /// Starts polling every cluster of `lab`.
    pub fn start(lab: &Lab) -> Self {
        let kubectl = PathBuf::from(lab.kubectl("x").get_program());
        Self::start_with(kubectl, lab.kubeconfig(), lab.contexts())
    }

    /// Starts polling `contexts` of `kubeconfig` with the kubectl at `kubectl` (for a lab
    /// started earlier by `mesh-lab up`, read from its state file).
    pub fn start_with(kubectl: PathBuf, kubeconfig: PathBuf, contexts: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for ctx in &contexts {
                    tick(&kubectl, &kubeconfig, ctx);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        OperatorStandIn {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for OperatorStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn kubectl(bin: &Path, kubeconfig: &Path, ctx: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(bin)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--context={ctx}"))
        .args(args)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn tick(bin: &Path, kubeconfig: &Path, ctx: &str) {
    for kind in ["istios.sailoperator.io", "istiocnis.sailoperator.io"] {
        let template = "{range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}";
        let jsonpath = format!("jsonpath={template}");
        let Some(list) = kubectl(bin, kubeconfig, ctx, &["get", kind, "-o", &jsonpath]) else {
            continue;
        };
        for line in list.lines() {
            let mut f = line.split_whitespace();
            let (Some(name), ready) = (f.next(), f.next()) else {
                continue;
            };
            // The charts create the reader account before the control plane turns Ready.
            if kind.starts_with("istios") {
                ensure_reader_account(bin, kubeconfig, ctx);
            }
            if ready != Some("True") {
                kubectl(
                    bin,
                    kubeconfig,
                    ctx,
                    &[
                        "patch",
                        kind,
                        name,
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        READY,
                    ],
                );
            }
        }
    }
}

fn ensure_reader_account(bin: &Path, kubeconfig: &Path, ctx: &str) {
    let get = [
        "get",
        "serviceaccount",
        "istio-reader-service-account",
        "-n",
        "istio-system",
        "-o",
        "name",
    ];
    if kubectl(bin, kubeconfig, ctx, &get).is_none() {
        kubectl(
            bin,
            kubeconfig,
            ctx,
            &[
                "create",
                "serviceaccount",
                "istio-reader-service-account",
                "-n",
                "istio-system",
            ],
        );
    }
}
