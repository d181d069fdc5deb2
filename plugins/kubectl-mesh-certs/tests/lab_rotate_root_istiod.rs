//! The whole root rotation with a real istiod per lab cluster (pilot-discovery as a local
//! process, `ISTIO_MULTIROOT_MESH=true`): each stage is loaded by istiod without a restart,
//! istiod spreads the bundle to the `istio-ca-root-cert` ConfigMaps (what the command waits
//! for), never falls back to a self-signed CA, and openssl verifies every chain at every stage.
//! The clusters are joined (remote secrets both ways) and every istiod keeps reporting the
//! other cluster `synced` while each stage runs. The lab has no kubelet: the test copies each
//! `cacerts` Secret into istiod's `ROOT_CA_DIR` when it changes, as the Secret volume would
//! (see `rotation::run_syncing`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rotation;

use mesh_lab::istiod::Istiod;
use mesh_lab::testing::{describe as text, expect_success as ok};
use mesh_lab::{Lab, audit};
use rotation::*;
use serde_json::Value;
use std::path::Path;

const BOTH: &[&str] = &["--context", "lab-1,lab-2", "--cluster", "east,west"];
const CTXS: [(&str, &str); 2] = [("lab-1", "east"), ("lab-2", "west")];

fn args<'a>(stage: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["rotate-root", stage];
    v.extend_from_slice(BOTH);
    v.extend_from_slice(extra);
    v
}

fn start_istiods(lab: &mut Lab) -> Vec<Istiod> {
    let env = [("ISTIO_MULTIROOT_MESH".to_string(), "true".to_string())];
    let mut out = Vec::new();
    for (i, (_, id)) in CTXS.iter().enumerate() {
        let c = lab.clusters()[i].clone();
        let (proc, info) = mesh_lab::istiod::spawn(
            lab.bin_dir(),
            &lab.kubeconfig(),
            &c.dir,
            &c.name,
            i,
            id,
            &env,
        )
        .expect("istiod");
        lab.adopt_process(i, proc).unwrap();
        out.push(info);
    }
    out
}

/// Every cluster's ConfigMaps in `default` and `kube-system` hold exactly `bundle`.
fn configmaps_hold(lab: &Lab, bundle: &[u8]) {
    let want = String::from_utf8_lossy(bundle).into_owned();
    for (ctx, _) in CTXS {
        for ns in ["default", "kube-system"] {
            assert_eq!(
                root_configmap(lab, ctx, ns).as_deref(),
                Some(want.as_str()),
                "{ctx}/{ns}"
            );
        }
    }
}

/// istiod never fell back to a self-signed CA.
fn never_self_signed(lab: &Lab, istiods: &[Istiod]) {
    for d in istiods {
        let log = d.log_text();
        assert!(log.contains("Use local CA certificate"), "{}", d.cluster_id);
        assert!(
            !log.contains("Use self-signed certificate"),
            "{}",
            d.cluster_id
        );
    }
    for (ctx, _) in CTXS {
        let o = lab
            .kubectl(ctx)
            .args(["get", "secret", "istio-ca-secret", "-n", "istio-system"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{ctx}: istiod created istio-ca-secret");
    }
}

/// Runs a stage while the Secret volumes follow the Secrets; expects exit 0 and every
/// cluster's distribution observed.
fn stage(lab: &Lab, istiods: &[Istiod], w: &Path, a: &[&str]) -> String {
    let (o, samples) = run_syncing(lab, istiods, spawn_certs(lab, w, a));
    assert_eq!(o.status.code(), Some(0), "{a:?}: {}", text(&o));
    // Each istiod saw the other cluster synced throughout (and was sampled at all).
    assert!(samples.other.is_empty(), "{a:?}: {:?}", samples.other);
    assert!(
        samples.synced >= 2,
        "{a:?}: {samples:?}; clusterz now: {:?}",
        istiods.iter().map(|d| d.clusterz()).collect::<Vec<_>>()
    );
    let err = stderr(&o);
    for (ctx, cluster) in CTXS {
        assert!(
            err.contains(&format!("✔ {cluster} (context {ctx}): ")),
            "{a:?}: {err}"
        );
    }
    err
}

/// openssl: each cluster's intermediate verifies against `trust` through its chain.
fn chains(lab: &Lab, scratch: &Path, trust: &[u8]) -> Vec<bool> {
    CTXS.iter()
        .map(|(ctx, _)| {
            let s = cacerts(lab, ctx);
            verify(
                scratch,
                trust,
                &data(&s, "cert-chain.pem"),
                &data(&s, "ca-cert.pem"),
            )
            .0
        })
        .collect()
}

/// Puts an earlier copy of `cacerts` back (what the cluster held before a run was killed),
/// written as the plugin writes it: server-side apply by its field manager.
fn put_back(lab: &Lab, ctx: &str, secret: &Value) {
    let mut s = secret.clone();
    for f in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
    ] {
        s["metadata"].as_object_mut().unwrap().remove(f);
    }
    let path = lab.dir().join(format!("put-back-{ctx}.json"));
    std::fs::write(&path, s.to_string()).unwrap();
    let o = lab
        .kubectl(ctx)
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            mesh_core::cluster::CERTS_FIELD_MANAGER,
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn status_ok(lab: &Lab, w: &Path) -> Value {
    let mut a = vec!["status", "-o", "json"];
    a.extend_from_slice(BOTH);
    let o = certs(lab, w, &a);
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    v
}

#[test]
fn istiod_takes_every_stage_without_restart_and_openssl_verifies_each_chain() {
    let mut lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let d = w.join("mesh-certs");
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
    )
    .unwrap();
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    ok(certs(&lab, w, &create));
    ok(certs(&lab, w, &["apply", "-f", "mesh.yaml"]));
    let join = mesh_lab::testing::plugin_path("kubectl-mesh-join");
    ok(mesh_lab::testing::join_mesh(&join, &lab, w));
    // The operator's istiod (the lab runs its pod) must accept a changed root too: the
    // setting a user gives it for a root rotation, and its rollout.
    for (ctx, _) in CTXS {
        let env = r#"{"spec":{"values":{"pilot":{"env":{"ISTIO_MULTIROOT_MESH":"true"}}}}}"#;
        let patch = lab
            .kubectl(ctx)
            .args(["patch", "istio", "default", "--type=merge", "-p", env])
            .output()
            .unwrap();
        assert!(
            patch.status.success(),
            "{}",
            String::from_utf8_lossy(&patch.stderr)
        );
    }
    for (ctx, _) in CTXS {
        eventually(
            120,
            "the operator rolls istiod out with the setting",
            || {
                let d = mesh_lab::testing::kubectl_json(
                    &lab,
                    ctx,
                    &["get", "deploy", "istiod", "-n", "istio-system"],
                );
                d.is_some_and(|d| {
                    d["spec"]["template"]
                        .to_string()
                        .contains("ISTIO_MULTIROOT_MESH")
                        && d["status"]["updatedReplicas"] == d["spec"]["replicas"]
                        && d["status"]["availableReplicas"] == d["spec"]["replicas"]
                        && d["status"]["replicas"] == d["spec"]["replicas"]
                })
            },
        );
    }
    let istiods = start_istiods(&mut lab);
    for d in &istiods {
        eventually(60, "each istiod syncs the other cluster", || {
            d.clusterz().is_some_and(|z| {
                z.as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["id"] != d.cluster_id.as_str() && e["syncStatus"] == "synced")
            })
        });
    }
    let pids: Vec<u32> = istiods.iter().map(|i| i.pid).collect();
    let old = std::fs::read(d.join("root-cert.pem")).unwrap();
    let old_text = String::from_utf8_lossy(&old).into_owned();
    for (ctx, _) in CTXS {
        eventually(60, "istiod writes the old root", || {
            root_configmap(&lab, ctx, "default").as_deref() == Some(old_text.as_str())
        });
    }
    ok(certs(&lab, w, &["rotate-root", "prepare"]));
    let new = std::fs::read(d.join("next-root/root-cert.pem")).unwrap();
    let both = [old.clone(), new.clone()].concat();

    // Stage 1 while istiod still reads the old files (the volume not yet updated): written,
    // but not distributed within --wait: exit 1, each cluster named; reissue is refused.
    let o = certs(&lab, w, &args("trust-both", &["--wait", "3s"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for (ctx, cluster) in CTXS {
        let line = format!("✖ {cluster} (context {ctx}): 0/");
        assert!(stderr(&o).contains(&line), "{}", text(&o));
    }
    assert!(stderr(&o).contains("not yet in namespaces"), "{}", text(&o));
    let o = certs(&lab, w, &args("reissue", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("cluster 'east' (context lab-1): 0/")
            && stderr(&o).contains("workloads there may not trust the new root yet"),
        "{}",
        text(&o)
    );
    // Run again with the volume following: nothing more to write, the spread observed.
    let err = stage(&lab, &istiods, w, &args("trust-both", &["--wait", "2m"]));
    assert!(err.contains("nothing to write"), "{err}");
    configmaps_hold(&lab, &both);
    assert_eq!(chains(&lab, s, &both), [true, true]);
    assert_eq!(chains(&lab, s, &new), [false, false]);
    for d in &istiods {
        assert!(
            d.log_text().contains("Updating new ROOT-CA"),
            "{}",
            d.cluster_id
        );
    }
    let st = status_ok(&lab, w);
    assert_eq!(st["sharedRoot"], true);
    assert_eq!(st["rotation"]["next"], "reissue", "{st:#}");
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "trust-both"], ["west", "trust-both"]])
    );

    // Stage 2: new intermediates under the new root, the bundle still both.
    let east_stage1 = cacerts(&lab, "lab-1");
    stage(&lab, &istiods, w, &args("reissue", &["--wait", "2m"]));
    // Killed after writing the directory but before east's Secret: east back at stage 1.
    let issued = std::fs::read(d.join("east/ca-cert.pem")).unwrap();
    put_back(&lab, "lab-1", &east_stage1);
    assert_ne!(data(&cacerts(&lab, "lab-1"), "ca-cert.pem"), issued);
    // Resumed: east gets the intermediate the directory already holds (none issued anew),
    // west is left alone.
    let marks = audit::marks(&lab);
    stage(&lab, &istiods, w, &args("reissue", &["--wait", "2m"]));
    assert_eq!(
        writes_but_istiod(&lab, &marks),
        vec![vec!["patch secrets cacerts".to_string()], vec![]]
    );
    assert_eq!(std::fs::read(d.join("east/ca-cert.pem")).unwrap(), issued);
    assert_eq!(data(&cacerts(&lab, "lab-1"), "ca-cert.pem"), issued);
    configmaps_hold(&lab, &both);
    assert_eq!(chains(&lab, s, &both), [true, true]);
    assert_eq!(chains(&lab, s, &new), [true, true]);
    assert_eq!(chains(&lab, s, &old), [false, false]);
    for d in &istiods {
        eventually(30, "istiod takes the new intermediate", || {
            d.log_text()
                .contains("Istiod has detected the newly added intermediate CA")
        });
    }
    assert_eq!(status_ok(&lab, w)["rotation"]["next"], "finish");

    // finish right after reissue: refused (workload certificates), nothing written.
    let marks = audit::marks(&lab);
    let o = certs(&lab, w, &args("finish", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("workload certificates signed by the old ones may live"),
        "{}",
        text(&o)
    );
    assert_eq!(
        writes_but_istiod(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );

    // Stage 3: only the new root; it is the mesh root on disk, the old one in the backup.
    stage(
        &lab,
        &istiods,
        w,
        &args("finish", &["--wait", "2m", "--workload-cert-ttl", "0s"]),
    );
    configmaps_hold(&lab, &new);
    assert_eq!(chains(&lab, s, &new), [true, true]);
    assert_eq!(chains(&lab, s, &old), [false, false]);
    for (ctx, _) in CTXS {
        assert_eq!(data(&cacerts(&lab, ctx), "root-cert.pem"), new, "{ctx}");
    }
    assert_eq!(std::fs::read(d.join("root-cert.pem")).unwrap(), new);
    assert!(!d.join("next-root").exists());
    let backed_up: Vec<_> = hashes(&d.join("backup"))
        .into_keys()
        .filter(|p| p.ends_with("root-key.pem") && p.components().count() == 2)
        .collect();
    assert_eq!(backed_up.len(), 1, "{backed_up:?}");
    assert_eq!(mode(&d.join("backup").join(&backed_up[0])), 0o600);
    let st = status_ok(&lab, w);
    assert_eq!(st["localRoot"], st["meshRoot"]);
    assert_eq!(st["rotation"].get("next"), None, "{st:#}");
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "finish"], ["west", "finish"]])
    );

    // finish again, the clusters from the mesh file: nothing written anywhere, and the
    // distribution still observed.
    let done = hashes(&d);
    let marks = audit::marks(&lab);
    let err = stage(
        &lab,
        &istiods,
        w,
        &[
            "rotate-root",
            "finish",
            "-f",
            "mesh.yaml",
            "--wait",
            "30s",
            "--workload-cert-ttl",
            "0s",
        ],
    );
    assert!(err.contains("nothing to write"), "{err}");
    assert_eq!(
        writes_but_istiod(&lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), done);

    // The same istiod processes throughout: no restart was needed, none fell back.
    assert_eq!(istiods.iter().map(|i| i.pid).collect::<Vec<_>>(), pids);
    for d in &istiods {
        assert!(
            std::path::Path::new(&format!("/proc/{}", d.pid)).exists(),
            "istiod {} is gone",
            d.cluster_id
        );
    }
    never_self_signed(&lab, &istiods);
}
