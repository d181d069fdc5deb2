//! Section: `kubectl mesh-certs rotate-root` against the lab's API servers without istiod:
//! what each stage writes (the audit log counts every stored write), what it refuses before
//! writing, dry runs, secrets in output, a partial run resumed, and no ✔ where no istiod
//! distributes. It uses lab-1 (east) and lab-2 (west); lab-3 must stay unwritten.

use super::{assert_fresh, create_east_west, remove_istio_system};
use crate::rotation::*;
use base64::Engine as _;
use mesh_lab::testing::{describe as text, expect_success as ok};
use mesh_lab::{Lab, audit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// No stored write in any of the lab's clusters.
fn none_written(lab: &Lab) -> Vec<Vec<String>> {
    vec![Vec::new(); lab.clusters().len()]
}

/// Before `prepare` every stage is refused with the next step; `prepare` (after a dry run
/// that writes nothing) is idempotent; `reissue` before `trust-both` is refused naming each
/// cluster; dry runs and `-o yaml|json` write nothing and leave the Secret's key out unless
/// `--include-secrets`; a `trust-both` interrupted after east resumes writing west only,
/// openssl sees stage 1 in both clusters, the finished stage writes nothing again; `reissue`
/// is refused (a cluster left out, no istiod spreading the bundle) before any write; neither
/// root key is in any Secret. Ends with `istio-system` removed everywhere.
pub fn stages_refuse_before_writing_dry_run_writes_nothing_a_partial_run_resumes(lab: &Lab) {
    assert_fresh(lab);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let d = w.join("mesh-certs");
    create_east_west(lab, w);
    ok(certs(
        lab,
        w,
        &[
            "apply",
            "--context",
            "lab-1,lab-2",
            "--cluster",
            "east,west",
        ],
    ));
    let old_root = std::fs::read(d.join("root-cert.pem")).unwrap();
    refused_before_prepare(lab, w);
    let (new_root, prepared) = prepare_is_idempotent(lab, w, &d, &old_root);
    reissue_before_trust_both_is_refused(lab, w, &d, &prepared);
    dry_runs_and_yaml_write_nothing(lab, w, &d, &prepared);
    json_redacts_the_key(lab, w, &d);
    interrupted_stage_resumes(lab, w);
    stage_one_as_openssl_sees_it(lab, &d, &old_root, &new_root);
    let stage1 = finished_stage_writes_nothing(lab, w, &d);
    later_stages_are_refused(lab, w, &d, &stage1);
    root_keys_in_no_secret(lab, &d);
    remove_istio_system(lab);
}

/// Before prepare: refused, exit 2, with the next step.
fn refused_before_prepare(lab: &Lab, w: &Path) {
    let o = certs(lab, w, &args("trust-both", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("no root rotation is prepared"),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("hint: start it: kubectl mesh-certs rotate-root prepare"));
}

/// prepare: the new root beside the old one, its key 0600; run again, nothing changes.
/// Returns the new root and the directory's hashes once prepared.
fn prepare_is_idempotent(
    lab: &Lab,
    w: &Path,
    d: &Path,
    old_root: &[u8],
) -> (Vec<u8>, BTreeMap<PathBuf, String>) {
    let before = hashes(d);
    let o = ok(certs(lab, w, &["rotate-root", "prepare", "--dry-run"]));
    assert!(stderr(&o).contains("nothing written"), "{}", text(&o));
    assert_eq!(
        hashes(d),
        before,
        "a dry-run prepare wrote to the directory"
    );
    ok(certs(lab, w, &["rotate-root", "prepare"]));
    assert_eq!(mode(&d.join("next-root/root-key.pem")), 0o600);
    assert_eq!(mode(&d.join("rotation.json")), 0o600);
    let new_root = std::fs::read(d.join("next-root/root-cert.pem")).unwrap();
    assert_ne!(new_root, old_root);
    let prepared = hashes(d);
    let o = ok(certs(lab, w, &["rotate-root", "prepare"]));
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(hashes(d), prepared);
    (new_root, prepared)
}

/// reissue before trust-both: refused naming cluster and context, nothing written
/// anywhere (the audit barrier is the positive control of the empty lists).
fn reissue_before_trust_both_is_refused(
    lab: &Lab,
    w: &Path,
    d: &Path,
    prepared: &BTreeMap<PathBuf, String>,
) {
    let marks = audit::marks(lab);
    let o = certs(lab, w, &args("reissue", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "cluster 'east' (context lab-1): istio-system/cacerts trusts only the old root"
        ) && err.contains("cluster 'west' (context lab-2)"),
        "{err}"
    );
    assert!(
        err.contains("hint: run kubectl mesh-certs rotate-root trust-both first"),
        "{err}"
    );
    assert_eq!(audit::writes_since(lab, &marks), none_written(lab));
    assert_eq!(&hashes(d), prepared);
}

/// Dry runs: the plan, the API servers' check, no stored write, no local write. YAML output
/// leaves the Secret out unless --include-secrets.
fn dry_runs_and_yaml_write_nothing(
    lab: &Lab,
    w: &Path,
    d: &Path,
    prepared: &BTreeMap<PathBuf, String>,
) {
    let marks = audit::marks(lab);
    let o = ok(certs(lab, w, &args("trust-both", &["--dry-run=server"])));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("update") && out.contains("adds the new root to root-cert.pem"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("API servers accepted 2 change(s)"),
        "{}",
        text(&o)
    );
    let o = ok(certs(
        lab,
        w,
        &args("trust-both", &["--dry-run", "-o", "yaml"]),
    ));
    let yaml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        yaml.contains("left out: it holds secret material"),
        "{yaml}"
    );
    assert!(!yaml.contains("ca-key.pem"), "{yaml}");
    let o = ok(certs(
        lab,
        w,
        &args(
            "trust-both",
            &["--dry-run", "-o", "yaml", "--include-secrets"],
        ),
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ca-key.pem:"));
    assert_eq!(audit::writes_since(lab, &marks), none_written(lab));
    assert_eq!(&hashes(d), prepared);
}

/// JSON redacts every value of the Secret: the intermediate key is nowhere in it.
fn json_redacts_the_key(lab: &Lab, w: &Path, d: &Path) {
    let o = ok(certs(
        lab,
        w,
        &args("trust-both", &["--dry-run", "-o", "json"]),
    ));
    let json = String::from_utf8_lossy(&o.stdout).into_owned();
    let key_b64 = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(d.join("east/ca-key.pem")).unwrap());
    assert!(
        json.contains("<redacted: --include-secrets prints it>"),
        "{json}"
    );
    assert!(!json.contains(&key_b64[..40]), "{json}");
    let o = ok(certs(
        lab,
        w,
        &args(
            "trust-both",
            &["--dry-run", "-o", "json", "--include-secrets"],
        ),
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&key_b64[..40]));
}

/// An interrupted stage: only east got it (as if the run had stopped after east); status
/// says where the rotation stands; resumed over both clusters, east is unchanged and west
/// written (one stored write, there).
fn interrupted_stage_resumes(lab: &Lab, w: &Path) {
    let o = certs(
        lab,
        w,
        &[
            "rotate-root",
            "trust-both",
            "--context",
            "lab-1",
            "--cluster",
            "east",
            "--wait",
            "0s",
        ],
    );
    // No istiod runs: the write is reported, the distribution is a failure with its reason.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("✖ east (context lab-1): no istio-ca-root-cert ConfigMap in any namespace: no istiod distributes the trust bundle"),
        "{}",
        text(&o)
    );
    assert!(!stderr(&o).contains('✔'), "{}", text(&o));
    assert_eq!(pem_count(&data(&cacerts(lab, "lab-1"), "root-cert.pem")), 2);
    assert_eq!(pem_count(&data(&cacerts(lab, "lab-2"), "root-cert.pem")), 1);
    // status says where the rotation stands: west lags, trust-both is the stage to run.
    let mut a = vec!["status", "-o", "json"];
    a.extend_from_slice(BOTH);
    let st: serde_json::Value = serde_json::from_slice(&certs(lab, w, &a).stdout).unwrap();
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "trust-both"], ["west", "old root only"]])
    );
    assert_eq!(st["rotation"]["next"], "trust-both");
    assert_eq!(st["rotation"]["recorded"], "trust-both");

    // Resumed over both clusters: east unchanged, west written (one stored write, there;
    // none in lab-3, which the rotation does not name).
    let marks = audit::marks(lab);
    let o = certs(lab, w, &args("trust-both", &["--wait", "0s"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        audit::writes_since(lab, &marks),
        vec![vec![], vec!["patch secrets cacerts".to_string()], vec![]]
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("east") && l.contains("unchanged")),
        "{out}"
    );
}

/// Stage 1 as openssl sees it, in both clusters: root-cert.pem = old + new root, the
/// intermediate still chains to the old root (and not to the new one alone).
fn stage_one_as_openssl_sees_it(lab: &Lab, d: &Path, old_root: &[u8], new_root: &[u8]) {
    let scratch = tempfile::tempdir().unwrap();
    for (ctx, cluster) in [("lab-1", "east"), ("lab-2", "west")] {
        let s = cacerts(lab, ctx);
        let bundle = data(&s, "root-cert.pem");
        assert_eq!(bundle, [old_root, new_root].concat(), "{ctx}");
        let (okay, why) = verify(
            scratch.path(),
            &bundle,
            &data(&s, "cert-chain.pem"),
            &data(&s, "ca-cert.pem"),
        );
        assert!(okay, "{ctx}: {why}");
        let (okay, _) = verify(
            scratch.path(),
            new_root,
            &data(&s, "cert-chain.pem"),
            &data(&s, "ca-cert.pem"),
        );
        assert!(
            !okay,
            "{ctx}: the stage-1 intermediate must not chain to the new root"
        );
        assert_eq!(
            data(&s, "root-cert.pem"),
            std::fs::read(d.join(cluster).join("root-cert.pem")).unwrap()
        );
        assert_eq!(mode(&d.join(cluster).join("ca-key.pem")), 0o600);
    }
}

/// The finished stage again: zero writes, locally and in the clusters. Returns the
/// directory's hashes at stage 1.
fn finished_stage_writes_nothing(lab: &Lab, w: &Path, d: &Path) -> BTreeMap<PathBuf, String> {
    let stage1 = hashes(d);
    let marks = audit::marks(lab);
    let o = certs(lab, w, &args("trust-both", &["--wait", "0s"]));
    assert!(stderr(&o).contains("nothing to write"), "{}", text(&o));
    assert_eq!(audit::writes_since(lab, &marks), none_written(lab));
    assert_eq!(hashes(d), stage1);
    stage1
}

/// A later stage must name every cluster the rotation has run on; stage 2 needs proof that
/// every istiod spread the bundle: here none runs, so it is refused, naming each cluster,
/// before any write.
fn later_stages_are_refused(lab: &Lab, w: &Path, d: &Path, stage1: &BTreeMap<PathBuf, String>) {
    let o = certs(
        lab,
        w,
        &[
            "rotate-root",
            "reissue",
            "--context",
            "lab-2",
            "--cluster",
            "west",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("cluster(s) east took part in this rotation"),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("hint: name every cluster of the mesh"));

    let marks = audit::marks(lab);
    let o = certs(lab, w, &args("reissue", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "cluster 'east' (context lab-1): no istio-ca-root-cert ConfigMap in any namespace"
        ),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("nothing was written"), "{}", text(&o));
    assert_eq!(audit::writes_since(lab, &marks), none_written(lab));
    assert_eq!(&hashes(d), stage1);
}

/// Neither root key is in any Secret of any cluster; the scan finds the intermediate key
/// (the positive control: a key in a Secret is found).
fn root_keys_in_no_secret(lab: &Lab, d: &Path) {
    let probe = |path: &Path| -> String {
        let key = std::fs::read_to_string(path).unwrap();
        // The second line of the body: past the header every key of a type shares.
        let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
        body[1][..40].to_string()
    };
    for (ctx, cluster) in [("lab-1", "east"), ("lab-2", "west")] {
        let all = mesh_lab::testing::kubectl_json(lab, ctx, &["get", "secrets", "-A"]).unwrap();
        let text = mesh_lab::testing::leak_views(&all.to_string());
        assert!(
            text.contains(&probe(&d.join(cluster).join("ca-key.pem"))),
            "{ctx}: control"
        );
        for root_key in ["next-root/root-key.pem", "root-key.pem"] {
            assert!(
                !text.contains(&probe(&d.join(root_key))),
                "{ctx} holds {root_key}"
            );
        }
    }
}
