//! `kubectl mesh-join` against real lab clusters: every topology accepted by the API server
//! against the CRD schemas, remote secrets that authenticate with least privilege,
//! idempotency, interrupted runs, and `leave`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::audit::{marks, writes_since};
use mesh_lab::stall::{Stall, Target};
use mesh_lab::testing::{
    describe as text, expect_success as ok, footprint, join_mesh, kubectl_json, run_plugin as run,
};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

fn certs_bin() -> String {
    mesh_lab::plugin_bin("kubectl-mesh-certs")
        .unwrap()
        .display()
        .to_string()
}

/// Certificates made and applied, mesh file written: ready for `mesh-join -f mesh.yaml`.
fn prepare(lab: &Lab, dir: &Path, mesh: &str, clusters: &str) {
    std::fs::write(dir.join("mesh.yaml"), mesh).unwrap();
    ok(run(
        &certs_bin(),
        lab,
        dir,
        &["create", "--clusters", clusters, "--key-type", "ecdsa-p256"],
    ));
    ok(run(&certs_bin(), lab, dir, &["apply", "-f", "mesh.yaml"]));
}

fn join(lab: &Lab, dir: &Path) -> Output {
    join_mesh(JOIN, lab, dir)
}

/// Everything join manages in a cluster (every kind a join writes), with resourceVersions when
/// asked (a second proof, beside the audit logs, that a re-run wrote nothing).
fn state(lab: &Lab, ctx: &str, with_versions: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, ns) in [
        ("istios.sailoperator.io", None),
        ("istiocnis.sailoperator.io", None),
        ("namespaces", None),
        ("clusterroles", None),
        ("clusterrolebindings", None),
        ("secrets", Some("istio-system")),
        ("serviceaccounts", Some("istio-system")),
        ("services", Some("istio-system")),
        ("deployments", Some("istio-system")),
        ("roles", Some("istio-system")),
        ("rolebindings", Some("istio-system")),
        ("poddisruptionbudgets", Some("istio-system")),
        ("horizontalpodautoscalers", Some("istio-system")),
        ("gateways.networking.istio.io", Some("istio-system")),
        ("virtualservices.networking.istio.io", Some("istio-system")),
    ] {
        let mut args = vec!["get", kind];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        // A kind that cannot be listed fails the test: skipping it would hide its changes.
        let list = kubectl_json(lab, ctx, &args)
            .unwrap_or_else(|| panic!("{ctx}: kubectl get {kind} failed"));
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap();
            if kind == "namespaces" && !name.starts_with("istio") {
                continue;
            }
            if kind.starts_with("clusterrole") && !name.starts_with("istio-reader") {
                continue;
            }
            if kind == "serviceaccounts" && name == "default" {
                continue;
            }
            // The operator's Helm release history grows with every reconcile of a changed
            // Istio; what the release rendered is compared like the rest.
            if item["type"] == "helm.sh/release.v1" {
                continue;
            }
            let mut line = format!("{kind}/{name}");
            if kind == "namespaces" {
                line.push_str(&format!(
                    " labels={} annotations={}",
                    item["metadata"]["labels"], item["metadata"]["annotations"]
                ));
            }
            if kind.starts_with("istio") {
                line.push_str(&format!(" spec={}", item["spec"]));
            }
            if with_versions {
                line.push_str(&format!(" rv={}", item["metadata"]["resourceVersion"]));
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

/// The kubeconfig of `reader`'s remote secret for `source`, checked with the lab's kubectl:
/// it authenticates as the reader, may list services and endpointslices, may not create secrets.
fn check_remote_secret(lab: &Lab, dir: &Path, reader_ctx: &str, source: &str) {
    let secret = kubectl_json(
        lab,
        reader_ctx,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{source}"),
            "-n",
            "istio-system",
        ],
    )
    .unwrap_or_else(|| panic!("{reader_ctx} lacks the remote secret for {source}"));
    assert_eq!(secret["metadata"]["labels"]["istio/multiCluster"], "true");
    assert_eq!(
        secret["metadata"]["annotations"]["networking.istio.io/cluster"],
        source
    );
    assert_eq!(secret["type"], "Opaque");
    let data = secret["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [source],
        "the data key is the cluster name"
    );
    let kubeconfig = base64::engine::general_purpose::STANDARD
        .decode(data[source].as_str().unwrap())
        .unwrap();
    let parsed: Value =
        serde_json::to_value(yaml_serde::from_slice::<serde_json::Value>(&kubeconfig).unwrap())
            .unwrap();
    assert_eq!(parsed["current-context"], source);
    assert_eq!(parsed["users"][0]["name"], source);
    let path = dir.join(format!("remote-{reader_ctx}-{source}.kubeconfig"));
    std::fs::write(&path, &kubeconfig).unwrap();
    let as_reader = |args: &[&str]| {
        Command::new(lab.bin("kubectl").unwrap())
            .arg(format!("--kubeconfig={}", path.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let who = as_reader(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&who.stdout),
        "system:serviceaccount:istio-system:istio-reader-service-account",
        "{}",
        text(&who)
    );
    assert!(as_reader(&["get", "services", "-A"]).status.success());
    assert!(as_reader(&["get", "endpointslices", "-A"]).status.success());
    let can = as_reader(&["auth", "can-i", "create", "secrets", "-n", "istio-system"]);
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "no");
    let denied = as_reader(&["create", "secret", "generic", "intruder", "-n", "default"]);
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("forbidden"),
        "{}",
        text(&denied)
    );
}

fn topology(mesh: &str, checks: impl Fn(&Lab, &Path)) {
    let lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let untouched = footprint(&lab, "lab-2");
    prepare(&lab, w, mesh, "east,west");
    let first = ok(join(&lab, w));
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("applied"),
        "{}",
        text(&first)
    );
    checks(&lab, w);
    let before: Vec<Vec<String>> = lab
        .contexts()
        .iter()
        .map(|c| state(&lab, c, true))
        .collect();
    let m = marks(&lab);
    let second = ok(join(&lab, w));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("nothing to do"),
        "{}",
        text(&second)
    );
    // Counted in the audit logs, after a barrier write each (the positive control).
    let writes = writes_since(&lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "a second join wrote {writes:?}"
    );
    let after: Vec<Vec<String>> = lab
        .contexts()
        .iter()
        .map(|c| state(&lab, c, true))
        .collect();
    assert_eq!(before, after, "a second join wrote something");
    control_plane_checks_pass(&lab, w);
    purge_returns_west_to_untouched(&lab, w, &untouched);
}

/// `mesh-verify`'s control-plane checks on the operator's real status: none fails or warns,
/// and each cluster's `Istio` is observed Ready.
fn control_plane_checks_pass(lab: &Lab, w: &Path) {
    let verify = mesh_lab::testing::plugin_path("kubectl-mesh-verify");
    let o = run(
        &verify,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "-o", "json"],
    );
    let report: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let checks = report["checks"].as_array().unwrap();
    let control: Vec<&Value> = checks
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("control-plane."))
        .collect();
    for c in &control {
        assert!(c["result"] == "pass" || c["result"] == "n/a", "{c:#}");
    }
    for cluster in ["east", "west"] {
        assert!(
            control
                .iter()
                .any(|c| c["id"] == "control-plane.istio-ready"
                    && c["cluster"] == cluster
                    && c["result"] == "pass"),
            "{cluster}: Istio not observed Ready: {report:#}"
        );
    }
}

/// `leave --cluster west --purge` takes west back to what it was before `mesh-certs apply`
/// and the join: the operator's uninstall finishes (its charts' cluster-wide objects go) and
/// nothing of ours is left; the namespace's deletion is waited for.
fn purge_returns_west_to_untouched(lab: &Lab, w: &Path, untouched: &[String]) {
    let joined = footprint(lab, "lab-2");
    assert_ne!(joined, untouched, "the join left a footprint to remove");
    ok(run(
        JOIN,
        lab,
        w,
        &[
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            "west",
            "--purge",
            "--yes",
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = footprint(lab, "lab-2");
        if now == untouched {
            break;
        }
        if Instant::now() > deadline {
            let left: Vec<&String> = now.iter().filter(|o| !untouched.contains(o)).collect();
            let gone: Vec<&String> = untouched.iter().filter(|o| !now.contains(o)).collect();
            panic!("90 s after leave --purge, west still has {left:?} and lacks {gone:?}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn istio(lab: &Lab, ctx: &str) -> Value {
    kubectl_json(lab, ctx, &["get", "istios.sailoperator.io", "default"]).expect("Istio default")
}

#[test]
fn multi_primary_single_network() {
    topology(
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
        |lab, w| {
            for (ctx, name, peer) in [("lab-1", "east", "west"), ("lab-2", "west", "east")] {
                let i = istio(lab, ctx);
                assert_eq!(
                    i["spec"]["values"]["global"]["multiCluster"]["clusterName"],
                    name
                );
                assert_eq!(i["spec"]["values"]["global"]["meshID"], "mesh1");
                assert!(
                    kubectl_json(
                        lab,
                        ctx,
                        &[
                            "get",
                            "service",
                            "istio-eastwestgateway",
                            "-n",
                            "istio-system"
                        ]
                    )
                    .is_none(),
                    "one network needs no east-west gateway"
                );
                check_remote_secret(lab, w, ctx, peer);
            }
        },
    );
}

#[test]
fn multi_primary_multi_network() {
    topology(
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n",
        |lab, w| {
            for (ctx, net, peer) in [("lab-1", "network1", "west"), ("lab-2", "network2", "east")] {
                let ns = kubectl_json(lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
                assert_eq!(ns["metadata"]["labels"]["topology.istio.io/network"], net);
                let svc = kubectl_json(
                    lab,
                    ctx,
                    &[
                        "get",
                        "service",
                        "istio-eastwestgateway",
                        "-n",
                        "istio-system",
                    ],
                )
                .unwrap();
                let ports: Vec<i64> = svc["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect();
                assert!(ports.contains(&15443));
                assert_eq!(svc["metadata"]["labels"]["topology.istio.io/network"], net);
                let gw = kubectl_json(
                    lab,
                    ctx,
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system",
                    ],
                )
                .unwrap();
                assert_eq!(gw["spec"]["servers"][0]["tls"]["mode"], "AUTO_PASSTHROUGH");
                check_remote_secret(lab, w, ctx, peer);
            }
        },
    );
}

#[test]
fn primary_remote_single_network() {
    topology(
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: lab-2, network: network1, role: remote, primary: east}\n",
        |lab, w| {
            let east = istio(lab, "lab-1");
            assert_eq!(
                east["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"],
                "true"
            );
            let west = istio(lab, "lab-2");
            assert_eq!(west["spec"]["profile"], "remote");
            assert_eq!(
                west["spec"]["values"]["istiodRemote"]["injectionPath"],
                "/inject/cluster/west/net/network1"
            );
            assert_eq!(
                west["spec"]["values"]["global"]["remotePilotAddress"],
                "192.0.2.10"
            );
            let ns = kubectl_json(lab, "lab-2", &["get", "namespace", "istio-system"]).unwrap();
            assert_eq!(
                ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"],
                "east"
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "istiod-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "virtualservices.networking.istio.io",
                        "istiod-vs",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            check_remote_secret(lab, w, "lab-1", "west");
            assert!(
                kubectl_json(
                    lab,
                    "lab-2",
                    &[
                        "get",
                        "secret",
                        "istio-remote-secret-east",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_none(),
                "a remote reads nobody"
            );
        },
    );
}

#[test]
fn primary_remote_multi_network() {
    topology(
        "meshID: mesh1\nistio: {cni: true}\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n",
        |lab, w| {
            for ctx in ["lab-1", "lab-2"] {
                assert!(
                    kubectl_json(
                        lab,
                        ctx,
                        &[
                            "get",
                            "service",
                            "istio-eastwestgateway",
                            "-n",
                            "istio-system"
                        ]
                    )
                    .is_some()
                );
                let cni = kubectl_json(lab, ctx, &["get", "istiocnis.sailoperator.io", "default"])
                    .unwrap();
                assert_eq!(cni["spec"]["namespace"], "istio-cni");
            }
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-2",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_none()
            );
            let role = kubectl_json(
                lab,
                "lab-2",
                &[
                    "get",
                    "clusterrole",
                    "istio-reader-clusterrole-istio-system",
                ],
            )
            .unwrap();
            assert!(
                role["rules"]
                    .to_string()
                    .contains("mutatingwebhookconfigurations"),
                "a remote's reader may patch its webhook"
            );
            check_remote_secret(lab, w, "lab-1", "west");
        },
    );
}

#[test]
fn multi_primary_on_three_clusters_survives_interruption() {
    let lab = Lab::up(3).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
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
    let states = |lab: &Lab| -> Vec<Vec<String>> {
        lab.contexts()
            .iter()
            .map(|c| state(lab, c, false))
            .collect()
    };
    let points = [
        ("serviceaccounts", "istio-eastwestgateway-service-account"),
        (
            "secrets",
            "istio-reader-service-account-istio-remote-secret-token",
        ),
        ("secrets", "istio-remote-secret-east"),
    ];
    let mut before = states(&lab);
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
        let now = states(&lab);
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
    let interrupted: Vec<Vec<String>> = lab
        .contexts()
        .iter()
        .map(|c| state(&lab, c, false))
        .collect();
    for (ctx, peers) in [
        ("lab-1", ["west", "north"]),
        ("lab-2", ["east", "north"]),
        ("lab-3", ["east", "west"]),
    ] {
        for p in peers {
            check_remote_secret(&lab, w, ctx, p);
        }
    }
    // The same end state as an uninterrupted run on fresh clusters.
    let fresh = Lab::up(3).expect("lab");
    let work2 = tempfile::tempdir().unwrap();
    std::fs::write(
        work2.path().join("mesh.yaml"),
        std::fs::read(w.join("mesh.yaml")).unwrap(),
    )
    .unwrap();
    copy_dir(&w.join("mesh-certs"), &work2.path().join("mesh-certs"));
    ok(run(
        &certs_bin(),
        &fresh,
        work2.path(),
        &["apply", "-f", "mesh.yaml"],
    ));
    ok(join(&fresh, work2.path()));
    let clean: Vec<Vec<String>> = fresh
        .contexts()
        .iter()
        .map(|c| state(&fresh, c, false))
        .collect();
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn leave_returns_the_peer_to_its_state_before_the_join() {
    let lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let alone = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n";
    let both = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n";
    prepare(&lab, w, both, "east,west");
    std::fs::write(w.join("mesh.yaml"), alone).unwrap();
    ok(join(&lab, w));
    let before = state(&lab, "lab-1", false);
    std::fs::write(w.join("mesh.yaml"), both).unwrap();
    ok(join(&lab, w));
    assert_ne!(state(&lab, "lab-1", false), before, "the join changed east");
    // Without --yes and without a terminal: refused, nothing removed.
    let refused = run(
        JOIN,
        &lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "west"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        kubectl_json(
            &lab,
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
        &lab,
        w,
        &["leave", "-f", "mesh.yaml", "--cluster", "west", "--yes"],
    ));
    assert_eq!(
        state(&lab, "lab-1", false),
        before,
        "east is back to its state before west joined"
    );
    for gone in [
        "istio-remote-secret-east",
        "istio-reader-service-account-istio-remote-secret-token",
    ] {
        assert!(
            kubectl_json(
                &lab,
                "lab-2",
                &["get", "secret", gone, "-n", "istio-system"]
            )
            .is_none(),
            "{gone} left in west"
        );
    }
    assert!(
        kubectl_json(
            &lab,
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
        kubectl_json(&lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_some(),
        "the control plane stays without --purge"
    );
}

#[test]
fn refuses_without_cacerts_and_with_a_loopback_server() {
    let lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("mesh.yaml"), "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n").unwrap();
    let no_certs = join(&lab, w);
    assert_eq!(no_certs.status.code(), Some(2), "{}", text(&no_certs));
    let err = String::from_utf8_lossy(&no_certs.stderr);
    assert!(
        err.contains("no istio-system/cacerts in context lab-1")
            && err.contains("kubectl mesh-certs apply"),
        "{err}"
    );
    assert!(
        kubectl_json(&lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "nothing written"
    );
    ok(run(
        &certs_bin(),
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
    ok(run(&certs_bin(), &lab, w, &["apply", "-f", "mesh.yaml"]));
    let loopback = run(JOIN, &lab, w, &["-f", "mesh.yaml", "--timeout", "60s"]);
    assert_eq!(loopback.status.code(), Some(2), "{}", text(&loopback));
    assert!(
        String::from_utf8_lossy(&loopback.stderr).contains("loopback"),
        "{}",
        text(&loopback)
    );
    assert!(
        kubectl_json(&lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "refused before writing"
    );
    // The plan lists every action and changes nothing.
    let plan = ok(run(
        JOIN,
        &lab,
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
    assert!(kubectl_json(&lab, "lab-1", &["get", "istios.sailoperator.io", "default"]).is_none());
    // Waiting for Ready says what it waits for and gives up with exit 1 (3 s is far less than
    // the operator needs to roll out istiod).
    let wait = run(
        JOIN,
        &lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--timeout", "3"],
    );
    assert_eq!(wait.status.code(), Some(1), "{}", text(&wait));
    assert!(
        String::from_utf8_lossy(&wait.stderr).contains("Sail operator"),
        "{}",
        text(&wait)
    );
}
