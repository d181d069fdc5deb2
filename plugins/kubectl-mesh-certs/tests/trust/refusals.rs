//! Section (last: it stops lab-2's API server): refusals, `--force`, dry runs, YAML output,
//! rotation, and contexts that are unknown or unreachable.

use super::*;
use mesh_lab::testing::{describe as text, expect_success as ok};
use std::process::Stdio;

/// `apply` of east to lab-1.
const APPLY_EAST: &[&str] = &["apply", "--context", "lab-1", "--cluster", "east"];

/// `--dry-run` (client or server) writes nothing; `-o yaml` leaves the Secret out unless
/// asked, and what it prints is what `kubectl apply -f -` accepts and apply would make;
/// another root is refused naming both fingerprints; another intermediate is refused without
/// `--force`, and `--force` alone does not take kubectl's fields (`--force-conflicts` does);
/// `rotate` backs up and applies a new intermediate; `status` names the cluster on another
/// root (exit 1); an unknown context and a stopped API server give exit 2 naming the context.
/// Runs last: it leaves lab-2's API server stopped.
pub fn refusals_force_dry_runs_yaml_rotation_and_unreachable_contexts(lab: &mut Lab) {
    assert_fresh(lab);
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let dirs: [&[&str]; 2] = [&[], &["--dir", "foreign"]];
    for dir in dirs {
        let create = [
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ];
        ok(certs(lab, w, &[&create[..], dir].concat()));
    }
    dry_runs_write_nothing(lab, w);
    let before = yaml_output_is_what_kubectl_applies(lab, w);
    another_root_is_refused(lab, w, &before);
    another_intermediate_needs_force_and_force_conflicts(lab, w, &before);
    rotate_backs_up_and_applies(lab, w);
    status_names_the_cluster_on_another_root(lab, w);
    unknown_and_stopped_contexts(lab, w);
}

/// --dry-run writes nothing, client or server side.
fn dry_runs_write_nothing(lab: &Lab, w: &Path) {
    for mode in ["--dry-run=client", "--dry-run=server"] {
        ok(certs(lab, w, &[APPLY_EAST, &[mode]].concat()));
        assert!(cacerts(lab, "lab-1").is_none(), "{mode} wrote cacerts");
        assert!(
            kubectl_json(lab, "lab-1", &["get", "namespace", "istio-system"]).is_none(),
            "{mode} created the namespace"
        );
    }
}

/// -o yaml leaves the Secret out unless asked; with --include-secrets it is what
/// `kubectl apply -f -` accepts, and the result is what apply would make. Returns the
/// `cacerts` kubectl wrote.
fn yaml_output_is_what_kubectl_applies(lab: &Lab, w: &Path) -> Value {
    let args = [APPLY_EAST, &["--dry-run=client", "-o", "yaml"]].concat();
    let hidden = ok(certs(lab, w, &args));
    let hidden = String::from_utf8_lossy(&hidden.stdout);
    assert!(
        hidden.contains("Secret istio-system/cacerts left out") && !hidden.contains("ca-key.pem:"),
        "{hidden}"
    );
    let yaml = ok(certs(lab, w, &[&args[..], &["--include-secrets"]].concat()));
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
    let before = cacerts(lab, "lab-1").expect("applied by kubectl");
    let same = ok(certs(lab, w, APPLY_EAST));
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("unchanged   Secret istio-system/cacerts"),
        "{}",
        text(&same)
    );
    assert_eq!(rv(&cacerts(lab, "lab-1").unwrap()), rv(&before));
    before
}

/// Another root: refused, both fingerprints named, nothing changed.
fn another_root_is_refused(lab: &Lab, w: &Path, before: &Value) {
    let foreign = certs(lab, w, &[APPLY_EAST, &["--dir", "foreign"]].concat());
    assert_eq!(foreign.status.code(), Some(2), "{}", text(&foreign));
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(
        err.contains(&root_fingerprint(w, "mesh-certs"))
            && err.contains(&root_fingerprint(w, "foreign")),
        "{err}"
    );
    assert!(
        err.contains("root-rotation") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(rv(&cacerts(lab, "lab-1").unwrap()), rv(before));
}

/// Another intermediate under the same root: refused without --force, replaced with it.
fn another_intermediate_needs_force_and_force_conflicts(lab: &Lab, w: &Path, before: &Value) {
    ok(certs(lab, w, &["rotate", "--cluster", "east"]));
    let refused = certs(lab, w, APPLY_EAST);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another intermediate"),
        "{}",
        text(&refused)
    );
    assert_eq!(rv(&cacerts(lab, "lab-1").unwrap()), rv(before));
    // kubectl wrote the Secret's data: --force alone does not take kubectl's fields.
    let replace = [APPLY_EAST, &["--force"]].concat();
    let taken = certs(lab, w, &replace);
    assert_eq!(taken.status.code(), Some(2), "{}", text(&taken));
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(
        err.contains(".data.ca-cert.pem") && err.contains("kubectl-client-side-apply"),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(rv(&cacerts(lab, "lab-1").unwrap()), rv(before));
    ok(certs(
        lab,
        w,
        &[&replace[..], &["--force-conflicts"]].concat(),
    ));
    assert_eq!(
        data(&cacerts(lab, "lab-1").unwrap(), "ca-cert.pem"),
        std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap()
    );
}

/// rotate: a new intermediate, the old one backed up, applied, still the same root.
fn rotate_backs_up_and_applies(lab: &Lab, w: &Path) {
    let old = std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap();
    ok(certs(
        lab,
        w,
        &["rotate", "--cluster", "east", "--context", "lab-1"],
    ));
    let new = std::fs::read(w.join("mesh-certs/east/ca-cert.pem")).unwrap();
    assert_ne!(old, new);
    assert_eq!(data(&cacerts(lab, "lab-1").unwrap(), "ca-cert.pem"), new);
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
}

/// status names the cluster whose cacerts comes from another root, exit 1.
fn status_names_the_cluster_on_another_root(lab: &Lab, w: &Path) {
    ok(certs(
        lab,
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
    let both = [
        "status",
        "--context",
        "lab-1,lab-2",
        "--cluster",
        "east,west",
    ];
    let status = certs(lab, w, &both);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(
        err.contains("west: cacerts in context lab-2 trusts root")
            && err.contains("not the local root"),
        "{err}"
    );
    assert!(!err.contains("east: cacerts"), "east is fine: {err}");
    let json = certs(lab, w, &[&both[..], &["-o", "json"]].concat());
    let report: Value = serde_json::from_slice(&json.stdout).expect("only JSON on stdout");
    assert_eq!(report["sharedRoot"], false);
    assert_eq!(report["clusters"][1]["localRootMatches"], false);
}

/// An unknown context and a stopped API server: exit 2, the context named.
fn unknown_and_stopped_contexts(lab: &mut Lab, w: &Path) {
    let unknown = certs(
        lab,
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
        lab,
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
