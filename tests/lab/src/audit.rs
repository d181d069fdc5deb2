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
    // Only whole lines: the API server may be writing the next one.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("audit log {}: not JSON ({e}): {l}", path.display()))
        })
        .collect()
}

/// User agents of the lab's own cluster components, which write as the lab's admin user:
/// the controller manager, the scheduler (pod bindings) and kwok (node and pod status); and
/// istiod, which writes into a remote cluster with the reader's token of its remote secret
/// (leader elections, `istio-ca-root-cert`), an identity a plugin's write is counted under.
const COMPONENT_AGENTS: &[&str] = &[
    "kube-controller-manager/",
    "kube-scheduler/",
    "kwok/",
    "pilot-discovery/",
];

/// Identities of the lab's own writers that are not the admin user (prefixes): the API server
/// itself, Kubernetes' components, the Sail operator, MetalLB's controller and the istiod pods
/// the lab runs. Every other identity counts, service accounts included: a plugin writing with
/// a token it read (a remote secret's reader) is seen.
const COMPONENT_USERS: &[&str] = &[
    "system:apiserver",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:node:",
    "system:serviceaccount:kube-system:",
    "system:serviceaccount:sail-operator:",
    "system:serviceaccount:metallb-system:",
    "system:serviceaccount:istio-system:istiod",
];

/// A write by a client (not the lab's components, not a dry run, not a review): `verb
/// resource name`. An unknown user counts (it could be anyone).
pub fn stored_write(e: &Value) -> Option<String> {
    let user = e["user"]["username"].as_str().unwrap_or_default();
    let agent = e["userAgent"].as_str().unwrap_or_default();
    let verb = e["verb"].as_str().unwrap_or_default();
    let resource = e["objectRef"]["resource"].as_str().unwrap_or_default();
    let counts = e["stage"] == "ResponseComplete"
        && !COMPONENT_USERS.iter().any(|u| user.starts_with(u))
        && !COMPONENT_AGENTS.iter().any(|a| agent.starts_with(a))
        && matches!(verb, "create" | "update" | "patch" | "delete")
        && !resource.starts_with("selfsubject")
        && !is_dry_run(e);
    counts.then(|| {
        format!(
            "{verb} {resource} {}",
            e["objectRef"]["name"].as_str().unwrap_or("")
        )
    })
}

/// Sent with dryRun=All: in the query (create, update, patch) or, for deletes, in the
/// DeleteOptions body (the lab's audit policy records delete bodies for this).
pub fn is_dry_run(e: &Value) -> bool {
    let uri = e["requestURI"].as_str().unwrap_or_default();
    let body = e["requestObject"]["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    uri.contains("dryRun=All") || body
}

/// Stored client writes per cluster since `marks`, after a barrier write in every cluster
/// (seen by [`stored_write`] itself, or the test fails); the barrier is not listed.
pub fn writes_since(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    writes_since_except(lab, marks, &[])
}

/// [`writes_since`] for the clusters not in `down` (indexes of clusters whose API server a
/// test stopped; they get an empty list and no barrier).
pub fn writes_since_except(lab: &Lab, marks: &[usize], down: &[usize]) -> Vec<Vec<String>> {
    events_since_except(lab, marks, down)
        .iter()
        .map(|events| events.iter().filter_map(stored_write).collect())
        .collect()
}

/// Every audit event per cluster since `marks`, up to a barrier write in every cluster (seen,
/// or the test fails); the barrier's own events are left out. Clusters in `down` get none.
pub fn events_since_except(lab: &Lab, marks: &[usize], down: &[usize]) -> Vec<Vec<Value>> {
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
            let barrier = format!("create configmaps {marker}");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let events: Vec<Value> = read_events(&c.audit_log()).into_iter().skip(*m).collect();
                if events
                    .iter()
                    .any(|e| stored_write(e).as_deref() == Some(barrier.as_str()))
                {
                    return events
                        .into_iter()
                        .filter(|e| e["objectRef"]["name"] != marker.as_str())
                        .collect();
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

/// Waits until at least `count` stored client writes since `marks` show in the audit logs of
/// all clusters together (a trigger for fault injection: no barrier, the log is read as it
/// grows). False when `deadline` passes first.
pub fn await_writes(lab: &Lab, marks: &[usize], count: usize, deadline: Instant) -> bool {
    loop {
        let seen: usize = lab
            .clusters()
            .iter()
            .zip(marks)
            .map(|(c, m)| {
                read_events(&c.audit_log())
                    .iter()
                    .skip(*m)
                    .filter_map(stored_write)
                    .count()
            })
            .sum();
        if seen >= count {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
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
        for user in [
            "system:kube-controller-manager",
            "system:serviceaccount:kube-system:replicaset-controller",
            "system:serviceaccount:sail-operator:sail-operator",
            "system:serviceaccount:istio-system:istiod",
        ] {
            controller["user"]["username"] = json!(user);
            assert_eq!(stored_write(&controller), None, "{user}");
        }
        // Service accounts that are not the lab's components count: a token read from a
        // remote secret, or the installed watch.
        for user in [
            "system:serviceaccount:istio-system:istio-reader-service-account",
            "system:serviceaccount:kubectl-mesh:kubectl-mesh-watch",
        ] {
            controller["user"]["username"] = json!(user);
            assert!(stored_write(&controller).is_some(), "{user}");
        }
        let mut component = base.clone();
        for agent in [
            "kube-scheduler/v0.0.0 (linux/amd64)",
            "kwok/v0.8.0 (linux/amd64)",
            "pilot-discovery/1.31-dev",
        ] {
            component["userAgent"] = json!(agent);
            assert_eq!(stored_write(&component), None, "{agent}");
        }
        component["userAgent"] = json!("kubectl-mesh-join/0.1.0");
        assert!(stored_write(&component).is_some());
        let mut get = base;
        get["verb"] = json!("get");
        assert_eq!(stored_write(&get), None);
    }
}
