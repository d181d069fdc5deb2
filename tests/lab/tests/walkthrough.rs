//! The README's lab walkthrough, run as written: its shell block (without the build line) in a
//! fresh directory, with the workspace's binaries first on PATH. It must succeed end to end:
//! the join waits for the real operator's Ready on a primary-remote mesh with no
//! `eastWestAddress`, and verify passes, reading istiod by port-forward (no lab-only flag but
//! `--allow-loopback`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Try it on the local lab\n")
        .nth(1)
        .expect("the lab section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("its shell block");
    block
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_lab_walkthrough_runs_as_written() {
    let script = walkthrough();
    assert!(
        script.contains("kubectl-mesh_join -f mesh.yaml"),
        "{script}"
    );
    assert!(
        !script.contains("--no-wait")
            && !script.contains("eastWestAddress")
            && !script.contains("--istiod-address"),
        "{script}"
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_mesh-lab"))
        .parent()
        .unwrap()
        .to_path_buf();
    for plugin in [
        "kubectl-mesh-certs",
        "kubectl-mesh-join",
        "kubectl-mesh-verify",
    ] {
        mesh_lab::plugin_bin(plugin).expect("plugin binary");
    }
    let dir = tempfile::tempdir().unwrap();
    // Whatever happens, the lab it started is stopped.
    let guarded = format!(
        "trap 'mesh-lab down --dir ./lab >/dev/null 2>&1 || true' EXIT\nset -euo pipefail\n{script}\n"
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&guarded)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let text = format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("control-plane.istio-ready"), "{text}");
    assert!(!stdout.contains('✘'), "a check failed:\n{text}");
}
