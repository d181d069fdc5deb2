//! `kubectl mesh-verify --wait` and `-o short` on a lab cluster: a pre-join check that fails
//! (a service account without rights: cluster.facts) is listed in the short output without
//! the passing ones; with `--wait` the run retries until the account is granted its rights
//! behind its back, then passes.
//!
//! A section of `lab_verify`'s mesh (east's cluster, `lab-1`, by context; the pre-join checks
//! read the cluster, not the mesh): it starts green with no `verify-wait` account or binding,
//! runs in an empty folder of its own (no mesh file), and removes the account, its binding,
//! the kubeconfig and the folder at the end.

use super::{Mesh, VERIFY};
use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, kubectl_json as get, run_plugin as run};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "verify-wait";

pub fn short_lists_only_what_fails_and_wait_retries_until_it_passes(mesh: &Mesh) {
    let lab = mesh.lab;
    mesh.is_healthy();
    let account = ["get", "serviceaccount", ACCOUNT, "-n", "default"];
    let binding = ["get", "clusterrolebinding", ACCOUNT];
    assert!(
        get(lab, "lab-1", &account).is_none(),
        "no {ACCOUNT} account yet"
    );
    assert!(
        get(lab, "lab-1", &binding).is_none(),
        "no {ACCOUNT} binding yet"
    );
    let w = mesh.dir.join("wait");
    std::fs::create_dir(&w).unwrap();
    let kubeconfig = rightless_kubeconfig(lab, &w);
    let args = [
        "--pre",
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "lab-1",
        "-o",
        "short",
    ];

    // Without --wait: one run, exit 1, only the failing check listed, then the summary.
    let once = run(VERIFY, lab, &w, &args);
    assert_eq!(once.status.code(), Some(1), "{}", text(&once));
    let short = String::from_utf8_lossy(&once.stdout);
    assert!(short.contains("✖ cluster.facts [lab-1]"), "{}", text(&once));
    assert!(
        short.contains(" passed,") && !short.contains("✔ "),
        "a passing check is listed in -o short: {short}"
    );
    // Positive control: the passing check is in the table output.
    let table = run(VERIFY, lab, &w, &args[..5]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("✔ "),
        "{}",
        text(&table)
    );

    wait_retries_until_granted(lab, &w, &args);

    for what in [
        &["delete", "clusterrolebinding", ACCOUNT][..],
        &["delete", "serviceaccount", ACCOUNT, "-n", "default"],
    ] {
        let o = lab.kubectl("lab-1").args(what).output().unwrap();
        assert!(o.status.success(), "{what:?}: {}", text(&o));
    }
    std::fs::remove_dir_all(&w).unwrap();
}

/// With --wait: the run retries (said on stderr) while the account may not read the facts,
/// and passes once it is granted cluster-admin.
fn wait_retries_until_granted(lab: &Lab, w: &Path, args: &[&str]) {
    let mut child = Command::new(VERIFY)
        .args(args)
        .args(["--wait", "3m"])
        .current_dir(w)
        .env("KUBECONFIG", lab.kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("mesh-verify --wait never said it retries");
        if line.contains("retrying (--wait)") {
            break;
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "--wait gave up early");
    let granted = lab
        .kubectl("lab-1")
        .args([
            "create",
            "clusterrolebinding",
            ACCOUNT,
            "--clusterrole=cluster-admin",
            "--serviceaccount=default:verify-wait",
        ])
        .output()
        .unwrap();
    assert!(granted.status.success(), "{}", text(&granted));
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    let said = reader.join().unwrap().join("\n");
    assert_eq!(o.status.code(), Some(0), "stderr:\n{said}\n{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?} after the grant",
        started.elapsed()
    );
    let short = String::from_utf8_lossy(&o.stdout);
    assert!(!short.contains('✖'), "{short}");
}

/// A copy of the lab's kubeconfig whose context lab-1 uses a service account with no rights.
fn rightless_kubeconfig(lab: &Lab, w: &Path) -> String {
    let kubectl = |args: &[&str]| {
        let o = lab.kubectl("lab-1").args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    kubectl(&["create", "serviceaccount", ACCOUNT, "-n", "default"]);
    let token = kubectl(&["create", "token", ACCOUNT, "-n", "default"]);
    let path = w.join("rightless.kubeconfig");
    std::fs::copy(lab.kubeconfig(), &path).unwrap();
    for args in [
        vec![
            "config".to_string(),
            "set-credentials".into(),
            ACCOUNT.into(),
            format!("--token={}", token.trim()),
        ],
        vec![
            "config".into(),
            "set-context".into(),
            "lab-1".into(),
            "--user=verify-wait".into(),
        ],
    ] {
        let o = Command::new(lab.bin("kubectl").unwrap())
            .arg(format!("--kubeconfig={}", path.display()))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    path.display().to_string()
}
