//! `kubectl mesh-join` on one two-cluster lab, in sections that each start from the state they
//! assert: first bad input (`flags::bad_input`, on untouched clusters, which it leaves
//! untouched), then the flags whose effect needs an API server, on one primary-remote mesh:
//! dry runs of join and leave write nothing (audit logs, with the real run as the positive
//! control), `--installer helm|istioctl --render-only` render what istioctl accepts, `--export
//! --include-secrets` writes the remote secret with the cluster's real token (and leaves it out
//! without the flag), and `leave --purge` removes the control plane.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod flags;
mod join;

use flags::{MESH, check_export_secrets, check_installers, dry_run_deletes, writes_nothing};
use join::{JOIN, Untouched, prepare, untouched};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, kubectl_json, run_plugin as run,
};
use std::path::Path;

#[test]
fn bad_input_then_dry_runs_installers_exports_and_purge_on_a_primary_remote_mesh() {
    let lab = Lab::up(2).expect("lab");
    let fresh = untouched(&lab);
    flags::bad_input::section(&lab, &fresh);
    flags_on_a_primary_remote_mesh(&lab, &fresh);
}

/// The flag sections, on clusters untouched (as the lab started) until `prepare` applies the
/// certificates.
fn flags_on_a_primary_remote_mesh(lab: &Lab, fresh: &Untouched) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    prepare(lab, w, MESH, "east,west");
    dry_runs_show_the_plan_and_store_nothing(lab, w);
    check_installers(lab, w);
    no_wait_applies_the_control_planes_only(lab, w);
    // Positive control of the dry runs: the same join without them writes.
    let m = marks(lab);
    ok(join_mesh(JOIN, lab, w));
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(|w| !w.is_empty()),
        "the join wrote nothing somewhere: {writes:?}"
    );
    check_export_secrets(lab, w);
    leave_dry_run_sends_its_deletes_then_purge_takes_the_control_plane(lab, w);
}

/// Dry runs on fresh clusters: the whole plan shown, nothing stored.
fn dry_runs_show_the_plan_and_store_nothing(lab: &Lab, w: &Path) {
    for mode in ["--dry-run=client", "--dry-run=server"] {
        let o = writes_nothing(
            lab,
            w,
            &[
                "-f",
                "mesh.yaml",
                "--allow-loopback",
                "--create-reader",
                mode,
                "-o",
                "yaml",
            ],
        );
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(
            shown.matches("kind: Istio\n").count() >= 2,
            "{mode}: the plan lacks a control plane per cluster:\n{shown}"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing was written"),
            "{}",
            text(&o)
        );
    }
}

/// --no-wait: the control planes only, and it says what it left for the next run.
fn no_wait_applies_the_control_planes_only(lab: &Lab, w: &Path) {
    let nw = ok(run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--no-wait"],
    ));
    assert!(
        String::from_utf8_lossy(&nw.stderr).contains(
            "--no-wait: applied the control planes only; left for a run without --no-wait"
        ),
        "{}",
        text(&nw)
    );
    for ctx in ["lab-1", "lab-2"] {
        assert!(
            kubectl_json(lab, ctx, &["get", "istios.sailoperator.io", "default"]).is_some(),
            "{ctx}: --no-wait did not apply the control plane"
        );
    }
    for (ctx, kind, name) in [
        ("lab-1", "secret", "istio-remote-secret-west"),
        ("lab-1", "deployment", "istio-eastwestgateway"),
    ] {
        assert!(
            kubectl_json(lab, ctx, &["get", kind, name, "-n", "istio-system"]).is_none(),
            "{ctx}: --no-wait went on to {kind} {name}"
        );
    }
}

/// leave: a dry run writes nothing, lists the removals and sends each of them to the API
/// server with dryRun=All; --purge takes the control plane.
fn leave_dry_run_sends_its_deletes_then_purge_takes_the_control_plane(lab: &Lab, w: &Path) {
    let before_dry = marks(lab);
    let dry = writes_nothing(
        lab,
        w,
        &[
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            "west",
            "--purge",
            "--dry-run=server",
            "--yes",
        ],
    );
    let listed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        listed.contains("delete") && listed.contains("istio-remote-secret-west"),
        "{}",
        text(&dry)
    );
    let dry_deletes = dry_run_deletes(lab, &before_dry);
    assert!(
        dry_deletes
            .iter()
            .flatten()
            .any(|d| d == "secrets istio-remote-secret-west")
            && dry_deletes[1].iter().any(|d| d == "istios default"),
        "leave --dry-run=server did not send its deletes to the API servers: {dry_deletes:?}"
    );
    assert!(kubectl_json(lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_some());
    ok(run(
        JOIN,
        lab,
        w,
        &[
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            "west",
            "--purge",
            "--yes",
        ],
    ));
    assert!(
        kubectl_json(lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "--purge left the control plane"
    );
    let ns = kubectl_json(lab, "lab-2", &["get", "namespace", "istio-system"]);
    assert!(
        ns.as_ref()
            .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "--purge left the namespace: {ns:?}"
    );
    assert!(
        kubectl_json(
            lab,
            "lab-1",
            &[
                "get",
                "secret",
                "istio-remote-secret-west",
                "-n",
                "istio-system"
            ]
        )
        .is_none(),
        "east still reads west"
    );
}
