//! `kubectl mesh-verify install-watch` against a lab mesh: what it renders applies (the
//! ServiceMonitor and PrometheusRule against the Prometheus operator's CRDs), and the watch
//! run as its Deployment would — the same binary and arguments, no kubeconfig, the service
//! account's token in place of the pod's mount — sees exactly what an administrator's
//! `mesh-verify` sees: the rendered RBAC is enough, and no more than that is granted.
//! promtool lints its exposition and the rules, and unit-tests the alerts.

use super::watch::{Watcher, one_event};
use super::*;
use mesh_lab::Lab;
use mesh_lab::testing::{expect_success as ok, kubectl_json, run_plugin as run};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const NS: &str = "kubectl-mesh";
const SA: &str = "system:serviceaccount:kubectl-mesh:kubectl-mesh-watch";

/// The install-watch section of `lab_verify`, on its healthy mesh (asserted first).
pub fn the_installed_watch_sees_what_an_administrator_sees_with_its_own_rights(
    lab: &Lab,
    w: &Path,
    parts: Parts,
) -> Parts {
    let mesh = Mesh::on(lab, w, parts);
    mesh.is_healthy();
    // The installed watch reaches istiod through its Service (`--istiod-address
    // in-cluster=istiod.istio-system.svc:15014`, no port-forward right); in the lab that address
    // is the operator's istiod pod's monitoring listener. The administrator port-forwards.
    let file = lab.clusters()[0].dir.join(mesh_lab::pods::MONITORING_FILE);
    let east_istiod = std::fs::read_to_string(file).unwrap().trim().to_string();

    install(lab, w);
    least_privilege(lab);
    let admin = admin_view(lab, w);
    let watch = in_cluster_watch(lab, w, &east_istiod);
    let seen = watch.wait_metric(
        r#"kubectl_mesh_checks{result="fail"}"#,
        0.0,
        Duration::from_secs(60),
    );
    eprintln!("in-cluster watch green after {seen:?}");
    let stderr = watch.stderr_text();
    assert!(stderr.contains("watching 13 kinds"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("forbidden"), "{stderr}");
    same_outcomes(&watch, &admin);
    super::promtool::lints(lab, &watch, w, NS);
    unreadable_warns(&watch, lab, w);
    records_events(&watch, lab);
    assert_eq!(watch.stop(), Some(0));
    mesh.release()
}

/// Applies what `install-watch` renders (after the Prometheus operator's CRDs).
fn install(lab: &Lab, w: &Path) {
    // Without the Prometheus operator's CRDs, its kinds are left out, and that is said.
    let bare = ok(run(
        super::VERIFY,
        lab,
        w,
        &["install-watch", "--context", "lab-1"],
    ));
    let (out, err) = (
        String::from_utf8_lossy(&bare.stdout),
        String::from_utf8_lossy(&bare.stderr),
    );
    assert!(
        !out.contains("kind: ServiceMonitor") && !out.contains("kind: PrometheusRule"),
        "{out}"
    );
    assert!(
        err.contains("does not serve monitoring.coreos.com/v1"),
        "{err}"
    );
    let crds = mesh_lab::operator::share_file(lab.bin_dir(), "monitoring-crds.yaml", "prometheus")
        .unwrap();
    let crds = crds.display().to_string();
    kubectl(lab, "lab-1", &["apply", "--server-side", "-f", &crds]);
    kubectl(
        lab,
        "lab-1",
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    );
    let out = ok(run(
        super::VERIFY,
        lab,
        w,
        &["install-watch", "--context", "lab-1"],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    // Positive control of the probe above: with the CRDs served, both kinds are rendered.
    assert!(
        text.contains("kind: ServiceMonitor") && text.contains("kind: PrometheusRule"),
        "{text}"
    );
    std::fs::write(w.join("watch.yaml"), &out.stdout).unwrap();
    let file = w.join("watch.yaml").display().to_string();
    kubectl(lab, "lab-1", &["apply", "-f", &file]);
    for kind in ["servicemonitor", "prometheusrule", "deployment", "service"] {
        let got = kubectl_json(lab, "lab-1", &["get", kind, "kubectl-mesh-watch", "-n", NS]);
        assert!(got.is_some(), "{kind} applied");
    }
}

/// The service account may read what the checks read and nothing beyond.
fn least_privilege(lab: &Lab) {
    let can = |args: &[&str]| {
        let mut a = vec!["auth", "can-i", "--as", SA];
        a.extend(args);
        let o = lab.kubectl("lab-1").args(&a).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim() == "yes"
    };
    // Positive controls: what the checks need is granted.
    assert!(can(&["get", "secret/cacerts", "-n", "istio-system"]));
    assert!(can(&["watch", "istios.sailoperator.io"]));
    assert!(can(&[
        "create",
        "events.events.k8s.io",
        "-n",
        "istio-system"
    ]));
    // And what they do not need is not.
    assert!(!can(&["get", "secrets", "-n", "kube-system"]));
    assert!(!can(&["list", "secrets", "-A"]));
    assert!(!can(&["get", "namespace/default"]));
    assert!(!can(&["create", "pods/portforward", "-n", "istio-system"]));
    assert!(!can(&["delete", "pods", "-n", "istio-system"]));
    assert!(!can(&["update", "secret/cacerts", "-n", "istio-system"]));
}

/// An administrator's one-off `mesh-verify` of the same cluster: check → result.
fn admin_view(lab: &Lab, w: &Path) -> Vec<(String, String, String)> {
    let args = ["--context", "lab-1", "--allow-loopback", "-o", "json"];
    let out = run(super::VERIFY, lab, w, &args);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["success"], true, "{report:#}");
    outcomes(report["checks"].as_array().unwrap())
}

fn outcomes(results: &[Value]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = results
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                format!("{} {}→{}", s("id"), s("cluster"), s("peer")),
                s("result"),
                s("message"),
            )
        })
        .collect();
    v.sort();
    v
}

/// The Deployment's own arguments, run as a process with the service account's token where
/// the pod would have it mounted, and no kubeconfig anywhere.
fn in_cluster_watch(lab: &Lab, w: &Path, istiod: &str) -> Watcher {
    let sa = w.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    let token = kubectl(
        lab,
        "lab-1",
        &["create", "token", "kubectl-mesh-watch", "-n", NS],
    );
    std::fs::write(sa.join("token"), token.trim()).unwrap();
    let ca = kubectl(
        lab,
        "lab-1",
        &[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ],
    );
    let ca = base64_decode(ca.trim());
    std::fs::write(sa.join("ca.crt"), ca).unwrap();
    let server = kubectl(
        lab,
        "lab-1",
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    let (host, port) = server
        .trim()
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    let d = kubectl_json(
        lab,
        "lab-1",
        &["get", "deployment", "kubectl-mesh-watch", "-n", NS],
    )
    .unwrap();
    let args: Vec<String> = d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let metrics_port = mesh_lab::allocate_ports(1).unwrap()[0];
    // The pod's addresses become this host's: the metrics listener and istiod's Service.
    let args: Vec<String> = args
        .into_iter()
        .map(|a| match a.as_str() {
            "0.0.0.0:9464" => format!("127.0.0.1:{metrics_port}"),
            "in-cluster=istiod.istio-system.svc:15014" => format!("in-cluster={istiod}"),
            _ => a,
        })
        .collect();
    assert!(
        args.iter().any(|a| a == &format!("in-cluster={istiod}")),
        "{args:?}"
    );
    let home = w.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(super::VERIFY);
    cmd.args(&args)
        .arg("--allow-loopback")
        .env_remove("KUBECONFIG")
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", host)
        .env("KUBERNETES_SERVICE_PORT", port)
        .env("KUBECTL_MESH_SERVICEACCOUNT_DIR", &sa);
    Watcher::spawn(cmd, w, metrics_port)
}

fn base64_decode(text: &str) -> Vec<u8> {
    let o = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    o.stdin
        .as_ref()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    o.wait_with_output().unwrap().stdout
}

/// Every check the administrator saw, the watch saw with the same outcome and message.
fn same_outcomes(watch: &Watcher, admin: &[(String, String, String)]) {
    let lines = watch.lines.lock().unwrap().clone();
    let first: Vec<Value> = lines
        .into_iter()
        .filter(|l| l["previous"].is_null())
        .collect();
    // Only the context's name differs (the pod's own cluster is `in-cluster`), and how istiod
    // was reached (its Service's address; the administrator's port-forward to the pod).
    let seen: Vec<_> = outcomes(&first)
        .into_iter()
        .map(|(k, r, m)| (k, r, m.replace("context in-cluster", "context lab-1")))
        .map(|(k, r, m)| (k, r, reached(&m)))
        .collect();
    let admin: Vec<_> = admin
        .iter()
        .map(|(k, r, m)| (k.clone(), r.clone(), reached(m)))
        .collect();
    assert!(
        admin.len() > 20,
        "the administrator's report has the checks: {admin:#?}"
    );
    assert_eq!(
        seen, admin,
        "the watch with its service account sees what the administrator sees"
    );
}

/// A message with how istiod was reached (`(pod NAME, by port-forward)`, `(at ADDRESS)`) said
/// the same way whichever it was.
fn reached(message: &str) -> String {
    let Some(start) = message.rfind(" (") else {
        return message.to_string();
    };
    let tail = &message[start..];
    if tail.starts_with(" (at ") || tail.ends_with(", by port-forward)") {
        format!("{} (istiod)", &message[..start])
    } else {
        message.to_string()
    }
}

/// With its own rights the watch records an Event when a check fails, and when it recovers.
fn records_events(watch: &Watcher, lab: &Lab) {
    let series = r#"kubectl_mesh_check{id="control-plane.network-label",category="control-plane",cluster="east",peer=""}"#;
    assert_eq!(watch.metric(series), Some(1.0), "{series}");
    let label = |v: &str| {
        let l = format!("topology.istio.io/network={v}");
        kubectl(
            lab,
            "lab-1",
            &["label", "namespace", "istio-system", &l, "--overwrite"],
        );
    };
    label("wrong");
    watch.wait_metric(series, 0.0, Duration::from_secs(20));
    let e = one_event(
        watch,
        lab,
        ("lab-1", "control-plane.network-label", "CheckFailed"),
        Duration::from_secs(20),
    );
    assert_eq!(e["type"], "Warning", "{e:#}");
    label("network1");
    watch.wait_metric(series, 1.0, Duration::from_secs(60));
    one_event(
        watch,
        lab,
        ("lab-1", "control-plane.network-label", "CheckRecovered"),
        Duration::from_secs(20),
    );
}

/// The watch's right to read the istio-system Namespace taken away (every evaluation reads it
/// from the server): `cluster.facts` turns 0 for the cluster (named by its context, unread)
/// and the mesh-wide checks, not evaluated, -1; promtool's rule test over exactly those scraped series fires the warning alert for each
/// -1 and the failing one for each 0. The right given back, all is 1 again.
fn unreadable_warns(watch: &Watcher, lab: &Lab, w: &Path) {
    let facts =
        r#"kubectl_mesh_check{id="cluster.facts",category="cluster",cluster="east",peer=""}"#;
    let role = kubectl_json(lab, "lab-1", &["get", "clusterrole", "kubectl-mesh-watch"]).unwrap();
    let mut cut = role.clone();
    let rules = cut["rules"].as_array_mut().unwrap();
    let before = rules.len();
    rules.retain(|r| r["resources"] != serde_json::json!(["namespaces"]));
    assert_eq!(
        rules.len(),
        before - 1,
        "the namespaces rule is there to cut: {role:#}"
    );
    let replace = |v: &Value, touch: &str| {
        let file = w.join("role.json");
        std::fs::write(&file, v.to_string()).unwrap();
        kubectl(
            lab,
            "lab-1",
            &["replace", "-f", &file.display().to_string()],
        );
        // Something the watch sees changes, so it evaluates again now.
        let stamp = format!("kubectl-mesh.io/test-touch={touch}");
        kubectl(
            lab,
            "lab-1",
            &[
                "annotate",
                "namespace",
                "istio-system",
                &stamp,
                "--overwrite",
            ],
        );
    };
    replace(&cut, "cut");
    // Unread, the cluster is named by its context (its Istio names it otherwise).
    watch.wait_metric(
        r#"kubectl_mesh_checks{result="fail"}"#,
        1.0,
        Duration::from_secs(60),
    );
    let (_, body) = watch.get("/metrics").unwrap();
    let series = mesh_lab::promtool::check_series(&body);
    let failed: Vec<&str> = series
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        failed.len() == 1 && failed[0].starts_with(r#"kubectl_mesh_check{id="cluster.facts""#),
        "only cluster.facts fails: {series:#?}"
    );
    // The only cluster unread: every mesh-wide check is not evaluated (-1), nothing passes.
    let of = |v: f64| series.iter().filter(|(_, x)| *x == v).count();
    assert!(
        of(-1.0) >= 4,
        "the mesh-wide checks are not evaluated: {series:#?}"
    );
    assert_eq!(of(1.0), 0, "nothing passes unread: {series:#?}");
    std::fs::write(
        w.join("unreadable_test.yaml"),
        mesh_lab::promtool::rule_test_expecting(&series),
    )
    .unwrap();
    let tested = mesh_lab::promtool::run(lab, w, &["test", "rules", "unreadable_test.yaml"]);
    let mut restored = role.clone();
    restored["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    replace(&restored, "restored");
    if let Err(e) = tested {
        panic!("{e}");
    }
    watch.wait_metric(facts, 1.0, Duration::from_secs(60));
    watch.wait_metric(
        r#"kubectl_mesh_checks{result="fail"}"#,
        0.0,
        Duration::from_secs(60),
    );
}
