//! `mesh-join rotate-credentials` on a joined two-cluster multi-primary lab mesh with a real
//! istiod per cluster (pilot-discovery as a local process): each istiod keeps reporting the
//! other cluster synced while the tokens are rotated (clusterz sampled throughout), the old
//! tokens get 401 afterwards (and worked before), the new ones work with least privilege, and
//! a second run (and a second join) writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::istiod::Istiod;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, kubectl_json, run_plugin as run,
};
use mesh_lab::{Lab, audit};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");
const CTXS: [(&str, &str); 2] = [("lab-1", "east"), ("lab-2", "west")];
const OLD: &str = "istio-reader-service-account-istio-remote-secret-token";
const NEW: &str = "istio-reader-service-account-istio-remote-secret-token-1";

fn start_istiods(lab: &mut Lab) -> Vec<Istiod> {
    let mut out = Vec::new();
    for (i, (_, id)) in CTXS.iter().enumerate() {
        let c = lab.clusters()[i].clone();
        let (proc, info) = mesh_lab::istiod::spawn(
            lab.bin_dir(),
            &lab.kubeconfig(),
            &c.dir,
            &c.name,
            i,
            id,
            &[],
        )
        .expect("istiod");
        lab.adopt_process(i, proc).unwrap();
        out.push(info);
    }
    out
}

fn eventually(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The token in a token Secret of `ctx` (`None`: no such Secret).
fn token(lab: &Lab, ctx: &str, name: &str) -> Option<String> {
    let s = kubectl_json(lab, ctx, &["get", "secret", name, "-n", "istio-system"])?;
    let b = base64::engine::general_purpose::STANDARD
        .decode(s["data"]["token"].as_str()?)
        .ok()?;
    Some(String::from_utf8(b).unwrap())
}

/// kubectl against `ctx`'s API server with only `token` (no kubeconfig credentials).
fn as_token(lab: &Lab, ctx: &str, token: &str, args: &[&str]) -> Output {
    let i = lab.contexts().iter().position(|c| c == ctx).unwrap();
    Command::new(lab.bin_dir().join("kubectl"))
        .arg("--kubeconfig=/dev/null")
        .arg(format!("--server={}", lab.clusters()[i].server))
        .arg("--insecure-skip-tls-verify")
        .arg(format!("--token={token}"))
        .args(args)
        .output()
        .unwrap()
}

fn reads_pods(lab: &Lab, ctx: &str, token: &str) -> Output {
    as_token(lab, ctx, token, &["get", "pods", "-n", "istio-system"])
}

/// The token embedded in `reader`'s remote secret for `source`.
fn embedded(lab: &Lab, reader: &str, source: &str) -> String {
    let s = kubectl_json(
        lab,
        reader,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{source}"),
            "-n",
            "istio-system",
        ],
    )
    .unwrap();
    let kc = base64::engine::general_purpose::STANDARD
        .decode(s["data"][source].as_str().unwrap())
        .unwrap();
    let v: Value = serde_yaml_ng_or_json(&kc);
    v["users"][0]["user"]["token"].as_str().unwrap().to_string()
}

fn serde_yaml_ng_or_json(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    let tok = line.trim_start().trim_start_matches("token:").trim();
    serde_json::json!({"users": [{"user": {"token": tok}}]})
}

/// Stored client writes per cluster since `marks`, without the lab istiods' own (leases,
/// ConfigMaps); the audit barrier inside is the positive control.
fn writes(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    let _ = audit::writes_since(lab, marks);
    lab.clusters()
        .iter()
        .zip(marks)
        .map(|(c, m)| {
            std::fs::read_to_string(c.audit_log())
                .unwrap()
                .lines()
                .skip(*m)
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|e| {
                    !e["userAgent"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("pilot-discovery")
                })
                .filter_map(|e| audit::stored_write(&e))
                .filter(|w| !w.starts_with("create configmaps audit-barrier-"))
                .collect()
        })
        .collect()
}

/// Runs the plugin while sampling each istiod's view of the other cluster: (output, synced
/// samples, every other sample).
fn run_sampling(
    lab: &Lab,
    dir: &Path,
    istiods: &[Istiod],
    args: &[&str],
) -> (Output, usize, Vec<String>) {
    let child = Command::new(JOIN)
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let (mut synced, mut other) = (0, Vec::new());
    loop {
        for d in istiods {
            let z = d
                .clusterz()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            let e = z.iter().find(|e| e["id"] != d.cluster_id.as_str());
            match e.and_then(|e| e["syncStatus"].as_str()) {
                Some("synced") => synced += 1,
                s => other.push(format!("{} sees {s:?}", d.cluster_id)),
            }
        }
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), synced, other);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn tokens_rotate_while_istiod_stays_synced_and_the_old_ones_are_revoked() {
    let mut lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
    )
    .unwrap();
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join_mesh(JOIN, &lab, w));
    let istiods = start_istiods(&mut lab);
    for d in &istiods {
        eventually(60, "each istiod syncs the other cluster", || {
            d.clusterz().is_some_and(|z| {
                z.as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["id"] != d.cluster_id.as_str() && e["syncStatus"] == "synced")
            })
        });
    }
    let addr: Vec<String> = istiods
        .iter()
        .map(|d| format!("--istiod-address={}={}", d.cluster_id, d.monitoring))
        .collect();
    let mut rotate = vec!["rotate-credentials", "-f", "mesh.yaml"];
    rotate.extend(addr.iter().map(String::as_str));

    // Before: the join's tokens work (the positive control of the 401 below).
    let old: Vec<String> = CTXS
        .iter()
        .map(|(c, _)| token(&lab, c, OLD).unwrap())
        .collect();
    for ((ctx, _), t) in CTXS.iter().zip(&old) {
        ok(reads_pods(&lab, ctx, t));
    }
    assert_eq!(embedded(&lab, "lab-2", "east"), old[0]);

    // Bad input and a dry run: exit 2 / 0, nothing written.
    let marks = audit::marks(&lab);
    let o = run(
        JOIN,
        &lab,
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
    let mut dry = rotate.clone();
    dry.push("--dry-run");
    let o = ok(run(JOIN, &lab, w, &dry));
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
    assert_eq!(writes(&lab, &marks), vec![Vec::<String>::new(); 2]);

    // The rotation, istiod sampled throughout.
    let marks = audit::marks(&lab);
    let started = Instant::now();
    let (o, synced, other) = run_sampling(&lab, w, &istiods, &rotate);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    eprintln!("rotation took {took:?}; clusterz samples: {synced} synced, others: {other:?}");
    assert!(
        stderr(&o).find("✔ west: istiod reports east synced")
            < stderr(&o).find(&format!("east: revoked istio-system/{OLD}")),
        "revoked only after the reader confirmed: {}",
        text(&o)
    );
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
    for (_, c) in CTXS {
        assert!(
            stderr(&o).contains(&format!("revoked istio-system/{OLD}")),
            "{c}: {}",
            text(&o)
        );
    }
    let w1 = writes(&lab, &marks);
    for (i, ws) in w1.iter().enumerate() {
        assert!(ws.contains(&format!("delete secrets {OLD}")), "{i}: {ws:?}");
        assert!(
            ws.iter()
                .any(|x| x.starts_with("patch secrets istio-remote-secret-")),
            "{i}: {ws:?}"
        );
    }

    // After: the old tokens are refused (401), the new ones work and may not write secrets.
    for ((ctx, _), t) in CTXS.iter().zip(&old) {
        eventually(30, "the old token is refused", || {
            let o = reads_pods(&lab, ctx, t);
            !o.status.success() && stderr(&o).contains("Unauthorized")
        });
        assert!(token(&lab, ctx, OLD).is_none());
    }
    let new: Vec<String> = CTXS
        .iter()
        .map(|(c, _)| token(&lab, c, NEW).unwrap())
        .collect();
    assert_ne!(new, old);
    assert_eq!(embedded(&lab, "lab-2", "east"), new[0]);
    assert_eq!(embedded(&lab, "lab-1", "west"), new[1]);
    for ((ctx, _), t) in CTXS.iter().zip(&new) {
        ok(reads_pods(&lab, ctx, t));
        let o = as_token(
            &lab,
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
            &lab,
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
    for d in &istiods {
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
        &lab,
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

    // Run again: finished, nothing written; a join again embeds the new token and mints none.
    let marks = audit::marks(&lab);
    let o = ok(run(JOIN, &lab, w, &rotate));
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(writes(&lab, &marks), vec![Vec::<String>::new(); 2]);
    ok(join_mesh(JOIN, &lab, w));
    for (ctx, _) in CTXS {
        assert!(
            token(&lab, ctx, OLD).is_none(),
            "{ctx}: the join minted its token again"
        );
    }
    assert_eq!(embedded(&lab, "lab-2", "east"), new[0]);
    assert_eq!(embedded(&lab, "lab-1", "west"), new[1]);
    resume_after_an_istiod_did_not_confirm(&lab, w, &istiods, &new);
}

/// `--again` for east while west's istiod cannot be reached: exit 1, the new token is in the
/// remote secret but generation 1 is not revoked and the record stays in progress; run again
/// with west's istiod reachable: resumed (nothing minted or rewritten again), then revoked.
fn resume_after_an_istiod_did_not_confirm(
    lab: &Lab,
    w: &Path,
    istiods: &[Istiod],
    gen1: &[String],
) {
    const GEN2: &str = "istio-reader-service-account-istio-remote-secret-token-2";
    let east = format!("--istiod-address=east={}", istiods[0].monitoring);
    let unreachable = "--istiod-address=west=127.0.0.1:9".to_string();
    let west = format!("--istiod-address=west={}", istiods[1].monitoring);
    let base = [
        "rotate-credentials",
        "-f",
        "mesh.yaml",
        "--cluster",
        "east",
        "--again",
    ];
    let mut a: Vec<&str> = base.to_vec();
    a.extend([east.as_str(), unreachable.as_str(), "--timeout", "3s"]);
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
    assert_eq!(embedded(lab, "lab-2", "east"), gen2);
    ok(reads_pods(lab, "lab-1", &gen1[0]));
    // Resumed: no token minted and no remote secret rewritten again; generation 1 revoked.
    let marks = audit::marks(lab);
    let mut a: Vec<&str> = base[..5].to_vec();
    a.extend([east.as_str(), west.as_str()]);
    let o = ok(run(JOIN, lab, w, &a));
    assert!(
        stderr(&o).contains("east: resume the rotation to generation 2"),
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
