//! The whole root rotation on the operator's istiod pods: `mesh-join` installs the control
//! planes through the Sail operator, the lab's pod runner runs each istiod pod as a local
//! `pilot-discovery` process with the pod's own arguments and environment, and refreshes its
//! `cacerts` volume from the Secret as a kubelet does. `ISTIO_MULTIROOT_MESH=true` is set the
//! way a user sets it: mesh-join has no mesh-file field or flag for istiod's environment, so
//! a merge patch of `spec.values.pilot.env` on the `Istio` resource, rolled out by the
//! operator (the new pod's process is checked to carry it).
//!
//! Each stage is loaded by those same pods without a restart (the pod name and its process
//! stay the same throughout), istiod spreads the bundle to the `istio-ca-root-cert` ConfigMaps
//! (what the command waits for), never falls back to a self-signed CA, and openssl verifies
//! every chain at every stage. The clusters are joined (remote secrets both ways) and every
//! istiod, read by `kubectl port-forward` to its pod, keeps reporting the other cluster
//! `synced` while each stage runs. For the first `trust-both` the test holds the Secret
//! volumes, as a kubelet between two syncs leaves them ([`Lab::hold_secret_volumes`]): the
//! Secret is written but istiod still reads the old files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rotation;

use mesh_lab::testing::{describe as text, expect_success as ok};
use mesh_lab::{Lab, audit};
use rotation::istiod::{IstiodPod, enable_multiroot, run_sampling};
use rotation::*;
use std::path::{Path, PathBuf};

const CTXS: [(&str, &str); 2] = [("lab-1", "east"), ("lab-2", "west")];

/// What istiod logs when it becomes the writer of the `istio-ca-root-cert` ConfigMaps.
const LEADS_CONFIGMAPS: &str = "leader election lock obtained: istio-namespace-controller-election";

/// A rotation under way: the operator's istiod pods (dropped first: their port-forwards),
/// the lab, the work directory (mesh file, `mesh-certs/`), a scratch directory for openssl,
/// and the old and the new root.
struct Rotation {
    pods: Vec<IstiodPod>,
    lab: Lab,
    w: PathBuf,
    s: PathBuf,
    old: Vec<u8>,
    new: Vec<u8>,
    _dirs: [tempfile::TempDir; 2],
}

impl Rotation {
    /// Two primaries joined under one root, istiod rolled out with the multiroot setting and
    /// syncing the other cluster, the old root in the ConfigMaps; `rotate-root prepare` run.
    fn start() -> Rotation {
        let lab = Lab::up(2).expect("lab");
        let (work, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let w = work.path().to_path_buf();
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
        ok(certs(&lab, &w, &create));
        ok(certs(&lab, &w, &["apply", "-f", "mesh.yaml"]));
        let join = mesh_lab::testing::plugin_path("kubectl-mesh-join");
        ok(mesh_lab::testing::join_mesh(&join, &lab, &w));
        for (ctx, _) in CTXS {
            enable_multiroot(&lab, ctx);
        }
        let pods: Vec<IstiodPod> = CTXS
            .iter()
            .enumerate()
            .map(|(i, (_, id))| IstiodPod::after_rollout(&lab, i, id))
            .collect();
        for d in &pods {
            eventually(60, "each istiod syncs the other cluster", || {
                d.sees_other_synced()
            });
            // The ConfigMaps are written by the leader of the namespace controller: the new
            // pod leads once the old pod's lease has expired (the lab's pod runner kills the
            // old process, which does not release it).
            eventually(90, "each istiod leads its namespace controller", || {
                d.log_text().contains(LEADS_CONFIGMAPS)
            });
        }
        let old = std::fs::read(w.join("mesh-certs/root-cert.pem")).unwrap();
        let old_text = String::from_utf8_lossy(&old).into_owned();
        for (ctx, _) in CTXS {
            eventually(60, "istiod writes the old root", || {
                root_configmap(&lab, ctx, "default").as_deref() == Some(old_text.as_str())
            });
        }
        ok(certs(&lab, &w, &["rotate-root", "prepare"]));
        let new = std::fs::read(w.join("mesh-certs/next-root/root-cert.pem")).unwrap();
        Rotation {
            pods,
            lab,
            w,
            s: scratch.path().to_path_buf(),
            old,
            new,
            _dirs: [work, scratch],
        }
    }

    fn dir(&self) -> PathBuf {
        self.w.join("mesh-certs")
    }

    /// Runs a stage while the Secret volumes follow the Secrets; expects exit 0, every
    /// cluster's distribution observed, and each istiod reporting the other cluster synced
    /// throughout. Then the same pods, run by the same processes.
    fn stage(&mut self, a: &[&str]) -> String {
        let (o, samples) = run_sampling(&self.pods, spawn_certs(&self.lab, &self.w, a));
        assert_eq!(o.status.code(), Some(0), "{a:?}: {}", text(&o));
        // Each istiod saw the other cluster synced throughout (and was sampled at all).
        assert!(samples.other.is_empty(), "{a:?}: {:?}", samples.other);
        assert!(
            samples.synced >= 2,
            "{a:?}: {samples:?}; clusterz now: {:?}",
            self.pods.iter().map(|d| d.clusterz()).collect::<Vec<_>>()
        );
        let err = stderr(&o);
        for (ctx, cluster) in CTXS {
            assert!(
                err.contains(&format!("✔ {cluster} (context {ctx}): ")),
                "{a:?}: {err}"
            );
        }
        for d in &mut self.pods {
            d.unchanged(&self.lab);
        }
        err
    }

    /// How long each pod's log is now (to read what istiod logs from then on).
    fn log_marks(&self) -> Vec<usize> {
        self.pods.iter().map(|d| d.log_text().len()).collect()
    }

    /// Every pod logged `line` after `marks` (eventually: istiod logs after it acts). istiod
    /// logs a reload's lines at every reload, so only what came after the stage counts.
    fn logged_since(&self, marks: &[usize], line: &str) {
        for (d, m) in self.pods.iter().zip(marks) {
            eventually(30, line, || {
                d.log_text().get(*m..).is_some_and(|t| t.contains(line))
            });
        }
    }
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

/// istiod never fell back to a self-signed CA.
fn never_self_signed(r: &Rotation) {
    for d in &r.pods {
        let log = d.log_text();
        assert!(log.contains("Use local CA certificate"), "{}", d.name);
        assert!(!log.contains("Use self-signed certificate"), "{}", d.name);
    }
    for (ctx, _) in CTXS {
        let o = r
            .lab
            .kubectl(ctx)
            .args(["get", "secret", "istio-ca-secret", "-n", "istio-system"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{ctx}: istiod created istio-ca-secret");
    }
}

/// Stage 1 first while the volumes are held (istiod still reads the old files): written, but
/// not distributed within --wait: exit 1, each cluster named; reissue is refused. Then run
/// again with the volumes following: nothing more to write, the spread observed.
fn trust_both(r: &mut Rotation) {
    for i in 0..CTXS.len() {
        r.lab.hold_secret_volumes(i, true).unwrap();
    }
    let o = certs(&r.lab, &r.w, &args("trust-both", &["--wait", "3s"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for (ctx, cluster) in CTXS {
        let line = format!("✖ {cluster} (context {ctx}): 0/");
        assert!(stderr(&o).contains(&line), "{}", text(&o));
    }
    assert!(stderr(&o).contains("not yet in namespaces"), "{}", text(&o));
    let o = certs(&r.lab, &r.w, &args("reissue", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("cluster 'east' (context lab-1): 0/")
            && stderr(&o).contains("workloads there may not trust the new root yet"),
        "{}",
        text(&o)
    );
    // The premise: the Secrets changed, the pods' volumes did not.
    for (d, (ctx, _)) in r.pods.iter().zip(CTXS) {
        assert_eq!(d.volume_file("root-cert.pem"), r.old, "{}", d.name);
        assert_ne!(data(&cacerts(&r.lab, ctx), "root-cert.pem"), r.old, "{ctx}");
    }
    let marks = r.log_marks();
    for i in 0..CTXS.len() {
        r.lab.hold_secret_volumes(i, false).unwrap();
    }
    let err = r.stage(&args("trust-both", &["--wait", "2m"]));
    assert!(err.contains("nothing to write"), "{err}");
    let (old, new) = (r.old.clone(), r.new.clone());
    let both = [old, new.clone()].concat();
    configmaps_hold(&r.lab, &both);
    assert_eq!(chains(&r.lab, &r.s, &both), [true, true]);
    assert_eq!(chains(&r.lab, &r.s, &new), [false, false]);
    r.logged_since(&marks, "Updating new ROOT-CA");
    let st = status_ok(&r.lab, &r.w);
    assert_eq!(st["sharedRoot"], true);
    assert_eq!(st["rotation"]["next"], "reissue", "{st:#}");
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "trust-both"], ["west", "trust-both"]])
    );
}

/// Stage 2: new intermediates under the new root, the bundle still both; a run killed after
/// writing the directory but before east's Secret is resumed.
fn reissue(r: &mut Rotation) {
    let (old, new) = (r.old.clone(), r.new.clone());
    let both = [old.clone(), new.clone()].concat();
    let east_stage1 = cacerts(&r.lab, "lab-1");
    let logs = r.log_marks();
    r.stage(&args("reissue", &["--wait", "2m"]));
    // The bundle is unchanged, so the spread the command waits for was there already: istiod
    // loads the new intermediate after the command returns.
    r.logged_since(&logs, "Istiod has detected the newly added intermediate CA");
    // Killed after writing the directory but before east's Secret: east back at stage 1.
    let issued = std::fs::read(r.dir().join("east/ca-cert.pem")).unwrap();
    put_back(&r.lab, "lab-1", &east_stage1);
    assert_ne!(data(&cacerts(&r.lab, "lab-1"), "ca-cert.pem"), issued);
    // Resumed: east gets the intermediate the directory already holds (none issued anew),
    // west is left alone.
    let marks = audit::marks(&r.lab);
    r.stage(&args("reissue", &["--wait", "2m"]));
    assert_eq!(
        audit::writes_since(&r.lab, &marks),
        vec![vec!["patch secrets cacerts".to_string()], vec![]]
    );
    assert_eq!(
        std::fs::read(r.dir().join("east/ca-cert.pem")).unwrap(),
        issued
    );
    assert_eq!(data(&cacerts(&r.lab, "lab-1"), "ca-cert.pem"), issued);
    eventually(30, "east's volume follows its Secret", || {
        r.pods[0].volume_file("ca-cert.pem") == issued
    });
    configmaps_hold(&r.lab, &both);
    assert_eq!(chains(&r.lab, &r.s, &both), [true, true]);
    assert_eq!(chains(&r.lab, &r.s, &new), [true, true]);
    assert_eq!(chains(&r.lab, &r.s, &old), [false, false]);
    assert_eq!(status_ok(&r.lab, &r.w)["rotation"]["next"], "finish");

    // finish right after reissue: refused (workload certificates), nothing written.
    let marks = audit::marks(&r.lab);
    let o = certs(&r.lab, &r.w, &args("finish", &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("workload certificates signed by the old ones may live"),
        "{}",
        text(&o)
    );
    assert_eq!(
        audit::writes_since(&r.lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
}

/// Stage 3: only the new root; it is the mesh root on disk, the old one in the backup. Then
/// finish again, the clusters from the mesh file: nothing written anywhere, and the
/// distribution still observed.
fn finish(r: &mut Rotation) {
    let (old, new) = (r.old.clone(), r.new.clone());
    let logs = r.log_marks();
    r.stage(&args(
        "finish",
        &["--wait", "2m", "--workload-cert-ttl", "0s"],
    ));
    r.logged_since(&logs, "Updating new ROOT-CA");
    configmaps_hold(&r.lab, &new);
    assert_eq!(chains(&r.lab, &r.s, &new), [true, true]);
    assert_eq!(chains(&r.lab, &r.s, &old), [false, false]);
    for (ctx, _) in CTXS {
        assert_eq!(data(&cacerts(&r.lab, ctx), "root-cert.pem"), new, "{ctx}");
    }
    let d = r.dir();
    assert_eq!(std::fs::read(d.join("root-cert.pem")).unwrap(), new);
    assert!(!d.join("next-root").exists());
    let backed_up: Vec<_> = hashes(&d.join("backup"))
        .into_keys()
        .filter(|p| p.ends_with("root-key.pem") && p.components().count() == 2)
        .collect();
    assert_eq!(backed_up.len(), 1, "{backed_up:?}");
    assert_eq!(mode(&d.join("backup").join(&backed_up[0])), 0o600);
    let st = status_ok(&r.lab, &r.w);
    assert_eq!(st["localRoot"], st["meshRoot"]);
    assert_eq!(st["rotation"].get("next"), None, "{st:#}");
    assert_eq!(
        st["rotation"]["clusters"],
        serde_json::json!([["east", "finish"], ["west", "finish"]])
    );

    let done = hashes(&d);
    let marks = audit::marks(&r.lab);
    let again = [
        "rotate-root",
        "finish",
        "-f",
        "mesh.yaml",
        "--wait",
        "30s",
        "--workload-cert-ttl",
        "0s",
    ];
    let err = r.stage(&again);
    assert!(err.contains("nothing to write"), "{err}");
    assert_eq!(
        audit::writes_since(&r.lab, &marks),
        vec![Vec::<String>::new(); 2]
    );
    assert_eq!(hashes(&d), done);
}

#[test]
fn istiod_takes_every_stage_without_restart_and_openssl_verifies_each_chain() {
    let mut r = Rotation::start();
    trust_both(&mut r);
    reissue(&mut r);
    finish(&mut r);
    // The same pods and istiod processes throughout (checked after every stage): no restart
    // was needed, none fell back.
    for d in &mut r.pods {
        d.unchanged(&r.lab);
    }
    never_self_signed(&r);
}
