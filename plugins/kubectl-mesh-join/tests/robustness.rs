//! Robustness on the lab: a second run of every mutating command writes nothing (counted in the
//! API servers' audit logs), an API server that goes away is named and nothing is written
//! elsewhere behind the user's back, and no key or token ever reaches a log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::audit::{await_writes, marks, writes_since, writes_since_except};
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, leak_views, run_plugin as run,
};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

fn bin(p: &str) -> String {
    mesh_lab::plugin_bin(p).unwrap().display().to_string()
}

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: primary, eastWestAddress: 192.0.2.2}\n- {name: north, context: lab-3, network: network3, role: primary, eastWestAddress: 192.0.2.3}\n";

#[test]
fn second_runs_write_nothing_no_secret_reaches_a_log_and_an_api_server_gone_is_named() {
    let mut lab = Lab::up(3).expect("lab");
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
    keep(ok(join_mesh(JOIN, &lab, w)));

    // Second runs: zero writes in every cluster.
    for args in [
        vec![certs.as_str(), "apply", "-f", "mesh.yaml"],
        vec![
            JOIN,
            "-f",
            "mesh.yaml",
            "--timeout",
            "60s",
            "--allow-loopback",
        ],
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
        vec![
            JOIN,
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "-o",
            "json",
        ],
        vec![
            JOIN,
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--timeout",
            "60s",
            "-o",
            "json",
        ],
        vec![
            JOIN,
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--timeout",
            "60s",
            "-o",
            "yaml",
        ],
        vec![
            JOIN,
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--dry-run=server",
            "-o",
            "json",
        ],
        vec![
            JOIN,
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        vec![certs.as_str(), "apply", "-f", "mesh.yaml", "-o", "json"],
        vec![
            certs.as_str(),
            "apply",
            "-f",
            "mesh.yaml",
            "-o",
            "yaml",
            "--dry-run=client",
        ],
        vec![
            JOIN,
            "remote-secret",
            "--context",
            "lab-1",
            "--name",
            "east",
            "--allow-loopback",
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
        // The middle of the body: the private part (the start is the same for every key).
        secrets.push((f.to_string(), body[50..90].to_string()));
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
    assert!(transcript.len() >= 15);
    for (out, err) in &transcript {
        let (out, err) = (leak_views(out), leak_views(err));
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
    // Positive control: the same scan finds the token where the user asked for it, inside
    // the kubeconfig inside the Secret (base64 twice over: -o json of a plan).
    let asked = ok(run(
        JOIN,
        &lab,
        w,
        &[
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "-o",
            "json",
            "--include-secrets",
        ],
    ));
    let east_token = &secrets
        .iter()
        .find(|(w, _)| w == "token of lab-1")
        .unwrap()
        .1;
    assert!(leak_views(&String::from_utf8_lossy(&asked.stdout)).contains(east_token.as_str()));
    // And the key probe finds east's intermediate key where the user asks for the cacerts
    // Secrets (base64 in `data`, a PEM spanning lines once decoded), in both formats: the key
    // scan above could see one.
    let east_key = &secrets
        .iter()
        .find(|(w, _)| w == "mesh-certs/east/ca-key.pem")
        .unwrap()
        .1;
    for format in ["yaml", "json"] {
        let shown = ok(run(
            &certs,
            &lab,
            w,
            &[
                "apply",
                "-f",
                "mesh.yaml",
                "--dry-run=client",
                "-o",
                format,
                "--include-secrets",
            ],
        ));
        let shown = leak_views(&String::from_utf8_lossy(&shown.stdout));
        assert!(shown.contains(east_key.as_str()), "{format}: {shown}");
    }
    let printed = ok(run(
        JOIN,
        &lab,
        w,
        &[
            "remote-secret",
            "--context",
            "lab-1",
            "--name",
            "east",
            "--allow-loopback",
            "--include-secrets",
        ],
    ));
    assert!(leak_views(&String::from_utf8_lossy(&printed.stdout)).contains(east_token.as_str()));
    let files = std::fs::read_dir(w.join("mesh-certs/east")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let f = f.unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        if f.file_name().to_string_lossy().contains("key") {
            assert_eq!(mode, 0o600, "{:?}", f.file_name());
        }
    }
    an_api_server_that_goes_away_is_named_and_nothing_is_written_behind_the_users_back(&mut lab, w);
}

/// On the joined mesh: with lab-3's API server stopped before the run, the join is refused at
/// the start, within the timeout, naming lab-3, and nothing is written anywhere.
fn an_api_server_that_goes_away_is_named_and_nothing_is_written_behind_the_users_back(
    lab: &mut Lab,
    w: &std::path::Path,
) {
    let certs = bin("kubectl-mesh-certs");
    // Stopped before the run: refused at the start, within the timeout, nothing written anywhere.
    lab.stop_process(2, "kube-apiserver");
    let m = marks(lab);
    let started = Instant::now();
    let o = run(
        JOIN,
        lab,
        w,
        &[
            "-f",
            "mesh.yaml",
            "--timeout",
            "60s",
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
    let writes = writes_since_except(lab, &m, &[2]);
    assert!(
        writes[0].is_empty() && writes[1].is_empty(),
        "written while a cluster was down: {writes:?}"
    );
    let o = run(
        &certs,
        lab,
        w,
        &["status", "-f", "mesh.yaml", "--request-timeout", "3s"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lab-3"));
}

#[test]
fn an_api_server_stopped_mid_join_is_named_and_no_remote_secret_is_written() {
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
    // The fault lands mid-join: lab-3's API server is stopped once the join's first write shows
    // in an audit log, while the join still runs (it writes remote secrets into lab-3 only
    // after every control plane is Ready).
    let m = marks(&lab);
    let mut child = Command::new(JOIN)
        .args([
            "-f",
            "mesh.yaml",
            "--timeout",
            "60s",
            "--allow-loopback",
            "--request-timeout",
            "5s",
        ])
        .current_dir(w)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wrote = await_writes(&lab, &m, 1, Instant::now() + Duration::from_secs(60));
    assert!(wrote, "the join wrote nothing within 60 s");
    if child.try_wait().unwrap().is_some() {
        let o = child.wait_with_output().unwrap();
        panic!(
            "the join ended before the API server was stopped: the fault did not land\n{}",
            text(&o)
        );
    }
    lab.stop_process(2, "kube-apiserver");
    let started = Instant::now();
    let down = lab.kubectl("lab-3").args(["get", "ns"]).output().unwrap();
    assert!(
        !down.status.success(),
        "lab-3 still answers: {}",
        text(&down)
    );
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    // Exit 0 would mean the join never needed lab-3 after it went away: not acceptable.
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // The join failed on lab-3 being unreachable (not on something else): the fault landed.
    assert!(
        err.contains("context 'lab-3': cannot reach the API server"),
        "names the cluster and the cause: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    // What was written before the fault: the clusters that stayed up hold part of the join
    // (proof the run was under way), and no remote secret reached them behind the user's back.
    let writes = writes_since_except(&lab, &m, &[2]);
    assert!(
        !writes[0].is_empty() || !writes[1].is_empty(),
        "no write in lab-1 or lab-2 before the fault: {writes:?}"
    );
    for (ctx, w) in ["lab-1", "lab-2"].iter().zip(&writes) {
        assert!(
            !w.iter()
                .any(|w| w.contains(" secrets istio-remote-secret-")),
            "{ctx} got a remote secret although lab-3 was down: {w:?}"
        );
    }
}
