//! Reading the lab's audit logs: which writes reached each API server since a mark.
//!
//! Every read ends with a barrier: a marker ConfigMap is written through the lab's kubectl
//! and the log is read until that write shows. The barrier replaces a fixed sleep (the log
//! is complete up to it) and is the positive control of every "nothing was written"
//! assertion: the same filter that finds no write of ours found the marker's. A missing log
//! or a line that is not JSON fails the test instead of counting as zero writes.
#![allow(clippy::expect_used, clippy::panic)]

use crate::Lab;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Audit-log line counts per cluster, to count from.
pub fn marks(lab: &Lab) -> Vec<usize> {
    lab.clusters()
        .iter()
        .map(|c| read_events(&c.audit_log()).len())
        .collect()
}

fn read_events(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("audit log {} unreadable: {e}", path.display()));
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("audit log {}: not JSON ({e}): {l}", path.display()))
        })
        .collect()
}

/// A stored write by a client (not the controllers, not a dry run, not a review): `verb
/// resource name`.
pub fn stored_write(e: &Value) -> Option<String> {
    let user = e["user"]["username"].as_str().unwrap_or("system:");
    let agent = e["userAgent"].as_str().unwrap_or_default();
    let verb = e["verb"].as_str().unwrap_or_default();
    let resource = e["objectRef"]["resource"].as_str().unwrap_or_default();
    let uri = e["requestURI"].as_str().unwrap_or_default();
    let counts = e["stage"] == "ResponseComplete"
        && !user.starts_with("system:")
        && !agent.starts_with("kube-controller-manager")
        && matches!(verb, "create" | "update" | "patch" | "delete")
        && !resource.starts_with("selfsubject")
        && !uri.contains("dryRun=All");
    counts.then(|| {
        format!(
            "{verb} {resource} {}",
            e["objectRef"]["name"].as_str().unwrap_or("")
        )
    })
}

/// Stored client writes per cluster since `marks`, after a barrier write in every cluster
/// (seen by [`stored_write`] itself, or the test fails); the barrier is not listed.
pub fn writes_since(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    writes_since_except(lab, marks, &[])
}

/// [`writes_since`] for the clusters not in `down` (indexes of clusters whose API server a
/// test stopped; they get an empty list and no barrier).
pub fn writes_since_except(lab: &Lab, marks: &[usize], down: &[usize]) -> Vec<Vec<String>> {
    let stamp = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let marker = format!("audit-barrier-{stamp}");
    lab.clusters()
        .iter()
        .zip(lab.contexts())
        .zip(marks)
        .enumerate()
        .map(|(i, ((c, ctx), m))| {
            if down.contains(&i) {
                return Vec::new();
            }
            let o = lab
                .kubectl(&ctx)
                .args(["create", "configmap", &marker, "-n", "default"])
                .output()
                .expect("kubectl");
            assert!(
                o.status.success(),
                "barrier write in {ctx}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let writes: Vec<String> = read_events(&c.audit_log())
                    .iter()
                    .skip(*m)
                    .filter_map(stored_write)
                    .collect();
                let barrier = format!("create configmaps {marker}");
                if writes.contains(&barrier) {
                    return writes.into_iter().filter(|w| *w != barrier).collect();
                }
                assert!(
                    Instant::now() < deadline,
                    "{ctx}: the barrier write never reached the audit log {}",
                    c.audit_log().display()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dry_runs_reviews_and_controllers_are_not_stored_writes_but_a_patch_is() {
        let base = json!({"stage": "ResponseComplete", "user": {"username": "admin"}, "verb": "patch",
            "objectRef": {"resource": "istios", "name": "default"}, "requestURI": "/apis/x?fieldManager=kubectl-mesh"});
        assert_eq!(stored_write(&base).as_deref(), Some("patch istios default"));
        let mut dry = base.clone();
        dry["requestURI"] = json!("/apis/x?dryRun=All&fieldManager=kubectl-mesh");
        assert_eq!(stored_write(&dry), None);
        let mut controller = base.clone();
        controller["user"]["username"] = json!("system:kube-controller-manager");
        assert_eq!(stored_write(&controller), None);
        let mut get = base;
        get["verb"] = json!("get");
        assert_eq!(stored_write(&get), None);
    }
}
