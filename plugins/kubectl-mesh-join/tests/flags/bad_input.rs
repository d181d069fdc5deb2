//! The bad-input section of `lab_flags`, on its clusters before the flag sections join them:
//! bad mesh files for every key and rule, an end-of-life version, and `remote-secret` on a
//! cluster without Istio.

use crate::join::{JOIN, Untouched, back_to_untouched, untouched};
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::testing::{describe as text, plugin_path, run_plugin as run};
use std::path::Path;

const GOOD: &str = "meshID: mesh1\ncerts: ./mesh-certs\nistio: {version: v1.28.1, cni: true, cniConfDir: /etc/cni/net.d}\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1, apiServer: \"https://192.0.2.10:6443\"}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

/// `(key path expected in the message, the bad file)`: one per key and rule.
fn bad_files() -> Vec<(&'static str, String)> {
    let swap = |from: &str, to: &str| GOOD.replacen(from, to, 1);
    vec![
        ("meshID", swap("meshID: mesh1", "meshID: \"mesh 1\"")),
        ("meshID", swap("meshID: mesh1", "meshID: -mesh1")),
        ("meshID", swap("meshID: mesh1", "meshID: \"\"")),
        ("istio.version", swap("v1.28.1", "1.28.1")),
        ("istio.version", swap("v1.28.1", "v1.28")),
        ("istio.cniConfDir", swap("/etc/cni/net.d", "etc/cni")),
        ("clusters[0].name", swap("name: east", "name: East")),
        ("clusters[0].name", swap("name: east", "name: east_1")),
        (
            "clusters[1].name",
            swap("name: west", &format!("name: {}", "w".repeat(64))),
        ),
        (
            "clusters[0].context",
            swap("context: lab-1", "context: \" \""),
        ),
        (
            "clusters[0].network",
            swap("network: network1", "network: \"net 1\""),
        ),
        (
            "clusters[1].network",
            swap("network: network2", "network: net/2"),
        ),
        (
            "clusters[1].network",
            swap("network: network2", &format!("network: {}", "n".repeat(64))),
        ),
        (
            "clusters[0].eastWestAddress",
            swap("192.0.2.1", "gw_1.example"),
        ),
        (
            "clusters[0].eastWestAddress: \"gw.example.com\" is not an IP address",
            swap("192.0.2.1", "gw.example.com"),
        ),
        (
            "clusters[0].apiServer",
            swap("https://192.0.2.10:6443", "http://192.0.2.10:6443"),
        ),
        (
            "clusters[0].apiServer",
            swap("https://192.0.2.10:6443", "https://host:port"),
        ),
        ("primary 'north'", swap("primary: east", "primary: north")),
        ("does not name its primary", swap(", primary: east", "")),
        (
            "used by more than one cluster",
            swap("context: lab-2", "context: lab-1"),
        ),
        ("given more than once", swap("name: west", "name: east")),
        (
            "unknown field `netwrok`",
            swap("network: network2", "netwrok: network2"),
        ),
    ]
}

/// Bad mesh files, generated for every key and every rule: each plugin that reads a mesh file
/// exits 2 naming the key path, and no API server receives a write (audit logs, with the
/// barrier write as the positive control). Then `remote-secret` creates the missing reader on
/// west, which is taken away again: the section starts and ends on untouched clusters.
pub fn section(lab: &Lab, fresh: &Untouched) {
    assert_eq!(
        &untouched(lab),
        fresh,
        "the section starts on untouched clusters"
    );
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    every_bad_mesh_file_exits_2_naming_the_key_and_writes_nothing(lab, w);
    remote_secret_creates_the_missing_reader(lab, w);
    remove_the_reader(lab, fresh);
}

/// Every bad file, given to join, plan, `mesh-certs apply` and `mesh-verify`, and the
/// end-of-life version: exit 2, the key and file named, a hint, nothing on stdout, no write.
fn every_bad_mesh_file_exits_2_naming_the_key_and_writes_nothing(lab: &Lab, w: &Path) {
    let certs = plugin_path("kubectl-mesh-certs");
    let verify = plugin_path("kubectl-mesh-verify");
    let m = marks(lab);
    let cases = bad_files();
    for (i, (key, body)) in cases.iter().enumerate() {
        let file = format!("bad-{i}.yaml");
        std::fs::write(w.join(&file), body).unwrap();
        for (bin, args) in [
            (
                JOIN,
                vec!["-f", file.as_str(), "--no-wait", "--allow-loopback"],
            ),
            (JOIN, vec!["plan", "-f", file.as_str()]),
            (certs.as_str(), vec!["apply", "-f", file.as_str()]),
            (verify.as_str(), vec!["-f", file.as_str()]),
        ] {
            let o = run(bin, lab, w, &args);
            assert_eq!(o.status.code(), Some(2), "{file} ({key}): {}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(key),
                "{file}: the message does not name {key}:\n{err}"
            );
            assert!(
                err.contains(&file),
                "{file}: the message does not name the file:\n{err}"
            );
            assert!(err.contains("hint:"), "{file}: no hint:\n{err}");
            assert!(
                o.stdout.is_empty(),
                "{file}: printed on stdout: {}",
                text(&o)
            );
        }
    }
    end_of_life_version_refused(lab, w);
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "bad input reached a server: {writes:?}"
    );
    // Positive control for the inputs: the good file passes validation (it fails later, at the
    // trust gate, for want of certificates — not at parsing).
    std::fs::write(w.join("good.yaml"), GOOD).unwrap();
    let o = run(JOIN, lab, w, &["plan", "-f", "good.yaml"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("mesh file 'good.yaml'"), "{err}");
    assert!(
        err.contains("trust is not ready"),
        "past the version gate: {err}"
    );
    assert!(
        err.contains("Istio 1.28 is end-of-life"),
        "served but end-of-life: warned\n{err}"
    );
    assert!(cases.len() >= 20);
}

/// `mesh-join remote-secret` on a cluster without Istio creates what istioctl's
/// create-remote-secret creates: the reader ServiceAccount, its ClusterRole and binding (read
/// rights, no writes), each named; a second run finds them and creates nothing.
fn remote_secret_creates_the_missing_reader(lab: &Lab, w: &Path) {
    let args = [
        "remote-secret",
        "--context",
        "lab-2",
        "--name",
        "west",
        "--allow-loopback",
    ];
    let first = run(JOIN, lab, w, &args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let said = String::from_utf8_lossy(&first.stderr);
    for object in [
        "ServiceAccount istio-system/istio-reader-service-account",
        "ClusterRole istio-reader-clusterrole-istio-system",
        "ClusterRoleBinding istio-reader-clusterrole-istio-system",
    ] {
        assert!(said.contains(&format!("creating {object}")), "{said}");
    }
    let can = |verb: &str, resource: &str| {
        let o = lab
            .kubectl("lab-2")
            .args(["auth", "can-i", verb, resource, "--as"])
            .arg("system:serviceaccount:istio-system:istio-reader-service-account")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(can("list", "services"), "yes");
    assert_eq!(can("create", "secrets"), "no");
    let again = run(JOIN, lab, w, &args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!said.contains("creating"), "{said}");
}

/// Seed 001's v1.24.1: valid as a key, but the served Sail CRD does not list it. Refused with
/// exit 2 by join and plan, naming the context and the versions the operator installs (the
/// audit at the end of the caller shows no write).
fn end_of_life_version_refused(lab: &Lab, w: &Path) {
    std::fs::write(w.join("eol.yaml"), GOOD.replace("v1.28.1", "v1.24.1")).unwrap();
    for args in [
        vec!["-f", "eol.yaml", "--no-wait", "--allow-loopback"],
        vec!["plan", "-f", "eol.yaml"],
    ] {
        let o = run(JOIN, lab, w, &args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        for said in [
            "istio.version: context lab-1: v1.24.1 is not a version the operator installs (an end-of-life minor)",
            "of the supported versions it installs v1.30.3, v1.30.2",
            "hint:",
        ] {
            assert!(err.contains(said), "{said}:\n{err}");
        }
        assert!(!err.contains("v1.28.1,"), "EOL versions not offered: {err}");
    }
}

/// Takes away what `remote-secret` created on west (the namespace with the reader account and
/// its token, the reader ClusterRole and binding) and waits until west is untouched again.
fn remove_the_reader(lab: &Lab, fresh: &Untouched) {
    let role = "istio-reader-clusterrole-istio-system";
    for args in [
        &["delete", "namespace", "istio-system", "--wait=false"][..],
        &["delete", "clusterrolebinding", role],
        &["delete", "clusterrole", role],
    ] {
        let o = lab.kubectl("lab-2").args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    back_to_untouched(lab, "west", "lab-2", fresh, "removing the reader");
}
