//! Section: a cluster that refuses the dry run (a quota forbids Secrets) stops `apply` and
//! `rotate` before any write in any cluster; the audit logs are the probe, and the same
//! command once the quota is gone is its positive control.

use super::*;
use crate::rotation::hashes;
use mesh_lab::testing::{describe as text, expect_success as ok};
use std::collections::BTreeMap;
use std::path::PathBuf;

const APPLY: &[&str] = &[
    "apply",
    "--context",
    "lab-1,lab-2",
    "--cluster",
    "east,west",
    "--network",
    "net1,net2",
];

const ROTATE_WEST: &[&str] = &["rotate", "--cluster", "west", "--context", "lab-2"];

/// Both clusters have `istio-system` and the second forbids any Secret in it by quota:
/// `apply` to both and `rotate` of west are refused at the dry run, exit 2, naming the
/// cluster, the quota and that nothing was written (rotate: the local files unchanged); the
/// audit logs show the dry runs reached both clusters and nothing was stored in either. With
/// the quota deleted, the same commands write both clusters and the files, and the audit logs
/// show those writes. Ends with `istio-system` (and so the quota) removed everywhere.
pub fn a_cluster_that_refuses_the_dry_run_stops_apply_before_any_write_anywhere(lab: &Lab) {
    assert_fresh(lab);
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    create_east_west(lab, w);
    forbid_secrets_in_lab_2(lab);
    let files_before = refused_before_any_write(lab, w);

    // Positive control with the same probe: once lab-2 allows Secrets, the same command
    // writes both clusters, and the audit logs show those writes.
    kubectl_ok(
        lab,
        "lab-2",
        &["delete", "quota", "no-secrets", "-n", "istio-system"],
    );
    accepted_and_seen(lab, w, &files_before);
    remove_istio_system(lab);
}

/// Both clusters have istio-system (every object is then checkable by the server); the
/// second forbids any Secret in it by quota, as a restrictive platform team might.
fn forbid_secrets_in_lab_2(lab: &Lab) {
    for ctx in ["lab-1", "lab-2"] {
        kubectl_ok(lab, ctx, &["create", "namespace", "istio-system"]);
    }
    kubectl_ok(
        lab,
        "lab-2",
        &[
            "create",
            "quota",
            "no-secrets",
            "--hard=secrets=0",
            "-n",
            "istio-system",
        ],
    );
    // The lab runs no quota controller: fill in the status it would write (nothing used yet).
    kubectl_ok(
        lab,
        "lab-2",
        &[
            "patch",
            "quota",
            "no-secrets",
            "-n",
            "istio-system",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"hard":{"secrets":"0"},"used":{"secrets":"0"}}}"#,
        ],
    );
}

/// `apply` and `rotate` refused by lab-2's quota: nothing stored in either cluster, the local
/// files unchanged. Returns the files as they were.
fn refused_before_any_write(lab: &Lab, w: &Path) -> BTreeMap<PathBuf, String> {
    let marks = mesh_lab::audit::marks(lab);
    let refused = certs(lab, w, APPLY);
    // rotate checks the new Secret the same way before it writes its files.
    let files_before = hashes(&w.join("mesh-certs"));
    let rotate_refused = certs(lab, w, ROTATE_WEST);
    let seen = client_requests_since(lab, &marks);
    assert_eq!(
        rotate_refused.status.code(),
        Some(2),
        "{}",
        text(&rotate_refused)
    );
    let rotate_err = String::from_utf8_lossy(&rotate_refused.stderr);
    assert!(
        rotate_err.contains("refused the dry run")
            && rotate_err.contains("the local files are unchanged"),
        "{rotate_err}"
    );
    assert_eq!(
        hashes(&w.join("mesh-certs")),
        files_before,
        "rotate wrote files"
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    // The fault landed where it was put: lab-2's quota refused the Secret.
    assert!(
        err.contains("cluster 'west' (context lab-2) refused the dry run") && err.contains("quota"),
        "{err}"
    );
    assert!(err.contains("nothing was written in any cluster"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    // lab-1 was asked (dry runs of its namespace labels and its cacerts) and stored nothing.
    assert!(
        seen[0].iter().any(|r| r == "patch secrets cacerts dryRun"),
        "the dry run reached lab-1 and the probe sees it: {:?}",
        seen[0]
    );
    assert!(
        seen[1]
            .iter()
            .filter(|r| *r == "patch secrets cacerts dryRun")
            .count()
            >= 2,
        "apply and rotate both asked lab-2: {:?}",
        seen[1]
    );
    assert_eq!(writes(&seen[0]), Vec::<&String>::new(), "lab-1 was written");
    assert_eq!(writes(&seen[1]), Vec::<&String>::new(), "lab-2 was written");
    assert!(cacerts(lab, "lab-1").is_none());
    files_before
}

/// The quota gone, `apply` writes both clusters and `rotate` writes its files and lab-2, each
/// write seen in the audit logs.
fn accepted_and_seen(lab: &Lab, w: &Path, files_before: &BTreeMap<PathBuf, String>) {
    let marks = mesh_lab::audit::marks(lab);
    let applied = ok(certs(lab, w, APPLY));
    let seen = client_requests_since(lab, &marks);
    for (i, ctx) in ["lab-1", "lab-2"].iter().enumerate() {
        let written = writes(&seen[i]);
        assert!(
            written.iter().any(|r| *r == "patch secrets cacerts"),
            "{ctx}: the write is seen: {:?}\n{}",
            seen[i],
            text(&applied)
        );
        assert!(
            written
                .iter()
                .any(|r| *r == "patch namespaces istio-system"),
            "{ctx}: {:?}",
            seen[i]
        );
        assert!(cacerts(lab, ctx).is_some(), "{ctx}");
    }
    // And rotate, now accepted, writes its files and the cluster.
    let marks = mesh_lab::audit::marks(lab);
    ok(certs(lab, w, ROTATE_WEST));
    let seen = client_requests_since(lab, &marks);
    assert_ne!(
        &hashes(&w.join("mesh-certs")),
        files_before,
        "rotate wrote its files"
    );
    assert!(
        writes(&seen[1])
            .iter()
            .any(|r| *r == "patch secrets cacerts"),
        "{:?}",
        seen[1]
    );
}

/// Requests by the lab's user (not the control plane's own) since `marks`, per cluster, as
/// `verb resource name` with ` dryRun` appended to those sent with dryRun=All. Read up to a
/// barrier write in every cluster (no fixed wait; a missing or unparsable log fails).
fn client_requests_since(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    mesh_lab::audit::events_since_except(lab, marks, &[])
        .iter()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["stage"] == "ResponseComplete")
                .filter(|e| e["user"]["username"] == "lab-admin")
                .map(|e| {
                    let uri = e["requestURI"].as_str().unwrap_or_default();
                    format!(
                        "{} {} {}{}",
                        e["verb"].as_str().unwrap_or_default(),
                        e["objectRef"]["resource"].as_str().unwrap_or_default(),
                        e["objectRef"]["name"].as_str().unwrap_or_default(),
                        if uri.contains("dryRun=All") {
                            " dryRun"
                        } else {
                            ""
                        }
                    )
                })
                .collect()
        })
        .collect()
}

/// Requests that store something: create/update/patch/delete without dryRun.
fn writes(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|r| {
            let verb = r.split(' ').next().unwrap_or_default();
            matches!(verb, "create" | "update" | "patch" | "delete")
                && !r.ends_with(" dryRun")
                && !r.contains(" selfsubject")
        })
        .collect()
}
