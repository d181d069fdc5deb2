//! `kubectl mesh-certs rotate-root` against real lab API servers without istiod: what each
//! stage writes (the audit log counts every stored write), what it refuses before writing,
//! dry runs, secrets in output, a partial run resumed, and no ✔ where no istiod distributes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rotation;

use base64::Engine as _;
use mesh_lab::testing::{describe as text, expect_success as ok};
use mesh_lab::{Lab, audit};
use rotation::*;

#[test]
fn stages_refuse_before_writing_dry_run_writes_nothing_and_a_partial_run_resumes() {
    let lab = Lab::up_without_crds(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let d = w.join("mesh-certs");
    ok(certs(
        &lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(certs(
        &lab,
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

    // Before prepare: refused, exit 2, with the next step.
    let o = certs(&lab, w, &args("trust-both", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("no root rotation is prepared"),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("hint: start it: kubectl mesh-certs rotate-root prepare"));

    // prepare: the new root beside the old one, its key 0600; run again, nothing changes.
    let before = hashes(&d);
    let o = ok(certs(&lab, w, &["rotate-root", "prepare", "--dry-run"]));
    assert!(stderr(&o).contains("nothing written"), "{}", text(&o));
    assert_eq!(
        hashes(&d),
        before,
        "a dry-run prepare wrote to the directory"
    );
    ok(certs(&lab, w, &["rotate-root", "prepare"]));
    assert_eq!(mode(&d.join("next-root/root-key.pem")), 0o600);
    assert_eq!(mode(&d.join("rotation.json")), 0o600);
    let new_root = std::fs::read(d.join("next-root/root-cert.pem")).unwrap();
    assert_ne!(new_root, old_root);
    let prepared = hashes(&d);
    let o = ok(certs(&lab, w, &["rotate-root", "prepare"]));
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(hashes(&d), prepared);

    // reissue before trust-both: refused naming cluster and context, nothing written
    // anywhere (the audit barrier is the positive control of the empty lists).
    let marks = audit::marks(&lab);
    let o = certs(&lab, w, &args("reissue", &[]));
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
    assert_eq!(
        audit::writes_since(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), prepared);

    // Dry runs: the plan, the API servers' check, no stored write, no local write.
    let marks = audit::marks(&lab);
    let o = ok(certs(&lab, w, &args("trust-both", &["--dry-run=server"])));
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
    // YAML output leaves the Secret out unless --include-secrets.
    let o = ok(certs(
        &lab,
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
        &lab,
        w,
        &args(
            "trust-both",
            &["--dry-run", "-o", "yaml", "--include-secrets"],
        ),
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ca-key.pem:"));
    assert_eq!(
        audit::writes_since(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), prepared);

    // JSON redacts every value of the Secret: the intermediate key is nowhere in it.
    let o = ok(certs(
        &lab,
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
        &lab,
        w,
        &args(
            "trust-both",
            &["--dry-run", "-o", "json", "--include-secrets"],
        ),
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&key_b64[..40]));

    // An interrupted stage: only east got it (as if the run had stopped after east).
    let o = certs(
        &lab,
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
    assert_eq!(
        pem_count(&data(&cacerts(&lab, "lab-1"), "root-cert.pem")),
        2
    );
    assert_eq!(
        pem_count(&data(&cacerts(&lab, "lab-2"), "root-cert.pem")),
        1
    );
    // status says where the rotation stands: west lags, trust-both is the stage to run.
    let mut a = vec!["status", "-o", "json"];
    a.extend_from_slice(BOTH);
    let st: serde_json::Value = serde_json::from_slice(&certs(&lab, w, &a).stdout).unwrap();
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "trust-both"], ["west", "old root only"]])
    );
    assert_eq!(st["rotation"]["next"], "trust-both");
    assert_eq!(st["rotation"]["recorded"], "trust-both");

    // Resumed over both clusters: east unchanged, west written (one stored write, there).
    let marks = audit::marks(&lab);
    let o = certs(&lab, w, &args("trust-both", &["--wait", "0s"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        audit::writes_since(&lab, &marks),
        vec![vec![], vec!["patch secrets cacerts".to_string()]]
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("east") && l.contains("unchanged")),
        "{out}"
    );

    // Stage 1 as openssl sees it, in both clusters: root-cert.pem = old + new root, the
    // intermediate still chains to the old root (and not to the new one alone).
    let scratch = tempfile::tempdir().unwrap();
    for (ctx, cluster) in [("lab-1", "east"), ("lab-2", "west")] {
        let s = cacerts(&lab, ctx);
        let bundle = data(&s, "root-cert.pem");
        assert_eq!(
            bundle,
            [old_root.clone(), new_root.clone()].concat(),
            "{ctx}"
        );
        let (okay, why) = verify(
            scratch.path(),
            &bundle,
            &data(&s, "cert-chain.pem"),
            &data(&s, "ca-cert.pem"),
        );
        assert!(okay, "{ctx}: {why}");
        let (okay, _) = verify(
            scratch.path(),
            &new_root,
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

    // The finished stage again: zero writes, locally and in the clusters.
    let stage1 = hashes(&d);
    let marks = audit::marks(&lab);
    let o = certs(&lab, w, &args("trust-both", &["--wait", "0s"]));
    assert!(stderr(&o).contains("nothing to write"), "{}", text(&o));
    assert_eq!(
        audit::writes_since(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), stage1);

    // A later stage must name every cluster the rotation has run on.
    let o = certs(
        &lab,
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

    // Stage 2 needs proof that every istiod spread the bundle: here none runs, so it is
    // refused, naming each cluster, before any write.
    let marks = audit::marks(&lab);
    let o = certs(&lab, w, &args("reissue", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "cluster 'east' (context lab-1): no istio-ca-root-cert ConfigMap in any namespace"
        ),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("nothing was written"), "{}", text(&o));
    assert_eq!(
        audit::writes_since(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), stage1);

    // Neither root key is in any Secret of any cluster; the scan finds the intermediate key
    // (the positive control: a key in a Secret is found).
    let probe = |path: &std::path::Path| -> String {
        let key = std::fs::read_to_string(path).unwrap();
        // The second line of the body: past the header every key of a type shares.
        let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
        body[1][..40].to_string()
    };
    for (ctx, cluster) in [("lab-1", "east"), ("lab-2", "west")] {
        let all = mesh_lab::testing::kubectl_json(&lab, ctx, &["get", "secrets", "-A"]).unwrap();
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
