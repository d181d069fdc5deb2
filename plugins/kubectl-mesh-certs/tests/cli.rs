//! `kubectl mesh-certs create | inspect` as a user runs them: openssl is the referee, kubectl's
//! plugin lookup finds the binary, bad input fails cleanly without touching files, and the help
//! text is reviewed in snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CERTS: &str = env!("CARGO_BIN_EXE_kubectl-mesh_certs");

fn certs(cwd: &Path, args: &[&str]) -> Output {
    Command::new(CERTS)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
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

fn openssl(cwd: &Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// SHA-256 of every file under `dir`, by relative path.
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let digest = Sha256::digest(std::fs::read(&p).unwrap());
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    format!("{digest:x}"),
                );
            }
        }
    }
    out
}

#[test]
fn openssl_accepts_what_create_writes_with_the_documented_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let o = certs(w, &["create", "--clusters", "east,west"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d = w.join("mesh-certs");
    for c in ["east", "west"] {
        let cd = d.join(c);
        let verified = openssl(
            &cd,
            &["verify", "-CAfile", "../root-cert.pem", "ca-cert.pem"],
        );
        assert!(verified.contains("ca-cert.pem: OK"), "{verified}");
        let t = openssl(&cd, &["x509", "-in", "ca-cert.pem", "-noout", "-text"]);
        for want in [
            "Signature Algorithm: sha256WithRSAEncryption",
            "Public-Key: (4096 bit)",
            &format!("Subject: O = Istio, CN = Intermediate CA, L = {c}"),
            "Issuer: O = Istio, CN = Root CA",
            "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0",
            "X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation, Key Encipherment, Certificate Sign",
            "X509v3 Subject Alternative Name: \n                DNS:istiod.istio-system.svc",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
        ] {
            assert!(t.contains(want), "{c}: missing {want:?} in\n{t}");
        }
        // The validity is the Makefile's 3650 days.
        let start = openssl(
            &cd,
            &[
                "x509",
                "-in",
                "ca-cert.pem",
                "-noout",
                "-startdate",
                "-enddate",
            ],
        );
        assert!(start.contains("notAfter="), "{start}");
        let key = openssl(&cd, &["pkey", "-in", "ca-key.pem", "-check", "-noout"]);
        assert!(key.contains("valid"), "{key}");
        // cert-chain.pem is the intermediate, then the root.
        let chain = std::fs::read_to_string(cd.join("cert-chain.pem")).unwrap();
        let inter = std::fs::read_to_string(cd.join("ca-cert.pem")).unwrap();
        let root = std::fs::read_to_string(d.join("root-cert.pem")).unwrap();
        assert_eq!(chain, format!("{inter}{root}"));
        assert_eq!(
            std::fs::read_to_string(cd.join("root-cert.pem")).unwrap(),
            root
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(cd.join("ca-key.pem"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&cd).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let r = openssl(&d, &["x509", "-in", "root-cert.pem", "-noout", "-text"]);
    assert!(r.contains("Subject: O = Istio, CN = Root CA"), "{r}");
    assert!(
        r.contains("X509v3 Basic Constraints: critical\n                CA:TRUE\n"),
        "root has no pathlen: {r}"
    );
    assert!(r.contains("Digital Signature, Non Repudiation, Key Encipherment, Certificate Sign"));
    assert!(openssl(&d, &["pkey", "-in", "root-key.pem", "-check", "-noout"]).contains("valid"));

    // Re-running is a no-op that says so; files unchanged.
    let before = hashes(&d);
    let again = certs(w, &["create", "--clusters", "east,west"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to do"),
        "{}",
        text(&again)
    );
    assert_eq!(hashes(&d), before);

    // A cluster added later under the same root.
    let added = certs(w, &["create", "--clusters", "north"]);
    assert_eq!(added.status.code(), Some(0), "{}", text(&added));
    assert!(
        openssl(
            &d.join("north"),
            &["verify", "-CAfile", "../root-cert.pem", "ca-cert.pem"]
        )
        .contains("OK")
    );
    assert_eq!(
        std::fs::read(d.join("root-cert.pem")).unwrap(),
        std::fs::read(w.join("mesh-certs/root-cert.pem")).unwrap()
    );

    // inspect agrees, exit 0.
    let inspect = certs(w, &["inspect", "-o", "json"]);
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect));
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let fp = openssl(
        &d,
        &[
            "x509",
            "-in",
            "root-cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    assert_eq!(v["root"]["sha256"], fp.trim().split('=').nth(1).unwrap());
    assert_eq!(v["clusters"].as_array().unwrap().len(), 3);
}

#[test]
fn bring_your_own_root_in_pkcs1_pkcs8_and_sec1() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    for (name, keygen) in [
        (
            "pkcs1",
            vec!["genrsa", "-traditional", "-out", "pkcs1.key", "2048"],
        ),
        (
            "pkcs8",
            vec![
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "pkcs8.key",
            ],
        ),
        (
            "sec1",
            vec![
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "sec1.key",
            ],
        ),
    ] {
        openssl(w, &keygen);
        openssl(
            w,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                "/O=Corp/CN=Corp Root",
                "-days",
                "365",
                "-addext",
                "basicConstraints=critical,CA:true",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                &format!("{name}.crt"),
            ],
        );
        let dir = format!("byo-{name}");
        let o = certs(
            w,
            &[
                "create",
                "--clusters",
                "east",
                "--dir",
                &dir,
                "--key-type",
                "ecdsa-p256",
                "--root-cert",
                &format!("{name}.crt"),
                "--root-key",
                &format!("{name}.key"),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let v = openssl(
            &w.join(&dir).join("east"),
            &[
                "verify",
                "-CAfile",
                &format!("../../{name}.crt"),
                "ca-cert.pem",
            ],
        );
        assert!(v.contains("OK"), "{name}: {v}");
    }
}

#[test]
fn bad_input_exits_2_names_the_culprit_and_changes_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    assert_eq!(
        certs(
            w,
            &["create", "--clusters", "east", "--key-type", "ecdsa-p256"]
        )
        .status
        .code(),
        Some(0)
    );
    let d = w.join("mesh-certs");
    openssl(
        w,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "other.key",
        ],
    );
    std::fs::write(
        w.join("corrupt.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["create", "--clusters", "East"], "East"),
        (vec!["create", "--clusters", "a_b"], "a_b"),
        (vec!["create", "--clusters", "east,west,east"], "east"),
        (
            vec![
                "create",
                "--clusters",
                "west",
                "--root-cert",
                "mesh-certs/root-cert.pem",
                "--root-key",
                "other.key",
                "--dir",
                "fresh",
            ],
            "other.key",
        ),
        (
            vec![
                "create",
                "--clusters",
                "west",
                "--root-cert",
                "corrupt.pem",
                "--root-key",
                "other.key",
                "--dir",
                "fresh",
            ],
            "corrupt.pem",
        ),
        (
            vec![
                "create",
                "--clusters",
                "west",
                "--root-cert",
                "corrupt.pem",
                "--root-key",
                "other.key",
            ],
            "corrupt.pem",
        ),
        (vec!["inspect", "--dir", "nowhere"], "nowhere"),
    ];
    for (args, culprit) in cases {
        let before = (hashes(&d), hashes(&w.join("fresh")));
        let o = certs(w, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(culprit),
            "{args:?}: the message names {culprit}: {err}"
        );
        assert!(err.contains("hint:"), "{args:?}: a hint: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert_eq!(
            (hashes(&d), hashes(&w.join("fresh"))),
            before,
            "{args:?} changed files"
        );
    }

    // A corrupt file inside the directory: inspect exits 2 naming it.
    std::fs::write(d.join("east/ca-cert.pem"), "garbage").unwrap();
    let before = hashes(&d);
    let o = certs(w, &["inspect"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ca-cert.pem"),
        "{}",
        text(&o)
    );
    // create refuses to build on an incomplete/corrupt cluster without --force.
    let o = certs(w, &["create", "--clusters", "east"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(hashes(&d), before);
}

#[test]
fn kubectl_finds_the_plugins_on_path() {
    let kubectl = [
        mesh_lab::default_bin_dir().join("kubectl"),
        PathBuf::from("/usr/bin/kubectl"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("a kubectl (the lab's, from tests/lab-go/build.sh)");
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(CERTS, bin.path().join("kubectl-mesh_certs")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new(&kubectl)
        .args(["mesh-certs", "--help"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Usage: kubectl mesh-certs"),
        "{}",
        text(&o)
    );
    let list = Command::new(&kubectl)
        .args(["plugin", "list", "--name-only"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("kubectl-mesh_certs"),
        "{}",
        text(&list)
    );
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(&kubectl)
        .args([
            "mesh-certs",
            "create",
            "--clusters",
            "east",
            "--key-type",
            "ecdsa-p256",
        ])
        .current_dir(tmp.path())
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(tmp.path().join("mesh-certs/east/ca-cert.pem").is_file());
}

#[test]
fn help_texts() {
    let tmp = tempfile::tempdir().unwrap();
    for sub in [
        vec!["--help"],
        vec!["create", "--help"],
        vec!["inspect", "--help"],
        vec!["apply", "--help"],
        vec!["status", "--help"],
        vec!["rotate", "--help"],
        vec!["rotate-root", "--help"],
    ] {
        let o = Command::new(CERTS)
            .args(&sub)
            .current_dir(tmp.path())
            .env("COLUMNS", "100")
            .env_remove("MESH_CERTS_DIR")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        insta::assert_snapshot!(
            format!("help-{}", sub.join("-")),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn durations_are_spelled_as_in_kubectl_and_bad_ones_exit_2_naming_flag_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    for (value, why) in [
        ("3x", "unknown unit 'x'"),
        ("1h30", "'30' has no unit"),
        ("soon", "does not start with a number"),
    ] {
        let o = certs(
            w,
            &["status", "--context", "nowhere", "--request-timeout", value],
        );
        assert_eq!(o.status.code(), Some(2), "{value}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("'{value}'")) && err.contains("--request-timeout"),
            "{value}: flag and value named: {err}"
        );
        assert!(err.contains(why), "{value}: says what is wrong: {err}");
        assert!(
            err.contains("1h30m"),
            "{value}: shows how to spell one: {err}"
        );
    }
    // Positive control: a well-spelled duration is accepted by the parser, so the command
    // gets as far as the kubeconfig (no context 'nowhere' there).
    let empty = w.join("empty-kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    for value in ["1h30m", "500ms", "40", "0"] {
        let o = certs(
            w,
            &[
                "status",
                "--kubeconfig",
                empty.to_str().unwrap(),
                "--context",
                "nowhere",
                "--request-timeout",
                value,
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("--request-timeout") && err.contains("nowhere"),
            "{value}: parsed, then the context is looked up: {}",
            text(&o)
        );
    }
}

/// `openssl x509 -text` of a cluster's intermediate, and its SHA-256.
fn intermediate_text(w: &Path, cluster: &str) -> (String, String) {
    let file = format!("mesh-certs/{cluster}/ca-cert.pem");
    let text = openssl(w, &["x509", "-in", &file, "-noout", "-text"]);
    let digest = Sha256::digest(std::fs::read(w.join(&file)).unwrap());
    (text, format!("{digest:x}"))
}

fn assert_acme_settings(text: &str, org: &str) {
    assert!(
        text.contains(&format!(
            "Subject: O = {org}, CN = Intermediate CA, L = east"
        )),
        "{text}"
    );
    assert!(
        text.contains("DNS:istiod.istio-system.svc, DNS:istiod.acme.example, IP Address:10.1.2.3"),
        "{text}"
    );
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
}

#[test]
fn rotate_keeps_the_settings_the_mesh_was_created_with() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let create = [
        "create",
        "--clusters",
        "east",
        "--key-type",
        "ecdsa-p256",
        "--org",
        "Acme Mesh",
        "--san",
        "istiod.acme.example",
        "--san",
        "10.1.2.3",
        "--intermediate-days",
        "400",
    ];
    let o = certs(w, &create);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.join("mesh-certs/ca-settings.yaml").is_file());
    let (first, first_sha) = intermediate_text(w, "east");
    assert_acme_settings(&first, "Acme Mesh");

    // No flags: the new intermediate is another certificate with the creation settings.
    let o = certs(w, &["rotate", "--cluster", "east"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (rotated, rotated_sha) = intermediate_text(w, "east");
    assert_ne!(rotated_sha, first_sha, "rotate issued a new intermediate");
    assert_acme_settings(&rotated, "Acme Mesh");

    // A contradicting flag: exit 2, both values shown, --force named, no file changed.
    let before = hashes(&w.join("mesh-certs"));
    let o = certs(
        w,
        &[
            "rotate",
            "--cluster",
            "east",
            "--org",
            "Other",
            "--key-type",
            "rsa-2048",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--org: given 'Other', recorded 'Acme Mesh'"),
        "{err}"
    );
    assert!(
        err.contains("--key-type: given rsa-2048, recorded ecdsa-p256"),
        "{err}"
    );
    assert!(err.contains("ca-settings.yaml"), "names the record: {err}");
    assert!(
        err.contains("hint:") && err.contains("--force replaces"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(hashes(&w.join("mesh-certs")), before);

    // A directory from before the settings file: the settings are read back from the
    // certificates, so a rotation still keeps them.
    std::fs::remove_file(w.join("mesh-certs/ca-settings.yaml")).unwrap();
    let o = certs(w, &["rotate", "--cluster", "east"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (derived, derived_sha) = intermediate_text(w, "east");
    assert_ne!(derived_sha, rotated_sha);
    assert_acme_settings(&derived, "Acme Mesh");

    // --force lets the flag win for this intermediate.
    let o = certs(
        w,
        &["rotate", "--cluster", "east", "--org", "Other", "--force"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (forced, _) = intermediate_text(w, "east");
    assert_acme_settings(&forced, "Other");
}

#[test]
fn create_adding_a_cluster_reuses_the_recorded_settings_and_refuses_contradictions() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let o = certs(
        w,
        &[
            "create",
            "--clusters",
            "east",
            "--key-type",
            "ecdsa-p256",
            "--org",
            "Acme Mesh",
            "--san",
            "istiod.acme.example",
            "--san",
            "10.1.2.3",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = hashes(&w.join("mesh-certs"));
    let o = certs(w, &["create", "--clusters", "east,west", "--org", "Istio"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--org: given 'Istio', recorded 'Acme Mesh'"),
        "{err}"
    );
    assert!(err.contains("--force replaces"), "{err}");
    assert_eq!(hashes(&w.join("mesh-certs")), before, "nothing written");
    // Positive control: without the flag, west is added with the recorded settings.
    let o = certs(w, &["create", "--clusters", "east,west"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let west = openssl(
        w,
        &[
            "x509",
            "-in",
            "mesh-certs/west/ca-cert.pem",
            "-noout",
            "-text",
        ],
    );
    assert!(
        west.contains("Subject: O = Acme Mesh, CN = Intermediate CA, L = west"),
        "{west}"
    );
    assert!(
        west.contains("DNS:istiod.acme.example, IP Address:10.1.2.3"),
        "{west}"
    );
    assert!(west.contains("ASN1 OID: prime256v1"), "{west}");
}

#[test]
fn apply_refuses_a_network_that_cannot_be_a_label_before_contacting_any_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let o = certs(
        w,
        &["create", "--clusters", "east", "--key-type", "ecdsa-p256"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let empty = w.join("empty-kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let apply = |net: &str| {
        certs(
            w,
            &[
                "apply",
                "--kubeconfig",
                empty.to_str().unwrap(),
                "--context",
                "nowhere",
                "--cluster",
                "east",
                "--network",
                net,
            ],
        )
    };
    let o = apply("net/1");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("network 'net/1' cannot be the value of label topology.istio.io/network"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    // Positive control: a valid network gets as far as the kubeconfig, which has no such context.
    let o = apply("net1");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("cannot be the value of label") && err.contains("nowhere"),
        "{err}"
    );
}

#[test]
fn rotate_root_bad_input_exits_2_with_a_hint_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let o = certs(
        w,
        &["create", "--clusters", "east", "--key-type", "ecdsa-p256"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = hashes(&w.join("mesh-certs"));
    for (args, says) in [
        (
            vec!["rotate-root", "sideways"],
            "invalid value 'sideways' for '<STAGE>'",
        ),
        (vec!["rotate-root", "trust-both"], "no clusters given"),
        (
            vec!["rotate-root", "reissue", "--context", "east"],
            "no root rotation is prepared in mesh-certs",
        ),
        (
            vec!["rotate-root", "prepare", "--dir", "elsewhere"],
            "elsewhere/root-cert.pem",
        ),
    ] {
        let o = certs(w, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            err.contains("hint:") || err.contains("--help"),
            "{args:?}: {err}"
        );
    }
    // The positive control: prepare does write.
    assert_eq!(hashes(&w.join("mesh-certs")), before);
    let o = certs(w, &["rotate-root", "prepare"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_ne!(hashes(&w.join("mesh-certs")), before);
    assert!(!w.join("elsewhere").exists());
}
