//! `kubectl mesh-verify` without a cluster: the help text, reviewed in snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const VERIFY: &str = env!("CARGO_BIN_EXE_kubectl-mesh_verify");

#[test]
fn help_texts() {
    let tmp = tempfile::tempdir().unwrap();
    // mesh-verify has no subcommands (`completion SHELL` is handled before clap, as in every plugin).
    for sub in [vec!["--help"]] {
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
