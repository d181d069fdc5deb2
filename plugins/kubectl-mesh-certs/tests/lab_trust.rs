//! `kubectl mesh-certs apply | status | rotate` against real lab clusters, checked with the
//! lab's kubectl and with openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const CERTS: &str = env!("CARGO_BIN_EXE_kubectl-mesh_certs");

fn certs(lab: &Lab, cwd: &Path, args: &[&str]) -> Output {
    mesh_lab::testing::run_plugin(CERTS, lab, cwd, args)
}

fn cacerts(lab: &Lab, ctx: &str) -> Option<Value> {
    kubectl_json(
        lab,
        ctx,
        &["get", "secret", "cacerts", "-n", "istio-system"],
    )
}

fn data(secret: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().expect("key"))
        .expect("base64")
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string()
}

fn openssl(args: &[&str], cwd: &Path) -> String {
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

#[test]
fn apply_to_three_clusters_then_status_idempotency_and_no_root_key() {
    let lab = Lab::up_without_crds(3).expect("lab");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    ok(certs(&lab, w, &["create", "--clusters", "east,west,north"]));

    let applied = ok(certs(
        &lab,
        w,
        &[
            "apply",
            "--context",
            "lab-1,lab-2,lab-3",
            "--cluster",
            "east,west,north",
            "--network",
            "net1,net2,net3",
        ],
    ));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains("applied 6 change(s) in 3 cluster(s)"),
        "{}",
        text(&applied)
    );

    // The live Secrets are what openssl accepts: each intermediate chains to the root.
    let mut versions = Vec::new();
    for (ctx, cluster, net) in [
        ("lab-1", "east", "net1"),
        ("lab-2", "west", "net2"),
        ("lab-3", "north", "net3"),
    ] {
        let secret = cacerts(&lab, ctx).expect("cacerts exists");
        assert_eq!(secret["type"], "Opaque");
        let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem"
            ]
        );
        let d = tempfile::tempdir().unwrap();
        for k in ["ca-cert.pem", "cert-chain.pem", "root-cert.pem"] {
            std::fs::write(d.path().join(k), data(&secret, k)).unwrap();
        }
        let verified = openssl(
            &[
                "verify",
                "-CAfile",
                "root-cert.pem",
                "-untrusted",
                "cert-chain.pem",
                "ca-cert.pem",
            ],
            d.path(),
        );
        assert!(verified.contains("ca-cert.pem: OK"), "{verified}");
        assert_eq!(
            data(&secret, "ca-cert.pem"),
            std::fs::read(w.join("mesh-certs").join(cluster).join("ca-cert.pem")).unwrap()
        );
        let ns = kubectl_json(&lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
        assert_eq!(ns["metadata"]["labels"]["topology.istio.io/network"], net);
        versions.push((rv(&secret), rv(&ns)));
    }

    // A second apply writes nothing: every resourceVersion stays.
    let again = ok(certs(
        &lab,
        w,
        &[
            "apply",
            "--context",
            "lab-1,lab-2,lab-3",
            "--cluster",
            "east,west,north",
            "--network",
            "net1,net2,net3",
        ],
    ));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to do"),
        "{}",
        text(&again)
    );
    for (i, ctx) in ["lab-1", "lab-2", "lab-3"].iter().enumerate() {
        let secret = cacerts(&lab, ctx).unwrap();
        let ns = kubectl_json(&lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
        assert_eq!(
            (rv(&secret), rv(&ns)),
            versions[i],
            "{ctx} was written by a no-op apply"
        );
    }

    // status: one root, valid chains, the days left openssl's dates give.
    let status = ok(certs(
        &lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,lab-2,lab-3",
            "--cluster",
            "east,west,north",
            "-o",
            "json",
        ],
    ));
    let report: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(report["sharedRoot"], true);
    assert_eq!(
        report["problems"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    let root_fp = openssl(
        &[
            "x509",
            "-in",
            "mesh-certs/root-cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        w,
    );
    let root_fp = root_fp.trim().split('=').nth(1).unwrap().to_string();
    assert_eq!(report["meshRoot"], root_fp.as_str());
    assert_eq!(report["localRoot"], root_fp.as_str());
    for (c, name) in report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["east", "west", "north"])
    {
        assert_eq!(c["cluster"], name);
        assert_eq!(c["cacerts"]["chains"], true);
        assert_eq!(c["cacerts"]["roots"][0], root_fp.as_str());
        assert_eq!(c["localRootMatches"], true);
        let end = openssl(
            &[
                "x509",
                "-in",
                &format!("mesh-certs/{name}/ca-cert.pem"),
                "-noout",
                "-enddate",
            ],
            w,
        );
        let end = end.trim().trim_start_matches("notAfter=").to_string();
        let secs = std::process::Command::new("date")
            .args(["-d", &end, "+%s"])
            .output()
            .unwrap();
        let secs: i64 = String::from_utf8_lossy(&secs.stdout)
            .trim()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let days = (secs - now).div_euclid(86_400);
        assert_eq!(c["cacerts"]["intermediate"]["daysLeft"], days, "{name}");
    }

    // The root private key is in no Secret and no ConfigMap of any cluster.
    let root_key = std::fs::read_to_string(w.join("mesh-certs/root-key.pem")).unwrap();
    let body: String = root_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let probe = &body[..64];
    for ctx in lab.contexts() {
        for kind in ["secrets", "configmaps"] {
            let all = kubectl_json(&lab, &ctx, &["get", kind, "-A"]).unwrap();
            for item in all["items"].as_array().unwrap() {
                for (_, v) in item["data"].as_object().into_iter().flatten() {
                    let raw = v.as_str().unwrap_or_default();
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .unwrap_or_default();
                    let decoded: String = String::from_utf8_lossy(&decoded).lines().collect();
                    let plain: String = raw.lines().collect();
                    assert!(
                        !decoded.contains(probe) && !plain.contains(probe),
                        "{ctx}: {kind} {} holds the root key",
                        item["metadata"]["name"]
                    );
                }
            }
        }
    }
}

#[test]
fn refusals_force_dry_runs_yaml_rotation_and_unreachable_contexts() {
    let mut lab = Lab::up_without_crds(2).expect("lab");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    ok(certs(
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
    ok(certs(
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
            "--dir",
            "foreign",
        ],
    ));

    // --dry-run writes nothing, client or server side.
    for mode in ["--dry-run=client", "--dry-run=server"] {
        ok(certs(
            &lab,
            w,
            &["apply", "--context", "lab-1", "--cluster", "east", mode],
        ));
        assert!(cacerts(&lab, "lab-1").is_none(), "{mode} wrote cacerts");
        assert!(
            kubectl_json(&lab, "lab-1", &["get", "namespace", "istio-system"]).is_none(),
            "{mode} created the namespace"
        );
    }

    // -o yaml leaves the Secret out unless asked; with --include-secrets it is what
    // `kubectl apply -f -` accepts, and the result is what apply would make.
    let args = [
        "apply",
        "--context",
        "lab-1",
        "--cluster",
        "east",
        "--dry-run=client",
        "-o",
        "yaml",
    ];
    let hidden = ok(certs(&lab, w, &args));
    let hidden = String::from_utf8_lossy(&hidden.stdout);
    assert!(
        hidden.contains("Secret istio-system/cacerts left out") && !hidden.contains("ca-key.pem:"),
        "{hidden}"
    );
    let yaml = ok(certs(
        &lab,
        w,
        &[&args[..], &["--include-secrets"]].concat(),
    ));
    assert!(
        String::from_utf8_lossy(&yaml.stdout).contains("ca-key.pem:"),
        "positive control: the key is in the output when asked for"
    );
    let mut child = lab
        .kubectl("lab-1")
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&yaml.stdout).unwrap();
    let applied = child.wait_with_output().unwrap();
    assert!(
        applied.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let before = cacerts(&lab, "lab-1").expect("applied by kubectl");
    let same = ok(certs(
        &lab,
        w,
        &["apply", "--context", "lab-1", "--cluster", "east"],
    ));
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("unchanged   Secret istio-system/cacerts"),
        "{}",
        text(&same)
    );
    assert_eq!(rv(&cacerts(&lab, "lab-1").unwrap()), rv(&before));

    // Another root: refused, both fingerprints named, nothing changed.
    let foreign = certs(
        &lab,
        w,
        &[
            "apply",
            "--context",
            "lab-1",
            "--cluster",
            "east",
            "--dir",
            "foreign",
        ],
    );
    assert_eq!(foreign.status.code(), Some(2), "{}", text(&foreign));
    let err = String::from_utf8_lossy(&foreign.stderr);
    let fp = |dir: &str| {
        openssl(
            &[
                "x509",
                "-in",
                &format!("{dir}/root-cert.pem"),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
            w,
        )
        .trim()
        .split('=')
        .nth(1)
        .unwrap()
        .to_string()
    };
    assert!(
        err.contains(&fp("mesh-certs")) && err.contains(&fp("foreign")),
        "{err}"
    );
    assert!(
        err.contains("root-rotation") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(rv(&cacerts(&lab, "lab-1").unwrap()), rv(&before));

    // Another intermediate under the same root: refused without --force, replaced with it.
    ok(certs(&lab, w, &["rotate", "--cluster", "east"]));
    let refused = certs(
        &lab,
        w,
        &["apply", "--context", "lab-1", "--cluster", "east"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another intermediate"),
        "{}",
        text(&refused)
    );
    assert_eq!(rv(&cacerts(&lab, "lab-1").unwrap()), rv(&before));
    // kubectl wrote the Secret's data: --force alone does not take kubectl's fields.
    let replace = [
        "apply",
        "--context",
        "lab-1",
        "--cluster",
        "east",
        "--force",
    ];
    let taken = certs(&lab, w, &replace);
    assert_eq!(taken.status.code(), Some(2), "{}", text(&taken));
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(
        err.contains(".data.ca-cert.pem") && err.contains("kubectl-client-side-apply"),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(rv(&cacerts(&lab, "lab-1").unwrap()), rv(&before));
    ok(certs(
        &lab,
        w,
        &[&replace[..], &["--force-conflicts"]].concat(),
    ));
    assert_eq!(
        data(&cacerts(&lab, "lab-1").unwrap(), "ca-cert.pem"),
        std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap()
    );

    // rotate: a new intermediate, the old one backed up, applied, still the same root.
    let old = std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap();
    ok(certs(
        &lab,
        w,
        &["rotate", "--cluster", "east", "--context", "lab-1"],
    ));
    let new = std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap();
    assert_ne!(old, new);
    assert_eq!(data(&cacerts(&lab, "lab-1").unwrap(), "ca-cert.pem"), new);
    let backups: Vec<_> = std::fs::read_dir(w.join("mesh-certs/backup"))
        .unwrap()
        .collect();
    assert_eq!(
        backups.len(),
        2,
        "one backup per rotation, even within one second"
    );
    let key_mode = std::fs::metadata(w.join("mesh-certs/east/ca-key.pem")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);

    // status names the cluster whose cacerts comes from another root, exit 1.
    ok(certs(
        &lab,
        w,
        &[
            "apply",
            "--context",
            "lab-2",
            "--cluster",
            "west",
            "--dir",
            "foreign",
        ],
    ));
    let status = certs(
        &lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,lab-2",
            "--cluster",
            "east,west",
        ],
    );
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(
        err.contains("west: cacerts in context lab-2 trusts root")
            && err.contains("not the local root"),
        "{err}"
    );
    assert!(!err.contains("east: cacerts"), "east is fine: {err}");
    let json = certs(
        &lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,lab-2",
            "--cluster",
            "east,west",
            "-o",
            "json",
        ],
    );
    let report: Value = serde_json::from_slice(&json.stdout).expect("only JSON on stdout");
    assert_eq!(report["sharedRoot"], false);
    assert_eq!(report["clusters"][1]["localRootMatches"], false);

    // An unknown context and a stopped API server: exit 2, the context named.
    let unknown = certs(
        &lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,nosuch",
            "--cluster",
            "east,west",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("nosuch"),
        "{}",
        text(&unknown)
    );
    lab.stop_process(1, "kube-apiserver");
    let started = std::time::Instant::now();
    let down = certs(
        &lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,lab-2",
            "--cluster",
            "east,west",
            "--request-timeout",
            "5s",
        ],
    );
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("lab-2"),
        "{}",
        text(&down)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// Audit-log line counts per cluster (a mark to count from); a missing log fails the test.
fn audit_marks(lab: &Lab) -> Vec<usize> {
    mesh_lab::audit::marks(lab)
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

/// Every file under `dir` with its bytes, by relative path.
fn dir_digest(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn kubectl_ok(lab: &Lab, ctx: &str, args: &[&str]) {
    let o = lab.kubectl(ctx).args(args).output().unwrap();
    assert!(o.status.success(), "kubectl {args:?}: {}", text(&o));
}

#[test]
fn a_cluster_that_refuses_the_dry_run_stops_apply_before_any_write_anywhere() {
    let lab = Lab::up_without_crds(2).expect("lab");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    ok(certs(
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
    // Both clusters have istio-system (every object is then checkable by the server); the
    // second forbids any Secret in it by quota, as a restrictive platform team might.
    for ctx in ["lab-1", "lab-2"] {
        kubectl_ok(&lab, ctx, &["create", "namespace", "istio-system"]);
    }
    kubectl_ok(
        &lab,
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
        &lab,
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
    let apply = [
        "apply",
        "--context",
        "lab-1,lab-2",
        "--cluster",
        "east,west",
        "--network",
        "net1,net2",
    ];

    let marks = audit_marks(&lab);
    let refused = certs(&lab, w, &apply);
    // rotate checks the new Secret the same way before it writes its files.
    let files_before = dir_digest(&w.join("mesh-certs"));
    let rotate_refused = certs(
        &lab,
        w,
        &["rotate", "--cluster", "west", "--context", "lab-2"],
    );
    let seen = client_requests_since(&lab, &marks);
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
        dir_digest(&w.join("mesh-certs")),
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
    assert!(cacerts(&lab, "lab-1").is_none());

    // Positive control with the same probe: once lab-2 allows Secrets, the same command
    // writes both clusters, and the audit logs show those writes.
    kubectl_ok(
        &lab,
        "lab-2",
        &["delete", "quota", "no-secrets", "-n", "istio-system"],
    );
    let marks = audit_marks(&lab);
    let applied = ok(certs(&lab, w, &apply));
    let seen = client_requests_since(&lab, &marks);
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
        assert!(cacerts(&lab, ctx).is_some(), "{ctx}");
    }
    // And rotate, now accepted, writes its files and the cluster.
    let marks = audit_marks(&lab);
    ok(certs(
        &lab,
        w,
        &["rotate", "--cluster", "west", "--context", "lab-2"],
    ));
    let seen = client_requests_since(&lab, &marks);
    assert_ne!(
        dir_digest(&w.join("mesh-certs")),
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
