//! The lab mesh `lab_verify` checks: running `mesh-verify` with every istiod address, and the
//! objects a test writes to inject a fault, written the way their owners write them. These
//! meshes give each gateway its address in the mesh file (`eastWestAddress`), so their labs run
//! no load balancer (with one, istiod would also see the load-balancer address).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod dependencies;
pub mod discovery;
pub mod eastwest_pods;
pub mod faults;
pub mod file_values;
pub mod install_watch;
pub mod port_forward;
pub mod promtool;
pub mod setup;
pub mod stale;
pub mod traffic;
pub mod untrusted;
pub mod wait;
pub mod watch;
pub mod watch_faults;
pub mod workload;

use mesh_lab::Lab;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, join_mesh_with, run_plugin as run,
};
use serde_json::{Value, json};
use std::path::Path;

fn text_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

/// Runs kubectl against the lab, asserting success; returns stdout.
pub fn kubectl(lab: &Lab, ctx: &str, args: &[&str]) -> String {
    let o = lab.kubectl(ctx).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub use mesh_lab::testing::{apply, result, results};

/// Patches west's (`lab-2`'s) `Istio/default` as a person would (`--type merge` or `json`).
pub fn patch_west_istio(mesh: &Mesh, kind: &str, body: &str) {
    let args = [
        "patch",
        "istios.sailoperator.io",
        "default",
        "--type",
        kind,
        "-p",
        body,
    ];
    kubectl(mesh.lab, "lab-2", &args);
}

/// Patches the status subresource (`--subresource=status`, merge patch).
pub fn patch_status(lab: &Lab, ctx: &str, what: &[&str], status: &Value) {
    let patch = json!({ "status": status }).to_string();
    let mut args = vec!["patch"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["--subresource=status", "--type=merge", "-p", &patch]);
    kubectl(lab, ctx, &args);
}

/// The istiod pods of `ctx` (label `app=istiod`): the operator's.
pub fn istiod_pods(lab: &Lab, ctx: &str) -> Vec<String> {
    let pods = mesh_lab::testing::kubectl_json(
        lab,
        ctx,
        &["get", "pods", "-n", "istio-system", "-l", "app=istiod"],
    )
    .expect("istiod pods");
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The kubelet's view of the istiod pod: Ready, or crash-looping with `restarts` and a
/// terminated reason.
pub fn istiod_pod_status(
    lab: &Lab,
    ctx: &str,
    pod: &str,
    ready: bool,
    restarts: i64,
    last: Option<&str>,
) {
    let t = "2026-01-01T00:00:00Z";
    let (state, last_state) = match last {
        None => (json!({"running": {"startedAt": t}}), json!({})),
        Some(reason) => (
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}),
            json!({"terminated": {"reason": reason, "exitCode": 1, "startedAt": t, "finishedAt": t}}),
        ),
    };
    let flag = if ready { "True" } else { "False" };
    patch_status(
        lab,
        ctx,
        &["pod", pod, "-n", "istio-system"],
        &json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": flag, "lastTransitionTime": t},
                           {"type": "ContainersReady", "status": flag, "lastTransitionTime": t}],
            "containerStatuses": [{"name": "discovery", "ready": ready, "restartCount": restarts,
                "image": "docker.io/istio/pilot:1.28.1", "imageID": "", "started": ready,
                "state": state, "lastState": last_state}]}),
    );
}

/// A joined lab mesh and how to verify it.
pub struct Mesh<'a> {
    pub lab: &'a Lab,
    pub dir: &'a Path,
    pub certs: String,
    pub join: String,
}

/// What a [`Mesh`] holds besides its lab: released to take the lab back mutably (to stop or
/// start one of its processes), then given to [`Mesh::on`] again.
pub struct Parts {
    certs: String,
    join: String,
}

impl<'a> Mesh<'a> {
    /// Gives the lab back, keeping the rest.
    pub fn release(self) -> Parts {
        Parts {
            certs: self.certs,
            join: self.join,
        }
    }

    /// The same mesh on `lab` again.
    pub fn on(lab: &'a Lab, dir: &'a Path, p: Parts) -> Mesh<'a> {
        Mesh {
            lab,
            dir,
            certs: p.certs,
            join: p.join,
        }
    }
}

impl Mesh<'_> {
    /// `mesh-verify -f mesh.yaml -o json` plus `extra` (istiod by port-forward to its pod).
    pub fn verify(&self, extra: &[&str]) -> (Option<i32>, Value) {
        self.verify_file("mesh.yaml", extra)
    }

    /// `mesh-verify -o prometheus` on this mesh; then promtool's rule test over its series:
    /// all 1 on a healthy mesh, and no alert fires ([`mesh_lab::promtool`]).
    pub fn healthy_series_fire_nothing(&self) {
        let o = ok(self.run_verify("mesh.yaml", "prometheus", &["--allow-loopback"]));
        let rules = mesh_core::app::watch::alerts::groups().to_string();
        mesh_lab::promtool::healthy_fires_nothing(self.lab, self.dir, &text_of(&o), &rules);
    }

    /// The same with another mesh file.
    pub fn verify_file(&self, file: &str, extra: &[&str]) -> (Option<i32>, Value) {
        let o = self.run_verify(file, "json", extra);
        let report: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("stdout is only JSON: {}", text(&o)));
        (o.status.code(), report)
    }

    /// `mesh-verify -f file -o output` and `extra`.
    fn run_verify(&self, file: &str, output: &str, extra: &[&str]) -> std::process::Output {
        let mut args: Vec<String> = ["-f", file, "-o", output].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(VERIFY, self.lab, self.dir, &args)
    }

    /// Repairs what a fault changed: a rejoin taking back the fields a test patched.
    pub fn rejoin(&self) {
        ok(join_mesh_with(
            &self.join,
            self.lab,
            self.dir,
            &["--force-conflicts"],
        ));
    }

    /// A rejoin that takes nothing over (it stops on fields another manager owns).
    pub fn join_plain(&self) -> std::process::Output {
        join_mesh(&self.join, self.lab, self.dir)
    }

    /// Verifies until `done` holds for the report (istiod syncing, a token revoked), at most 45s.
    pub fn verify_until(
        &self,
        extra: &[&str],
        done: impl Fn(&Value) -> bool,
    ) -> (Option<i32>, Value) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
        loop {
            let (code, report) = self.verify(extra);
            if done(&report) || std::time::Instant::now() > deadline {
                return (code, report);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// A section sharing the mesh starts by asserting it green: every earlier section repaired
    /// its faults (istiod may need a moment to sync after the last repair).
    pub fn is_healthy(&self) {
        let (code, report) = self.verify_until(&["--allow-loopback"], |r| r["success"] == true);
        assert_eq!(code, Some(0), "healthy at the section's start: {report:#}");
    }
}

/// (id, cluster, peer, hint) of every failing result.
pub fn failing(report: &Value) -> Vec<(String, String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("cluster"), s("peer"), s("hint"))
        })
        .collect()
}

/// Exit 1; `id` fails for `cluster` (and `peer`) with a hint containing `hint`; every other
/// failing id is one of `consequences` (stated by the caller: what the same fault also breaks).
pub fn expect_fault(
    report: &Value,
    code: Option<i32>,
    (id, cluster, peer): (&str, &str, &str),
    hint: &str,
    consequences: &[&str],
) {
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["success"], false);
    let f = failing(report);
    assert!(
        f.iter()
            .any(|(i, c, p, h)| i == id && c == cluster && p == peer && h.contains(hint)),
        "expected {id} to fail for {cluster}/{peer} with hint ~{hint:?}, got {f:#?}"
    );
    let others: Vec<_> = f
        .iter()
        .filter(|(i, c, p, _)| !(i == id && c == cluster && p == peer))
        .filter(|(i, ..)| !consequences.contains(&i.as_str()))
        .collect();
    assert!(others.is_empty(), "only {id} should fail: {others:#?}");
}
