//! Distribution: release archives, their checksums, the krew manifests checked by krew's own
//! validator, `kubectl krew install --manifest --archive`, the plugins run through kubectl from
//! the krew links, and kubectl's plugin completion answered by our helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn krew_installs_every_plugin_from_local_archives_and_kubectl_completes_them() {
    let lab_bin = mesh_lab::default_bin_dir();
    for tool in ["kubectl", "kubectl-krew", "validate-krew-manifest"] {
        mesh_lab::find_bin(&lab_bin, tool).unwrap();
    }
    let plugins = ["certs", "join", "verify"];
    let built: Vec<PathBuf> = plugins
        .iter()
        .map(|p| mesh_lab::plugin_bin(&format!("kubectl-mesh-{p}")).unwrap())
        .collect();
    let bin_dir = built[0].parent().unwrap().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    ok(Command::new("bash")
        .arg(repo().join("release/package.sh"))
        .args(["--version", "v0.1.0", "--out"])
        .arg(&out)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .output()
        .unwrap());

    // Checksums match the archives, and the manifests carry them.
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap());
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    for p in plugins {
        let manifest = std::fs::read_to_string(out.join(format!("krew/mesh-{p}.yaml"))).unwrap();
        let archive = format!("kubectl-mesh_{p}-v0.1.0-linux-amd64.tar.gz");
        let sum = sums
            .lines()
            .find(|l| l.ends_with(&archive))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        assert!(
            manifest.contains(&format!("sha256: {sum}")),
            "{p}: manifest sum"
        );
        assert!(
            manifest.contains(&format!("/v0.1.0/{archive}")),
            "{p}: manifest uri"
        );
        let listing = ok(Command::new("tar")
            .args(["tzf", &archive])
            .current_dir(&out)
            .output()
            .unwrap());
        let files = String::from_utf8_lossy(&listing.stdout).into_owned();
        for f in [
            format!("kubectl-mesh_{p}"),
            format!("kubectl_complete-mesh_{p}"),
            "LICENSE".into(),
            "README.md".into(),
        ] {
            assert!(
                files.lines().any(|l| l.trim_start_matches("./") == f),
                "{archive} lacks {f}: {files}"
            );
        }
        // krew's own validator.
        ok(Command::new(lab_bin.join("validate-krew-manifest"))
            .arg("-manifest")
            .arg(out.join(format!("krew/mesh-{p}.yaml")))
            .arg("-skip-install")
            .output()
            .unwrap());
    }

    // kubectl krew install --manifest --archive into a private KREW_ROOT, with the lab's kubectl.
    let krew_root = tmp.path().join("krew-root");
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        krew_root.join("bin").display(),
        lab_bin.display()
    );
    let kubectl = |args: &[&str]| {
        Command::new(lab_bin.join("kubectl"))
            .args(args)
            .current_dir(&out)
            .env("PATH", &path)
            .env("KREW_ROOT", &krew_root)
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .env("HOME", tmp.path())
            .output()
            .unwrap()
    };
    for p in plugins {
        ok(kubectl(&[
            "krew",
            "install",
            &format!("--manifest=krew/mesh-{p}.yaml"),
            &format!("--archive=kubectl-mesh_{p}-v0.1.0-linux-amd64.tar.gz"),
        ]));
        let link = krew_root.join(format!("bin/kubectl-mesh_{p}"));
        assert!(link.exists(), "krew linked {}", link.display());
        let v = ok(kubectl(&[&format!("mesh-{p}"), "--version"]));
        assert!(
            String::from_utf8_lossy(&v.stdout)
                .starts_with(&format!("kubectl-mesh_{p} 0.1.0 (git ")),
            "{}",
            text(&v)
        );
        let h = ok(kubectl(&[&format!("mesh-{p}"), "--help"]));
        assert!(
            String::from_utf8_lossy(&h.stdout).contains(&format!("Usage: kubectl mesh-{p}")),
            "{}",
            text(&h)
        );
    }
    // krew recorded each installation (its receipts; `krew list` needs the online index).
    for p in plugins {
        let receipt =
            std::fs::read_to_string(krew_root.join(format!("receipts/mesh-{p}.yaml"))).unwrap();
        assert!(
            receipt.contains(&format!("name: mesh-{p}")) && receipt.contains("version: v0.1.0"),
            "{receipt}"
        );
    }

    // kubectl's plugin completion, with the helpers from the installed archives on PATH.
    for p in plugins {
        let store = krew_root.join(format!("store/mesh-{p}/v0.1.0/kubectl_complete-mesh_{p}"));
        std::os::unix::fs::symlink(
            &store,
            krew_root.join(format!("bin/kubectl_complete-mesh_{p}")),
        )
        .unwrap();
    }
    let c = ok(kubectl(&["__complete", "mesh-certs", ""]));
    let lines = String::from_utf8_lossy(&c.stdout).into_owned();
    for want in ["create", "inspect", "apply", "status", "rotate"] {
        assert!(
            lines.lines().any(|l| l.split('\t').next() == Some(want)),
            "missing {want}: {lines}"
        );
    }
    assert!(
        lines.lines().last().is_some_and(|l| l.starts_with(':')),
        "directive line: {lines}"
    );
    let c = ok(kubectl(&[
        "__complete",
        "mesh-certs",
        "create",
        "--key-type",
        "",
    ]));
    assert!(
        String::from_utf8_lossy(&c.stdout)
            .lines()
            .any(|l| l == "ecdsa-p256"),
        "{}",
        text(&c)
    );
    let c = ok(kubectl(&["__complete", "mesh-join", "le"]));
    assert!(
        String::from_utf8_lossy(&c.stdout)
            .lines()
            .any(|l| l.starts_with("leave")),
        "{}",
        text(&c)
    );
    let c = ok(kubectl(&["__complete", "mesh-verify", "--p"]));
    assert!(
        String::from_utf8_lossy(&c.stdout)
            .lines()
            .any(|l| l == "--pre"),
        "{}",
        text(&c)
    );
}
