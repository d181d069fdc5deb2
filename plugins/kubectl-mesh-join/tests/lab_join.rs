//! `kubectl mesh-join` against real lab clusters: every topology accepted by the API server
//! against the CRD schemas, remote secrets that authenticate with least privilege,
//! idempotency, interrupted runs, and `leave`. Tests of the same size share a lab: each
//! topology ends by purging its clusters back to their footprint before the join
//! (`join::purge_back`), so the next starts on clusters as fresh as a new lab's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod join;

use join::{
    JOIN, Untouched, certs_bin, check_remote_secret, join, prepare, purge_back, state, states,
    topologies, untouched,
};
use mesh_lab::Lab;
use mesh_lab::stall::{Stall, Target};
use mesh_lab::testing::{describe as text, expect_success as ok, kubectl_json, run_plugin as run};
use std::process::Command;
use std::time::Duration;

/// One two-cluster lab for the refusals, both one-network topologies and `leave`, in turn.
#[test]
fn one_network_topologies_refusals_and_leave_on_one_lab() {
    let lab = Lab::up(2).expect("lab");
    let untouched = untouched(&lab);
    refuses_without_cacerts_and_with_a_loopback_server(&lab, &untouched);
    topologies::multi_primary_single_network(&lab, &untouched);
    topologies::primary_remote_single_network(&lab, &untouched);
    leave_returns_the_peer_to_its_state_before_the_join(&lab);
}

/// One two-cluster lab for both multi-network topologies, in turn.
#[test]
fn multi_network_topologies_on_one_lab() {
    let lab = Lab::up(2).expect("lab");
    let untouched = untouched(&lab);
    topologies::multi_primary_multi_network(&lab, &untouched);
    topologies::primary_remote_multi_network(&lab, &untouched);
}

#[test]
fn multi_primary_on_three_clusters_survives_interruption() {
    let lab = Lab::up(3).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let untouched = untouched(&lab);
    prepare(
        &lab,
        w,
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n- {name: north, context: lab-3, network: network3, role: primary}\n",
        "east,west,north",
    );
    // Killed at three points, then run to the end. Each point is one object's stored write,
    // held by the API server (a webhook that never answers, see `mesh_lab::stall`): when it
    // arrives the join is mid-run with every earlier write landed, and the kill lands before
    // it. Points in the join's order: the gateway stage (control planes done), the reader
    // token stage (gateways done), the remote-secret stage (tokens done).
    let points = [
        ("serviceaccounts", "istio-eastwestgateway-service-account"),
        (
            "secrets",
            "istio-reader-service-account-istio-remote-secret-token",
        ),
        ("secrets", "istio-remote-secret-east"),
    ];
    let mut before = states(&lab, false);
    let mut partial = Vec::new();
    for (resource, name) in points {
        let target = Target {
            group: "",
            resource,
            namespace: Some("istio-system"),
            name,
        };
        let stall = Stall::at(&lab, "lab-2", &target).expect("stall");
        let log = w.join(format!("join-killed-at-{name}.log"));
        let mut child = Command::new(JOIN)
            .args(["-f", "mesh.yaml", "--timeout", "60s", "--allow-loopback"])
            .current_dir(w)
            .env("KUBECONFIG", lab.kubeconfig())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(w.join("join.stderr")).unwrap())
            .spawn()
            .unwrap();
        let held = stall.wait_hit(Duration::from_secs(120));
        let ended = child.try_wait().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        stall.release().expect("release the held write");
        let said = || {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            let err = std::fs::read_to_string(w.join("join.stderr")).unwrap_or_default();
            format!("{out}{err}")
        };
        assert!(
            held,
            "the join never wrote {resource}/{name} on lab-2 within 120 s; it said:\n{}",
            said()
        );
        assert!(
            ended.is_none(),
            "the join had ended ({ended:?}) while its write of {name} was held; it said:\n{}",
            said()
        );
        let now = states(&lab, false);
        assert_ne!(now, before, "the kill at {name} left no new state");
        assert!(
            kubectl_json(
                &lab,
                "lab-2",
                &["get", resource, name, "-n", "istio-system"]
            )
            .is_none(),
            "the held write of {name} was stored"
        );
        partial.push((name, now.clone()));
        before = now;
    }
    ok(join(&lab, w));
    let interrupted = states(&lab, false);
    for (ctx, peers) in [
        ("lab-1", ["west", "north"]),
        ("lab-2", ["east", "north"]),
        ("lab-3", ["east", "west"]),
    ] {
        for p in peers {
            check_remote_secret(&lab, w, ctx, p);
        }
    }
    // The same end state as an uninterrupted run on fresh clusters: all three purged back to
    // untouched, the same certificates applied again and the join run once.
    purge_back(
        &lab,
        w,
        "mesh.yaml",
        &[("north", "lab-3"), ("west", "lab-2"), ("east", "lab-1")],
        &untouched,
    );
    ok(run(&certs_bin(), &lab, w, &["apply", "-f", "mesh.yaml"]));
    ok(join(&lab, w));
    let clean = states(&lab, false);
    assert_eq!(interrupted, clean);
    // Every kill landed before the last write: the state it left was not the end state.
    for (name, state) in &partial {
        assert_ne!(
            state, &interrupted,
            "the kill at {name} came after the last write"
        );
    }
    let again = ok(join(&lab, w));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to do"),
        "{}",
        text(&again)
    );
}

/// East joins alone, then west joins; `leave --cluster west` (refused without `--yes` and a
/// terminal) takes east back to its state before west joined and removes west's mesh objects,
/// keeping its control plane (no `--purge`).
fn leave_returns_the_peer_to_its_state_before_the_join(lab: &Lab) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let alone = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n";
    let both = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n";
    prepare(lab, w, both, "east,west");
    std::fs::write(w.join("mesh.yaml"), alone).unwrap();
    ok(join(lab, w));
    let before = state(lab, "lab-1", false);
    std::fs::write(w.join("mesh.yaml"), both).unwrap();
    ok(join(lab, w));
    assert_ne!(state(lab, "lab-1", false), before, "the join changed east");
    // Without --yes and without a terminal: refused, nothing removed.
    let refused = run(
        JOIN,
        lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "west"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        kubectl_json(
            lab,
            "lab-1",
            &[
                "get",
                "secret",
                "istio-remote-secret-west",
                "-n",
                "istio-system"
            ]
        )
        .is_some()
    );
    ok(run(
        JOIN,
        lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "west", "--yes"],
    ));
    assert_eq!(
        state(lab, "lab-1", false),
        before,
        "east is back to its state before west joined"
    );
    for gone in [
        "istio-remote-secret-east",
        "istio-reader-service-account-istio-remote-secret-token",
    ] {
        assert!(
            kubectl_json(lab, "lab-2", &["get", "secret", gone, "-n", "istio-system"]).is_none(),
            "{gone} left in west"
        );
    }
    assert!(
        kubectl_json(
            lab,
            "lab-2",
            &[
                "get",
                "service",
                "istio-eastwestgateway",
                "-n",
                "istio-system"
            ]
        )
        .is_none()
    );
    assert!(
        kubectl_json(lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_some(),
        "the control plane stays without --purge"
    );
}

/// Refused without `cacerts` and with a loopback server (nothing written), the plan lists
/// every action, and a wait too short for the operator gives up with exit 1; then both
/// clusters are purged back to untouched from that half-joined state.
fn refuses_without_cacerts_and_with_a_loopback_server(lab: &Lab, untouched: &Untouched) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n").unwrap();
    let no_certs = join(lab, w);
    assert_eq!(no_certs.status.code(), Some(2), "{}", text(&no_certs));
    let err = String::from_utf8_lossy(&no_certs.stderr);
    assert!(
        err.contains("no istio-system/cacerts in context lab-1")
            && err.contains("kubectl mesh-certs apply"),
        "{err}"
    );
    assert!(
        kubectl_json(lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "nothing written"
    );
    ok(run(
        &certs_bin(),
        lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs_bin(), lab, w, &["apply", "-f", "mesh.yaml"]));
    let loopback = run(JOIN, lab, w, &["-f", "mesh.yaml", "--timeout", "60s"]);
    assert_eq!(loopback.status.code(), Some(2), "{}", text(&loopback));
    assert!(
        String::from_utf8_lossy(&loopback.stderr).contains("loopback"),
        "{}",
        text(&loopback)
    );
    assert!(
        kubectl_json(lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "refused before writing"
    );
    // The plan lists every action and changes nothing.
    let plan = ok(run(
        JOIN,
        lab,
        w,
        &["plan", "-f", "mesh.yaml", "--allow-loopback"],
    ));
    let table = String::from_utf8_lossy(&plan.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains(" create ") && l.contains("Istio default"))
            && table.contains("istio-remote-secret-west"),
        "{table}"
    );
    assert!(kubectl_json(lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none());
    // Waiting for Ready says what it waits for and gives up with exit 1 (3 s is far less than
    // the operator needs to roll out istiod).
    let wait = run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--timeout", "3"],
    );
    assert_eq!(wait.status.code(), Some(1), "{}", text(&wait));
    assert!(
        String::from_utf8_lossy(&wait.stderr).contains("Sail operator"),
        "{}",
        text(&wait)
    );
    purge_back(
        lab,
        w,
        "mesh.yaml",
        &[("west", "lab-2"), ("east", "lab-1")],
        untouched,
    );
}
