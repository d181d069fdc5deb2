//! Section of `lab_credentials`: `mesh-join rotate-credentials` (long-lived tokens).
use super::*;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, kubectl_json, run_plugin as run,
};
use mesh_lab::{Lab, audit};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

/// `mesh-join rotate-credentials` on a joined two-cluster multi-primary mesh, each cluster's
/// istiod the operator's pod (1.30, so the rotation restarts it; the plugin follows the new pod
/// by port-forward): each istiod pod, once it reports the other cluster synced, keeps reporting
/// it while the tokens are rotated (clusterz sampled throughout), the old
/// tokens get 401 afterwards (and worked before), the new ones work with least privilege, and
/// a second run (and a second join) writes nothing.
///
/// Starts from clusters without a mesh (the caller asserts their footprint); ends with east
/// joined and west having left.
pub fn tokens_rotate_while_istiod_stays_synced_and_the_old_ones_are_revoked(lab: &Lab, w: &Path) {
    let istiods = joined_with_istiods(lab, w);
    // istiod is reached by port-forward to its pod, and followed across its restart.
    let rotate = vec!["rotate-credentials", "-f", "mesh.yaml"];
    let old = before(lab);
    refusals_and_dry_run(lab, w, &rotate);
    rotate_sampled(lab, w, &istiods, &rotate);
    let new = after(lab, &istiods, &old);
    rerun(lab, w, &rotate, &new);
    resume_after_an_istiod_did_not_confirm(lab, w, &new);
    leave_revokes_the_rotated_token(lab, w, &new[1]);
}

/// west leaves: the token Secret its record names (generation 1, which worked until now) is
/// deleted with it, so no live reader token stays behind.
fn leave_revokes_the_rotated_token(lab: &Lab, w: &Path, west_token: &str) {
    ok(reads_pods(lab, "lab-2", west_token));
    let o = ok(run(
        JOIN,
        lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "west", "--yes"],
    ));
    assert!(token(lab, "lab-2", NEW).is_none(), "{}", text(&o));
    eventually(30, "west's rotated token is refused", || {
        stderr(&reads_pods(lab, "lab-2", west_token)).contains("Unauthorized")
    });
}

/// Before: the join's tokens work (the positive control of the 401 below).
fn before(lab: &Lab) -> Vec<String> {
    let old: Vec<String> = CTXS
        .iter()
        .map(|(c, _)| token(lab, c, OLD).unwrap())
        .collect();
    for ((ctx, _), t) in CTXS.iter().zip(&old) {
        ok(reads_pods(lab, ctx, t));
    }
    assert_eq!(embedded(lab, "lab-2", "east"), old[0]);
    old
}

/// Bad input and a dry run: exit 2 / 0, nothing written.
fn refusals_and_dry_run(lab: &Lab, w: &Path, rotate: &[&str]) {
    let marks = audit::marks(lab);
    let o = run(
        JOIN,
        lab,
        w,
        &[
            "rotate-credentials",
            "-f",
            "mesh.yaml",
            "--cluster",
            "south",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("--cluster south: no such cluster"),
        "{}",
        text(&o)
    );
    let mut dry = rotate.to_vec();
    dry.push("--dry-run");
    let o = ok(run(JOIN, lab, w, &dry));
    assert!(
        stderr(&o).contains(&format!("east: mint token Secret istio-system/{NEW}")),
        "{}",
        text(&o)
    );
    assert!(
        stderr(&o).contains("west: rewrite istio-system/istio-remote-secret-east"),
        "{}",
        text(&o)
    );
    // The operator installs istiod 1.30, which does not take a rotated remote secret in place:
    // the plan restarts each reader's istiod after the swap; --no-istiod-restart refuses.
    for (source, reader) in [("east", "west"), ("west", "east")] {
        let step =
            format!("{source}: after the swap, restart {reader}'s istiod (istiod runs 1.30.");
        assert!(stderr(&o).contains(&step), "{step}\n{}", text(&o));
    }
    let mut refuse = rotate.to_vec();
    refuse.push("--no-istiod-restart");
    let o = run(JOIN, lab, w, &refuse);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for reader in ["east", "west"] {
        let named = format!("  {reader}: istiod runs 1.30.");
        assert!(stderr(&o).contains(&named), "{named}\n{}", text(&o));
    }
    assert_eq!(writes(lab, &marks), vec![Vec::<String>::new(); 2]);
}

/// The rotation, istiod sampled throughout; revoked only after the readers confirmed.
fn rotate_sampled(lab: &Lab, w: &Path, istiods: &[PodIstiod], rotate: &[&str]) {
    let marks = audit::marks(lab);
    let started = Instant::now();
    let (o, synced, other) = run_sampling(lab, w, istiods, rotate);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    eprintln!("rotation took {took:?}; clusterz samples: {synced} synced, others: {other:?}");
    let err = stderr(&o);
    for (reader, source) in [("west", "east"), ("east", "west")] {
        let confirmed = err.find(&format!("✔ {reader}: istiod reports {source} synced"));
        let revoked = err.find(&format!("{source}: revoked istio-system/{OLD}"));
        assert!(
            confirmed.is_some() && revoked.is_some() && confirmed < revoked,
            "{source} revoked only after {reader} confirmed: {}",
            text(&o)
        );
    }
    for reader in ["east", "west"] {
        let restarted = err.find(&format!("✔ {reader}: istio-system/istiod restarted"));
        let confirmed = err.find(&format!("✔ {reader}: istiod reports"));
        assert!(
            restarted.is_some() && restarted < confirmed,
            "{reader}'s istiod restarted before its sync was awaited: {}",
            text(&o)
        );
    }
    assert!(synced >= 4, "{synced} samples: {}", text(&o));
    // istiod (1.31 and later) lists the entry built from the rewritten secret as soon as it
    // takes the Secret, `syncing` until its informers synced with the new token, while it
    // keeps serving from the previous entry (make-before-break): a `syncing` sample is that
    // new entry. Never `timeout`, `closed` or missing.
    let syncing = other
        .iter()
        .filter(|s| s.ends_with("Some(\"syncing\")"))
        .count();
    assert_eq!(syncing, other.len(), "{other:?}\n{}", text(&o));
    let w1 = writes(lab, &marks);
    for (i, ws) in w1.iter().enumerate() {
        assert!(ws.contains(&format!("delete secrets {OLD}")), "{i}: {ws:?}");
        assert!(
            ws.contains(&"patch deployments istiod".to_string()),
            "{i}: {ws:?}"
        );
        let d = kubectl_json(
            lab,
            CTXS[i].0,
            &["get", "deployment", "istiod", "-n", "istio-system"],
        )
        .unwrap();
        let at =
            &d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
        assert!(at.is_string(), "{i}: {d:#}");
        assert_eq!(
            d["status"]["updatedReplicas"], d["spec"]["replicas"],
            "{i}: {d:#}"
        );
        assert!(
            ws.iter()
                .any(|x| x.starts_with("patch secrets istio-remote-secret-")),
            "{i}: {ws:?}"
        );
    }
}

/// After: the old tokens are refused (401), the new ones work and may not write secrets.
fn after(lab: &Lab, istiods: &[PodIstiod], old: &[String]) -> Vec<String> {
    for ((ctx, _), t) in CTXS.iter().zip(old) {
        eventually(30, "the old token is refused", || {
            let o = reads_pods(lab, ctx, t);
            !o.status.success() && stderr(&o).contains("Unauthorized")
        });
        assert!(token(lab, ctx, OLD).is_none());
    }
    let new: Vec<String> = CTXS
        .iter()
        .map(|(c, _)| token(lab, c, NEW).unwrap())
        .collect();
    assert_ne!(new, old);
    assert_eq!(embedded(lab, "lab-2", "east"), new[0]);
    assert_eq!(embedded(lab, "lab-1", "west"), new[1]);
    for ((ctx, _), t) in CTXS.iter().zip(&new) {
        ok(reads_pods(lab, ctx, t));
        let o = as_token(
            lab,
            ctx,
            t,
            &["auth", "can-i", "create", "secrets", "-n", "istio-system"],
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "no",
            "{}",
            text(&o)
        );
        let o = as_token(
            lab,
            ctx,
            t,
            &["create", "secret", "generic", "probe", "-n", "istio-system"],
        );
        assert!(
            !o.status.success() && stderr(&o).contains("is forbidden"),
            "{}",
            text(&o)
        );
    }
    for d in istiods {
        let z = d.clusterz().unwrap();
        assert!(
            z.as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] != d.cluster_id.as_str() && e["syncStatus"] == "synced"),
            "{z}"
        );
    }
    let sa = kubectl_json(
        lab,
        "lab-1",
        &[
            "get",
            "sa",
            "istio-reader-service-account",
            "-n",
            "istio-system",
        ],
    )
    .unwrap();
    let rec: Value = serde_json::from_str(
        sa["metadata"]["annotations"]["kubectl-mesh.io/reader-token"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["generation"], 1);
    assert!(
        rec["finished"].is_string() && rec.get("previous").is_none(),
        "{rec}"
    );
    new
}

/// Run again: finished, nothing written; a join again embeds the new token and mints none.
fn rerun(lab: &Lab, w: &Path, rotate: &[&str], new: &[String]) {
    let marks = audit::marks(lab);
    let o = ok(run(JOIN, lab, w, rotate));
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(writes(lab, &marks), vec![Vec::<String>::new(); 2]);
    ok(join_mesh(JOIN, lab, w));
    for (ctx, _) in CTXS {
        assert!(
            token(lab, ctx, OLD).is_none(),
            "{ctx}: the join minted its token again"
        );
    }
    assert_eq!(embedded(lab, "lab-2", "east"), new[0]);
    assert_eq!(embedded(lab, "lab-1", "west"), new[1]);
}

/// `--again` for east while west's istiod cannot be reached: exit 1, the new token is in the
/// remote secret but generation 1 is not revoked and the record stays in progress; run again
/// with west's istiod reachable: resumed (nothing minted or rewritten again), then revoked.
fn resume_after_an_istiod_did_not_confirm(lab: &Lab, w: &Path, gen1: &[String]) {
    const GEN2: &str = "istio-reader-service-account-istio-remote-secret-token-2";
    // west's istiod made unreachable with the one flag that points elsewhere (an address
    // nothing listens on); east's, and west's on the run that resumes, by port-forward.
    let unreachable = "--istiod-address=west=127.0.0.1:9".to_string();
    let base = [
        "rotate-credentials",
        "-f",
        "mesh.yaml",
        "--cluster",
        "east",
        "--again",
    ];
    let mut a: Vec<&str> = base.to_vec();
    // Long enough for west's istiod restart (a rollout in the lab), then the unreachable wait.
    a.extend([unreachable.as_str(), "--timeout", "30s"]);
    let o = run(JOIN, lab, w, &a);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("west: cannot read istiod's /debug/clusterz"),
        "{}",
        text(&o)
    );
    assert!(
        stderr(&o).contains("the previous token is kept"),
        "{}",
        text(&o)
    );
    let gen2 = token(lab, "lab-1", GEN2).unwrap();
    // No token in what the command printed (the positive control: the token is long and
    // found in the remote secret just below).
    assert!(gen2.len() > 100);
    for t in [&gen2, &gen1[0]] {
        assert!(!mesh_lab::testing::leak_views(&text(&o)).contains(t.as_str()));
    }
    assert_eq!(embedded(lab, "lab-2", "east"), gen2);
    ok(reads_pods(lab, "lab-1", &gen1[0]));
    // Resumed: no token minted and no remote secret rewritten again; generation 1 revoked.
    let marks = audit::marks(lab);
    let a: Vec<&str> = base[..5].to_vec();
    let o = ok(run(JOIN, lab, w, &a));
    assert!(
        stderr(&o).contains("east: resume the rotation to generation 2")
            && stderr(&o).contains("west's istiod already restarted during this rotation"),
        "{}",
        text(&o)
    );
    assert_eq!(
        writes(lab, &marks),
        vec![
            vec![
                format!("delete secrets {NEW}"),
                "patch serviceaccounts istio-reader-service-account".to_string()
            ],
            vec![]
        ]
    );
    eventually(30, "generation 1 is refused", || {
        stderr(&reads_pods(lab, "lab-1", &gen1[0])).contains("Unauthorized")
    });
    ok(reads_pods(lab, "lab-1", &gen2));
}
