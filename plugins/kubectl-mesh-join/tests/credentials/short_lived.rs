//! Sections of `lab_credentials`: short-lived reader tokens (`--token-ttl`), reached by a
//! rotation or by the join itself.

use super::*;
use base64::Engine as _;
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, kubectl_json, run_plugin as run,
};
use mesh_lab::{Lab, audit};
use serde_json::Value;
use std::path::Path;

const GEN2: &str = "istio-reader-service-account-istio-remote-secret-token-2";

/// `mesh-join rotate-credentials --token-ttl` on a joined two-cluster multi-primary mesh
/// with the operator's istiod pod per cluster (restarted by the rotation, followed by
/// port-forward): the long-lived join tokens are replaced by tokens from the TokenRequest API,
/// bound to an anchor Secret, with the asked lifetime; each istiod pod, once synced, keeps
/// reporting the other cluster synced (clusterz sampled throughout); a token that is no
/// longer fresh is renewed as the next generation, whose run deletes the old anchor, and the
/// API server refuses the tokens bound to it; a join changes nothing.
///
/// Starts from clusters without a mesh (the caller asserts their footprint).
pub fn short_lived_tokens_are_bound_renewed_and_revoked_while_istiod_stays_synced(
    lab: &Lab,
    w: &Path,
) {
    let istiods = joined_with_istiods(lab, w);
    let rotate = vec!["rotate-credentials", "-f", "mesh.yaml"];
    let old: Vec<String> = CTXS
        .iter()
        .map(|(c, _)| token(lab, c, OLD).unwrap())
        .collect();
    for ((ctx, _), t) in CTXS.iter().zip(&old) {
        ok(reads_pods(lab, ctx, t));
    }
    let bound = to_short_lived(lab, w, &istiods, &rotate, &old);
    renewed_as_the_next_generation(lab, w, &rotate, &bound);
}

/// The claims of a JWT.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn anchor_uid(lab: &Lab, ctx: &str, name: &str) -> String {
    let a = kubectl_json(lab, ctx, &["get", "secret", name, "-n", "istio-system"]).unwrap();
    assert_eq!(a["type"], "Opaque", "{a:#}");
    assert!(a.get("data").is_none(), "an anchor holds no token: {a:#}");
    a["metadata"]["uid"].as_str().unwrap().to_string()
}

/// `--token-ttl 10m`: bound tokens embedded, istiod synced throughout, the long-lived join
/// tokens revoked, the new ones least-privileged; run again: nothing to do, nothing written.
fn to_short_lived(
    lab: &Lab,
    w: &Path,
    istiods: &[PodIstiod],
    rotate: &[&str],
    old: &[String],
) -> Vec<String> {
    let mut args = rotate.to_vec();
    args.extend(["--token-ttl", "10m"]);
    let (o, synced, other) = run_sampling(lab, w, istiods, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(synced >= 4, "{synced} samples: {}", text(&o));
    // As in the long-lived rotation: a `syncing` sample is istiod's new entry while it still
    // serves from the previous one; never `timeout`, `closed` or missing.
    assert!(
        other.iter().all(|s| s.ends_with("Some(\"syncing\")")),
        "{other:?}\n{}",
        text(&o)
    );
    assert!(
        stderr(&o).contains("minted a token valid for 10m"),
        "{}",
        text(&o)
    );
    let mut bound = Vec::new();
    for (i, (reader, source)) in [("lab-2", "east"), ("lab-1", "west")].iter().enumerate() {
        let t = embedded(lab, reader, source);
        let c = claims(&t);
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            600,
            "{c:#}"
        );
        let ctx = CTXS[i].0;
        assert_eq!(c["kubernetes.io"]["secret"]["name"], NEW, "{c:#}");
        assert_eq!(
            c["kubernetes.io"]["secret"]["uid"],
            anchor_uid(lab, ctx, NEW).as_str()
        );
        ok(reads_pods(lab, ctx, &t));
        let o = as_token(
            lab,
            ctx,
            &t,
            &["auth", "can-i", "create", "secrets", "-n", "istio-system"],
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "no",
            "{}",
            text(&o)
        );
        bound.push(t);
    }
    for ((ctx, _), t) in CTXS.iter().zip(old) {
        eventually(30, "the long-lived join token is refused", || {
            stderr(&reads_pods(lab, ctx, t)).contains("Unauthorized")
        });
    }
    let marks = audit::marks(lab);
    let o = ok(run(JOIN, lab, w, rotate));
    assert!(
        stderr(&o).contains("short-lived tokens of 10m"),
        "{}",
        text(&o)
    );
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(writes(lab, &marks), vec![Vec::<String>::new(); 2]);
    bound
}

/// A reader whose token is not a fresh one bound to the anchor (here: an unbound token made
/// with `kubectl create token`) is renewed as east's next generation: a new anchor, the
/// generation-1 anchor deleted, and the API server refuses east's generation-1 token (it
/// worked just before); west's fresh token is left alone. Then a join writes nothing.
fn renewed_as_the_next_generation(lab: &Lab, w: &Path, rotate: &[&str], bound: &[String]) {
    ok(reads_pods(lab, "lab-1", &bound[0]));
    let stale = String::from_utf8(
        lab.kubectl("lab-1")
            .args([
                "create",
                "token",
                "istio-reader-service-account",
                "-n",
                "istio-system",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // Written as our own field manager would (a server-side apply of the whole remote
    // secret, same server and CA): a stale token, not a field taken by another manager.
    let (server, ca) = server_in(lab, "lab-2", "east");
    let kc = mesh_core::manifests::remote_secret::kubeconfig("east", &server, &ca, stale.trim());
    let secret = mesh_core::manifests::as_data(mesh_core::manifests::remote_secret::remote_secret(
        "east", &kc,
    ));
    let file = w.join("stale-remote-secret.json");
    std::fs::write(&file, serde_json::to_vec(&secret).unwrap()).unwrap();
    ok(lab
        .kubectl("lab-2")
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            mesh_core::cluster::JOIN_FIELD_MANAGER,
            "-f",
        ])
        .arg(&file)
        .output()
        .unwrap());
    assert_eq!(
        embedded(lab, "lab-2", "east"),
        stale.trim(),
        "the fault landed"
    );
    let o = ok(run(JOIN, lab, w, rotate));
    assert!(
        stderr(&o).contains(&format!("east: revoked istio-system/{NEW}")),
        "{}",
        text(&o)
    );
    let renewed = embedded(lab, "lab-2", "east");
    let c = claims(&renewed);
    assert_eq!(c["kubernetes.io"]["secret"]["name"], GEN2, "{c:#}");
    assert_eq!(
        c["kubernetes.io"]["secret"]["uid"],
        anchor_uid(lab, "lab-1", GEN2).as_str()
    );
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    ok(reads_pods(lab, "lab-1", &renewed));
    eventually(
        30,
        "east's token bound to the deleted anchor is refused",
        || stderr(&reads_pods(lab, "lab-1", &bound[0])).contains("Unauthorized"),
    );
    assert_eq!(
        embedded(lab, "lab-1", "west"),
        bound[1],
        "west's was fresh: untouched"
    );
    ok(reads_pods(lab, "lab-2", &bound[1]));
    let marks = audit::marks(lab);
    let o = ok(join_mesh(JOIN, lab, w));
    assert_eq!(
        writes(lab, &marks),
        vec![Vec::<String>::new(); 2],
        "{}",
        text(&o)
    );
    assert_eq!(embedded(lab, "lab-2", "east"), renewed);
}

/// The server and CA (base64) in `reader`'s remote secret for `source`.
fn server_in(lab: &Lab, reader: &str, source: &str) -> (String, String) {
    let s = kubectl_json(
        lab,
        reader,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{source}"),
            "-n",
            "istio-system",
        ],
    )
    .unwrap();
    let kc = base64::engine::general_purpose::STANDARD
        .decode(s["data"][source].as_str().unwrap())
        .unwrap();
    let v: Value = yaml_serde::from_slice(&kc).unwrap();
    let cluster = &v["clusters"][0]["cluster"];
    let field = |k: &str| cluster[k].as_str().unwrap().to_string();
    (field("server"), field("certificate-authority-data"))
}

/// `mesh-join --token-ttl 10m` on fresh clusters: no long-lived token Secret is ever made;
/// each remote secret embeds a 10-minute token bound to the generation-0 anchor, which keeps
/// the mode (its annotation); a plain join and a plain rotation then change nothing; a join
/// asking another lifetime is refused naming the mode the cluster has, nothing written; and
/// `rotate-credentials --token-ttl 0` goes back to a long-lived token Secret, deleting the
/// anchor, after which the API server refuses the bound tokens.
///
/// Starts from clusters without a mesh (the caller asserts their footprint).
pub fn a_join_with_token_ttl_starts_short_lived_and_a_rotation_can_leave_that_mode(
    lab: &Lab,
    w: &Path,
) {
    joined_with_istiods_using(lab, w, &["--token-ttl", "10m"]);
    let mut bound = Vec::new();
    for (reader, source, ctx) in [("lab-2", "east", "lab-1"), ("lab-1", "west", "lab-2")] {
        let t = embedded(lab, reader, source);
        let c = claims(&t);
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
        assert_eq!(c["kubernetes.io"]["secret"]["name"], OLD, "{c:#}");
        assert_eq!(
            c["kubernetes.io"]["secret"]["uid"],
            anchor_uid(lab, ctx, OLD).as_str()
        );
        let a = kubectl_json(lab, ctx, &["get", "secret", OLD, "-n", "istio-system"]).unwrap();
        assert_eq!(
            a["metadata"]["annotations"]["kubectl-mesh.io/token-ttl"],
            "600"
        );
        ok(reads_pods(lab, ctx, &t));
        bound.push(t);
    }
    let marks = audit::marks(lab);
    ok(join_mesh(JOIN, lab, w));
    let refused = run(
        JOIN,
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--token-ttl", "1h"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let e = stderr(&refused);
    assert!(
        e.contains("--token-ttl: cluster '")
            && e.contains("short-lived reader tokens (10m each")
            && e.contains("rotate-credentials"),
        "{e}"
    );
    let mut rotate = vec!["rotate-credentials", "-f", "mesh.yaml"];
    let o = ok(run(JOIN, lab, w, &rotate));
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(writes(lab, &marks), vec![Vec::<String>::new(); 2]);

    rotate.extend(["--token-ttl", "0"]);
    let o = ok(run(JOIN, lab, w, &rotate));
    for (i, (reader, source, ctx)) in [("lab-2", "east", "lab-1"), ("lab-1", "west", "lab-2")]
        .into_iter()
        .enumerate()
    {
        let long_lived = token(lab, ctx, NEW).unwrap();
        assert_eq!(embedded(lab, reader, source), long_lived, "{}", text(&o));
        assert!(claims(&long_lived).get("exp").is_none());
        assert!(
            kubectl_json(lab, ctx, &["get", "secret", OLD, "-n", "istio-system"]).is_none(),
            "the anchor is deleted"
        );
        eventually(30, "a token bound to the deleted anchor is refused", || {
            stderr(&reads_pods(lab, ctx, &bound[i])).contains("Unauthorized")
        });
    }
}
