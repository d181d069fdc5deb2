//! `kubectl mesh-verify` without a cluster: the help text, reviewed in snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

#[test]
fn help_texts() {
    let tmp = tempfile::tempdir().unwrap();
    // `completion SHELL` is handled before clap, as in every plugin.
    for sub in [vec!["--help"], vec!["install-watch", "--help"]] {
        let o = Command::new(VERIFY)
            .args(&sub)
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .env_remove("MESH_CERTS_DIR")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{sub:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        insta::assert_snapshot!(
            format!("help-{}", sub.join("-")),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

fn verify(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(VERIFY)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", dir.join("absent-kubeconfig"))
        .env_remove("MESH_CERTS_DIR")
        .output()
        .unwrap()
}

#[test]
fn watch_flags_refuse_what_does_not_fit_with_exit_2_and_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--context", "a", "--watch", "--pre"], "--pre"),
        (&["--context", "a", "--watch", "--traffic"], "--traffic"),
        (&["--context", "a", "--watch", "--wait", "1m"], "--wait"),
        (&["--context", "a", "--events"], "--watch"),
        (&["--context", "a", "--interval", "5s"], "--watch"),
        (
            &["--context", "a", "--metrics-address", "127.0.0.1:0"],
            "--watch",
        ),
        (
            &["--context", "a", "--watch", "--interval", "0s"],
            "--interval",
        ),
        (
            &["--watch", "--metrics-address", "nowhere"],
            "--metrics-address",
        ),
        (
            &["install-watch", "-n", "Not_A_Namespace"],
            "Not_A_Namespace",
        ),
        (&["install-watch", "--interval", "soon"], "--interval"),
        (&["install-watch", "--context", "a,b"], "one cluster"),
    ];
    for (args, names) in cases {
        let o = verify(args, tmp.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?} names {names}: {err}");
        assert!(o.stdout.is_empty(), "{args:?} printed nothing");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_taken_metrics_port_is_an_input_error_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = verify(
        &["--context", "a", "--watch", "--metrics-address", &addr],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&addr) && err.contains("hint:"), "{err}");
    // Positive control: with the port free, the same run gets past it to the kubeconfig.
    drop(taken);
    let o = verify(
        &["--context", "a", "--watch", "--metrics-address", &addr],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("cannot listen") && err.contains("kubeconfig"),
        "{err}"
    );
}

#[test]
fn install_watch_renders_offline_every_object_in_apply_order() {
    let tmp = tempfile::tempdir().unwrap();
    let o = verify(
        &[
            "install-watch",
            "--image",
            "registry.example/km:1",
            "--no-events",
        ],
        tmp.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "ServiceMonitor",
            "PrometheusRule"
        ]
    );
    assert!(text.contains("image: registry.example/km:1"), "{text}");
    // --no-events grants no Event writes (with events, the test in mesh-core sees them).
    assert!(
        !text.contains("events.k8s.io") && !text.contains("--events"),
        "{text}"
    );
}
