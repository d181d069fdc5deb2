//! Section: `apply` to three clusters, then `status`, a second apply that writes nothing, and
//! the root private key in no cluster.

use super::*;
use base64::Engine as _;
use mesh_lab::testing::{describe as text, expect_success as ok};

const APPLY: &[&str] = &[
    "apply",
    "--context",
    "lab-1,lab-2,lab-3",
    "--cluster",
    "east,west,north",
    "--network",
    "net1,net2,net3",
];

/// `create` then `apply` to three clusters: every live `cacerts` has the four keys, openssl
/// accepts its chain to the root, and `istio-system` carries the cluster's network; a second
/// apply writes nothing (every resourceVersion stays); `status` reports one root, valid chains
/// and the days left openssl's dates give; the root private key is in no Secret and no
/// ConfigMap of any cluster. Ends with `istio-system` removed everywhere.
pub fn three_clusters_then_status_idempotency_and_no_root_key(lab: &Lab) {
    assert_fresh(lab);
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    ok(certs(lab, w, &["create", "--clusters", "east,west,north"]));

    let applied = ok(certs(lab, w, APPLY));
    assert!(
        String::from_utf8_lossy(&applied.stderr).contains("applied 6 change(s) in 3 cluster(s)"),
        "{}",
        text(&applied)
    );
    let versions = live_secrets_chain_to_the_root(lab, w);
    second_apply_writes_nothing(lab, w, &versions);
    status_agrees_with_openssl(lab, w);
    root_key_in_no_cluster(lab, w);
    remove_istio_system(lab);
}

/// The live Secrets are what openssl accepts: each intermediate chains to the root. Returns
/// the resourceVersions of each cluster's `cacerts` and `istio-system`.
fn live_secrets_chain_to_the_root(lab: &Lab, w: &Path) -> Vec<(String, String)> {
    let mut versions = Vec::new();
    for (ctx, cluster, net) in [
        ("lab-1", "east", "net1"),
        ("lab-2", "west", "net2"),
        ("lab-3", "north", "net3"),
    ] {
        let secret = cacerts(lab, ctx).expect("cacerts exists");
        assert_eq!(secret["type"], "Opaque");
        let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem"
            ]
        );
        let d = tempfile::tempdir().unwrap();
        for k in ["ca-cert.pem", "cert-chain.pem", "root-cert.pem"] {
            std::fs::write(d.path().join(k), data(&secret, k)).unwrap();
        }
        let verified = openssl(
            &[
                "verify",
                "-CAfile",
                "root-cert.pem",
                "-untrusted",
                "cert-chain.pem",
                "ca-cert.pem",
            ],
            d.path(),
        );
        assert!(verified.contains("ca-cert.pem: OK"), "{verified}");
        assert_eq!(
            data(&secret, "ca-cert.pem"),
            std::fs::read(w.join("mesh-certs").join(cluster).join("ca-cert.pem")).unwrap()
        );
        let ns = kubectl_json(lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
        assert_eq!(ns["metadata"]["labels"]["topology.istio.io/network"], net);
        versions.push((rv(&secret), rv(&ns)));
    }
    versions
}

/// A second apply writes nothing: every resourceVersion stays.
fn second_apply_writes_nothing(lab: &Lab, w: &Path, versions: &[(String, String)]) {
    let again = ok(certs(lab, w, APPLY));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to do"),
        "{}",
        text(&again)
    );
    for (i, ctx) in ["lab-1", "lab-2", "lab-3"].iter().enumerate() {
        let secret = cacerts(lab, ctx).unwrap();
        let ns = kubectl_json(lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
        assert_eq!(
            (rv(&secret), rv(&ns)),
            versions[i],
            "{ctx} was written by a no-op apply"
        );
    }
}

/// status: one root, valid chains, the days left openssl's dates give.
fn status_agrees_with_openssl(lab: &Lab, w: &Path) {
    let status = ok(certs(
        lab,
        w,
        &[
            "status",
            "--context",
            "lab-1,lab-2,lab-3",
            "--cluster",
            "east,west,north",
            "-o",
            "json",
        ],
    ));
    let report: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(report["sharedRoot"], true);
    assert_eq!(
        report["problems"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    let root_fp = root_fingerprint(w, "mesh-certs");
    assert_eq!(report["meshRoot"], root_fp.as_str());
    assert_eq!(report["localRoot"], root_fp.as_str());
    for (c, name) in report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["east", "west", "north"])
    {
        assert_eq!(c["cluster"], name);
        assert_eq!(c["cacerts"]["chains"], true);
        assert_eq!(c["cacerts"]["roots"][0], root_fp.as_str());
        assert_eq!(c["localRootMatches"], true);
        assert_eq!(
            c["cacerts"]["intermediate"]["daysLeft"],
            days_left(w, name),
            "{name}"
        );
    }
}

/// Whole days from now to the end date openssl reads from `name`'s intermediate.
fn days_left(w: &Path, name: &str) -> i64 {
    let end = openssl(
        &[
            "x509",
            "-in",
            &format!("mesh-certs/{name}/ca-cert.pem"),
            "-noout",
            "-enddate",
        ],
        w,
    );
    let end = end.trim().trim_start_matches("notAfter=").to_string();
    let secs = std::process::Command::new("date")
        .args(["-d", &end, "+%s"])
        .output()
        .unwrap();
    let secs: i64 = String::from_utf8_lossy(&secs.stdout)
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (secs - now).div_euclid(86_400)
}

/// The root private key is in no Secret and no ConfigMap of any cluster.
fn root_key_in_no_cluster(lab: &Lab, w: &Path) {
    let root_key = std::fs::read_to_string(w.join("mesh-certs/root-key.pem")).unwrap();
    let body: String = root_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let probe = &body[..64];
    for ctx in lab.contexts() {
        for kind in ["secrets", "configmaps"] {
            let all = kubectl_json(lab, &ctx, &["get", kind, "-A"]).unwrap();
            for item in all["items"].as_array().unwrap() {
                for (_, v) in item["data"].as_object().into_iter().flatten() {
                    let raw = v.as_str().unwrap_or_default();
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .unwrap_or_default();
                    let decoded: String = String::from_utf8_lossy(&decoded).lines().collect();
                    let plain: String = raw.lines().collect();
                    assert!(
                        !decoded.contains(probe) && !plain.contains(probe),
                        "{ctx}: {kind} {} holds the root key",
                        item["metadata"]["name"]
                    );
                }
            }
        }
    }
}
