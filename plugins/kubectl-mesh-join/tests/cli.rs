//! `kubectl mesh-join` without a cluster: the help text in snapshots, and `--export` as a
//! GitOps user runs it (`--only`, `--installer istioctl` with istioctl as the referee, no
//! token without `--include-secrets`). The kubeconfig points at nothing: a run that tried to
//! reach a cluster would fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

/// A remote's primary with a known gateway address: an export needs no cluster.
const MESH: &str = "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

fn join(cwd: &Path, args: &[&str]) -> Output {
    Command::new(JOIN)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("KUBECONFIG", cwd.join("no-such-kubeconfig"))
        .env_remove("MESH_CERTS_DIR")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exported files by `cluster/file`, with their mode.
fn exported(dir: &Path) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for c in std::fs::read_dir(dir).unwrap() {
        let c = c.unwrap();
        for f in std::fs::read_dir(c.path()).unwrap() {
            let f = f.unwrap();
            let mode = f.metadata().unwrap().permissions().mode() & 0o777;
            out.insert(
                format!(
                    "{}/{}",
                    c.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ),
                mode,
            );
        }
    }
    out
}

fn istioctl() -> PathBuf {
    mesh_lab::default_bin_dir().join("istioctl")
}

/// `istioctl manifest generate -f file`: the manifests istioctl renders from it.
fn istioctl_generate(file: &Path) -> Output {
    Command::new(istioctl())
        .args(["manifest", "generate", "-f"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn help_texts() {
    let tmp = tempfile::tempdir().unwrap();
    for sub in [
        vec!["--help"],
        vec!["plan", "--help"],
        vec!["leave", "--help"],
        vec!["remote-secret", "--help"],
        vec!["rotate-credentials", "--help"],
    ] {
        let o = join(tmp.path(), &sub);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        insta::assert_snapshot!(
            format!("help-{}", sub.join("-")),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn export_writes_every_cluster_without_a_cluster_and_leaves_tokens_out() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let o = join(w, &["-f", "mesh.yaml", "--export", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = exported(&w.join("out"));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    // The Sail control plane in each cluster, the gateway and its exposure in the primary.
    let kinds = |c: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| n.starts_with(&format!("{c}/")))
            .map(|n| n.split('-').skip(1).collect::<Vec<_>>().join("-"))
            .collect()
    };
    // The Sail control plane in each cluster (the remote's as a remote), the east-west gateway
    // in both networks, istiod's exposure in the primary, the reader token in the remote.
    for (cluster, want) in [
        ("east", "namespace-istio-system.yaml"),
        ("east", "istio-default.yaml"),
        ("east", "deployment-istio-eastwestgateway.yaml"),
        ("east", "gateway-istiod-gateway.yaml"),
        ("east", "virtualservice-istiod-vs.yaml"),
        ("west", "istio-default.yaml"),
        ("west", "deployment-istio-eastwestgateway.yaml"),
        (
            "west",
            "secret-istio-reader-service-account-istio-remote-secret-token.yaml",
        ),
    ] {
        assert!(
            kinds(cluster).iter().any(|k| k == want),
            "{cluster}: {want} missing from {names:?}"
        );
    }
    assert!(
        !kinds("west").iter().any(|k| k.contains("istiod")),
        "a remote exposes no istiod: {names:?}"
    );
    // No token: the remote secret east needs (west's) is left out and said so; every file is
    // 0644, none holds secret material.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("secret-istio-remote-secret-")),
        "{names:?}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "left out: east: Secret istio-system/istio-remote-secret-west (holds a token; --include-secrets adds it)"
        ),
        "{}",
        text(&o)
    );
    for (name, mode) in &files {
        assert_eq!(*mode, 0o644, "{name}");
        let body = std::fs::read_to_string(w.join("out").join(name)).unwrap();
        assert!(!body.contains("token:"), "{name}: {body}");
    }
    // The remote's control plane points at the primary's gateway.
    let west_istio = names
        .iter()
        .find(|n| n.starts_with("west/") && n.contains("-istio-default"))
        .unwrap();
    let body = std::fs::read_to_string(w.join("out").join(west_istio)).unwrap();
    assert!(
        body.contains("remotePilotAddress: 192.0.2.1") && body.contains("profile: remote"),
        "{body}"
    );
}

#[test]
fn export_only_writes_the_named_clusters() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let o = join(w, &["-f", "mesh.yaml", "--export", "out", "--only", "west"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = exported(&w.join("out"));
    assert!(!files.is_empty(), "nothing exported: {}", text(&o));
    assert!(
        files.keys().all(|n| n.starts_with("west/")),
        "{:?}",
        files.keys()
    );
    // Positive control: without --only, east is exported too.
    let all = join(w, &["-f", "mesh.yaml", "--export", "all"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    assert!(
        exported(&w.join("all"))
            .keys()
            .any(|n| n.starts_with("east/"))
    );
    // A name the mesh file lacks is refused before anything is written.
    let bad = join(
        w,
        &["-f", "mesh.yaml", "--export", "bad", "--only", "nosuch"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("nosuch"),
        "{}",
        text(&bad)
    );
    assert!(exported(&w.join("bad")).is_empty());
}

#[test]
fn export_with_istioctl_installer_renders_what_istioctl_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let o = join(
        w,
        &[
            "-f",
            "mesh.yaml",
            "--export",
            "out",
            "--installer",
            "istioctl",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = exported(&w.join("out"));
    // No Sail resources: istioctl installs the control plane from the IstioOperator.
    assert!(
        !files.keys().any(|n| n.contains("-istio-default")),
        "{:?}",
        files.keys()
    );
    for (cluster, want) in [
        (
            "west",
            [
                "\"clusterName\": \"west\"",
                "/inject/cluster/west/net/network2",
                "- 192.0.2.1",
                "\"network\": \"network2\"",
            ],
        ),
        (
            "east",
            [
                "\"clusterName\": \"east\"",
                "\"network\": \"network1\"",
                "\"EXTERNAL_ISTIOD\": \"true\"",
                "meshId: mesh1",
            ],
        ),
    ] {
        let operator = files
            .keys()
            .find(|n| n.starts_with(&format!("{cluster}/")) && n.contains("-istiooperator-"))
            .unwrap_or_else(|| panic!("no IstioOperator for {cluster}: {:?}", files.keys()));
        let path = w.join("out").join(operator);
        let generated = istioctl_generate(&path);
        assert_eq!(
            generated.status.code(),
            Some(0),
            "istioctl refused {operator}: {}",
            text(&generated)
        );
        let manifests = String::from_utf8_lossy(&generated.stdout);
        for w in want {
            assert!(
                manifests.contains(w),
                "{operator}: istioctl's output lacks {w}"
            );
        }
    }
    // Negative control: the same check refuses a field istioctl does not know.
    let east = files
        .keys()
        .find(|n| n.starts_with("east/") && n.contains("-istiooperator-"))
        .unwrap();
    let body = std::fs::read_to_string(w.join("out").join(east)).unwrap();
    let bad = body.replace(
        "meshID: mesh1",
        "meshID: mesh1\n      meshIdentifier: mesh1",
    );
    assert_ne!(bad, body);
    std::fs::write(w.join("bad.yaml"), bad).unwrap();
    let refused = istioctl_generate(&w.join("bad.yaml"));
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
}

#[test]
fn export_with_helm_installer_writes_each_clusters_istiod_values() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    // Positive control: the default installer writes no values file.
    let sail = join(w, &["-f", "mesh.yaml", "--export", "sail"]);
    assert_eq!(sail.status.code(), Some(0), "{}", text(&sail));
    assert!(!w.join("sail/east/istiod-values.yaml").exists());
    let o = join(
        w,
        &["-f", "mesh.yaml", "--export", "out", "--installer", "helm"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let read = |c: &str| -> serde_json::Value {
        let path = w.join("out").join(c).join("istiod-values.yaml");
        let body = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), text(&o)));
        yaml_serde::from_str(&body).unwrap()
    };
    let (east, west) = (read("east"), read("west"));
    assert_eq!(east["global"]["multiCluster"]["clusterName"], "east");
    assert_eq!(east["global"]["externalIstiod"], true, "{east}");
    assert_eq!(west["profile"], "remote", "{west}");
    assert_eq!(west["global"]["remotePilotAddress"], "192.0.2.1", "{west}");
    assert_eq!(west["global"]["network"], "network2", "{west}");
}

#[test]
fn rotate_credentials_refuses_a_context_it_would_not_use() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let o = join(
        w,
        &[
            "rotate-credentials",
            "-f",
            "mesh.yaml",
            "--context",
            "lab-1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--context lab-1 is not used") && e.contains("--cluster NAME"),
        "{e}"
    );
    // Positive control: without --context the command goes on (to the clusters, which this
    // kubeconfig does not have) and says something else.
    let o = join(w, &["rotate-credentials", "-f", "mesh.yaml"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("is not used"), "{}", text(&o));
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn installer_flags_are_checked_and_a_missing_installer_is_named_before_any_cluster_is_read() {
    let w = tempfile::tempdir().unwrap();
    std::fs::write(w.path().join("mesh.yaml"), MESH).unwrap();
    let refused = |args: &[&str], says: &str| {
        let o = join(w.path(), args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{}",
            text(&o)
        );
    };
    refused(
        &["-f", "mesh.yaml", "--render-only"],
        "--render-only goes with --installer",
    );
    refused(
        &[
            "-f",
            "mesh.yaml",
            "--installer",
            "istioctl",
            "--charts",
            "x",
        ],
        "--charts goes with --installer helm",
    );
    // No helm on PATH: named, with what to install (the kubeconfig points at nothing, so a
    // run that got as far as the clusters would fail differently).
    let o = Command::new(JOIN)
        .args(["-f", "mesh.yaml", "--installer", "helm"])
        .current_dir(w.path())
        .env("NO_COLOR", "1")
        .env("PATH", w.path())
        .env("KUBECONFIG", w.path().join("no-such-kubeconfig"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("helm is not on PATH") && err.contains("--render-only"),
        "{err}"
    );
    // Positive control: with --render-only the same run gets as far as the kubeconfig.
    let o = join(
        w.path(),
        &["-f", "mesh.yaml", "--installer", "helm", "--render-only"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("not on PATH"),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("kubeconfig"),
        "{}",
        text(&o)
    );
}
