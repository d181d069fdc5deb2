//! Robustness on the lab: a second run of every mutating command writes nothing (counted in the
//! API servers' audit logs), an API server that goes away is named and nothing is written
//! elsewhere behind the user's back, and no key or token ever reaches a log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, expect_success as ok, run_plugin as run};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

fn bin(p: &str) -> String {
    mesh_lab::plugin_bin(p).unwrap().display().to_string()
}

/// Audit-log line counts per cluster (a mark to count from).
fn marks(lab: &Lab) -> Vec<usize> {
    lab.clusters()
        .iter()
        .map(|c| {
            std::fs::read_to_string(c.audit_log())
                .unwrap_or_default()
                .lines()
                .count()
        })
        .collect()
}

/// Write requests (create/update/patch/delete) by clients since `marks`, per cluster.
fn writes_since(lab: &Lab, marks: &[usize]) -> Vec<Vec<String>> {
    std::thread::sleep(Duration::from_millis(1500)); // the audit backend flushes in batches
    lab.clusters()
        .iter()
        .zip(marks)
        .map(|(c, m)| {
            std::fs::read_to_string(c.audit_log())
                .unwrap_or_default()
                .lines()
                .skip(*m)
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["stage"] == "ResponseComplete")
                .filter(|e| {
                    !e["user"]["username"]
                        .as_str()
                        .unwrap_or("system:")
                        .starts_with("system:")
                })
                .filter(|e| {
                    !e["userAgent"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("kube-controller-manager")
                })
                .filter(|e| {
                    matches!(
                        e["verb"].as_str(),
                        Some("create" | "update" | "patch" | "delete")
                    )
                })
                .filter(|e| {
                    // SelfSubjectReviews/AccessReviews are "create"s that store nothing.
                    let r = e["objectRef"]["resource"].as_str().unwrap_or_default();
                    !r.starts_with("selfsubject")
                })
                .map(|e| {
                    format!(
                        "{} {} {}",
                        e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"]
                    )
                })
                .collect()
        })
        .collect()
}

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: primary, eastWestAddress: 192.0.2.2}\n- {name: north, context: lab-3, network: network3, role: primary, eastWestAddress: 192.0.2.3}\n";

#[test]
fn second_runs_write_nothing_and_no_secret_reaches_a_log() {
    let lab = Lab::up(3).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let certs = bin("kubectl-mesh-certs");
    let verify = bin("kubectl-mesh-verify");
    let mut transcript = Vec::new();
    let mut keep = |o: Output| {
        transcript.push((
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
        o
    };
    keep(ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west,north",
            "--key-type",
            "ecdsa-p256",
        ],
    )));
    keep(ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"])));
    keep(ok(run(
        JOIN,
        &lab,
        w,
        &["-f", "mesh.yaml", "--no-wait", "--allow-loopback"],
    )));

    // Second runs: zero writes in every cluster.
    for args in [
        vec![certs.as_str(), "apply", "-f", "mesh.yaml"],
        vec![JOIN, "-f", "mesh.yaml", "--no-wait", "--allow-loopback"],
        vec![certs.as_str(), "status", "-f", "mesh.yaml", "-o", "json"],
        vec![
            verify.as_str(),
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "-o",
            "json",
        ],
        vec![
            JOIN,
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "-o",
            "yaml",
        ],
    ] {
        let m = marks(&lab);
        let o = run(args[0], &lab, w, &args[1..]);
        // mesh-verify reports what this lab lacks (no operator status, no istiod): exit 1 is
        // a report; only 0 counts for the others.
        let allowed: &[i32] = if args[0] == verify.as_str() {
            &[0, 1]
        } else {
            &[0]
        };
        assert!(
            allowed.contains(&o.status.code().unwrap_or(-1)),
            "{}",
            text(&o)
        );
        keep(o);
        let writes = writes_since(&lab, &m);
        assert!(
            writes.iter().all(Vec::is_empty),
            "{:?} wrote: {writes:?}",
            &args[1..]
        );
    }

    // No key or token in what the commands printed (manifest output without --include-secrets
    // included; remote-secret's and --include-secrets' outputs are secrets by request, not logs).
    let mut secrets: Vec<(String, String)> = Vec::new();
    for f in [
        "mesh-certs/root-key.pem",
        "mesh-certs/east/ca-key.pem",
        "mesh-certs/west/ca-key.pem",
        "mesh-certs/north/ca-key.pem",
    ] {
        let pem = std::fs::read_to_string(w.join(f)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        secrets.push((f.to_string(), body[..40].to_string()));
    }
    for ctx in lab.contexts() {
        let o = lab
            .kubectl(&ctx)
            .args([
                "get",
                "secret",
                "istio-reader-service-account-istio-remote-secret-token",
                "-n",
                "istio-system",
                "-o",
                "jsonpath={.data.token}",
            ])
            .output()
            .unwrap();
        let token = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&o.stdout)
                .unwrap(),
        )
        .unwrap();
        assert!(token.len() > 100);
        secrets.push((
            format!("token of {ctx}"),
            token[token.len() - 40..].to_string(),
        ));
    }
    assert!(transcript.len() >= 8);
    for (out, err) in &transcript {
        for (what, probe) in &secrets {
            assert!(
                !err.contains(probe.as_str()),
                "{what} appeared on stderr:\n{err}"
            );
            assert!(
                !out.contains(probe.as_str()),
                "{what} appeared on stdout:\n{out}"
            );
        }
    }
    let files = std::fs::read_dir(w.join("mesh-certs/east")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let f = f.unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        if f.file_name().to_string_lossy().contains("key") {
            assert_eq!(mode, 0o600, "{:?}", f.file_name());
        }
    }
}

#[test]
fn an_api_server_that_goes_away_is_named_and_nothing_is_written_behind_the_users_back() {
    let mut lab = Lab::up(3).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let certs = bin("kubectl-mesh-certs");
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west,north",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));

    // Stopped before the run: refused at the start, within the timeout, nothing written anywhere.
    lab.stop_process(2, "kube-apiserver");
    let m = marks(&lab);
    let started = Instant::now();
    let o = run(
        JOIN,
        &lab,
        w,
        &[
            "-f",
            "mesh.yaml",
            "--no-wait",
            "--allow-loopback",
            "--request-timeout",
            "5s",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lab-3"), "{err}");
    let writes = writes_since(&lab, &m);
    assert!(
        writes[0].is_empty() && writes[1].is_empty(),
        "written while a cluster was down: {writes:?}"
    );
    let o = run(
        &certs,
        &lab,
        w,
        &["status", "-f", "mesh.yaml", "--request-timeout", "3s"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lab-3"));
}

#[test]
fn an_api_server_stopped_mid_join_is_reported_with_what_was_done() {
    let mut lab = Lab::up(3).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let certs = bin("kubectl-mesh-certs");
    ok(run(
        &certs,
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west,north",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs, &lab, w, &["apply", "-f", "mesh.yaml"]));
    let child = Command::new(JOIN)
        .args([
            "-f",
            "mesh.yaml",
            "--no-wait",
            "--allow-loopback",
            "--request-timeout",
            "5s",
        ])
        .current_dir(w)
        .env("KUBECONFIG", lab.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let started = Instant::now();
    lab.stop_process(2, "kube-apiserver");
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    match o.status.code() {
        // It finished before the API server went away.
        Some(0) => {}
        Some(2) => {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("lab-3") || err.contains("north"),
                "names the cluster: {err}"
            );
            assert!(err.contains("hint:"), "{err}");
            // If anything was written in the clusters that stayed up, the error says so.
            let touched = ["lab-1", "lab-2"].iter().any(|ctx| {
                lab.kubectl(ctx)
                    .args(["get", "istios.sailoperator.io", "default"])
                    .output()
                    .unwrap()
                    .status
                    .success()
            });
            if touched {
                assert!(
                    err.contains("finished in:") || err.contains("failed in cluster"),
                    "partial changes must be reported: {err}"
                );
            }
        }
        other => panic!("unexpected exit {other:?}: {}", text(&o)),
    }
}
