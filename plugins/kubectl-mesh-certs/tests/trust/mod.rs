//! The sections of `lab_trust` and what they share: reading `cacerts` and resourceVersions,
//! openssl as the referee, and the lab's starting state between sections.
//!
//! Every section starts on clusters without `istio-system` and without any ResourceQuota
//! ([`assert_fresh`]), and those that leave the clusters usable end by deleting `istio-system`
//! in every cluster and waiting until it is gone ([`remove_istio_system`]).

pub mod apply;
pub mod dry_run;
pub mod refusals;
pub mod rotate_root;

pub use crate::rotation::{certs, data};
use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, kubectl_json};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The live `istio-system/cacerts` of `ctx`, if there is one.
pub fn cacerts(lab: &Lab, ctx: &str) -> Option<Value> {
    kubectl_json(
        lab,
        ctx,
        &["get", "secret", "cacerts", "-n", "istio-system"],
    )
}

pub fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string()
}

pub fn openssl(args: &[&str], cwd: &Path) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The SHA-256 fingerprint openssl gives the root certificate in `dir` (under `cwd`).
pub fn root_fingerprint(cwd: &Path, dir: &str) -> String {
    openssl(
        &[
            "x509",
            "-in",
            &format!("{dir}/root-cert.pem"),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        cwd,
    )
    .trim()
    .split('=')
    .nth(1)
    .unwrap()
    .to_string()
}

/// `mesh-certs create` of east and west (ECDSA P-256) in `w`.
pub fn create_east_west(lab: &Lab, w: &Path) {
    let o = certs(
        lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

pub fn kubectl_ok(lab: &Lab, ctx: &str, args: &[&str]) {
    let o = lab.kubectl(ctx).args(args).output().unwrap();
    assert!(o.status.success(), "kubectl {args:?}: {}", text(&o));
}

/// The state every section starts from: no cluster has `istio-system` (so no `cacerts`) and
/// none has a ResourceQuota in any namespace.
pub fn assert_fresh(lab: &Lab) {
    for ctx in lab.contexts() {
        assert!(
            kubectl_json(lab, &ctx, &["get", "namespace", "istio-system"]).is_none(),
            "{ctx}: istio-system is left from an earlier section"
        );
        let quotas = kubectl_json(lab, &ctx, &["get", "resourcequota", "-A"]).unwrap();
        assert_eq!(
            quotas["items"].as_array().unwrap().len(),
            0,
            "{ctx}: a ResourceQuota is left from an earlier section: {quotas:#}"
        );
    }
}

/// Deletes `istio-system` (and so everything in it: `cacerts`, any quota) in every cluster
/// and waits until the namespace controller has removed it everywhere.
pub fn remove_istio_system(lab: &Lab) {
    for ctx in lab.contexts() {
        kubectl_ok(
            lab,
            &ctx,
            &[
                "delete",
                "namespace",
                "istio-system",
                "--ignore-not-found",
                "--wait=false",
            ],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for ctx in lab.contexts() {
        while kubectl_json(lab, &ctx, &["get", "namespace", "istio-system"]).is_some() {
            assert!(
                Instant::now() < deadline,
                "{ctx}: istio-system still there 90 s after its deletion"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
