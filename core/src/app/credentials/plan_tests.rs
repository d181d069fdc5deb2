use super::*;
use std::path::Path;

fn mesh(text: &str) -> MeshSpec {
    MeshSpec::parse(text, Path::new("mesh.yaml")).unwrap()
}

const MULTI: &str = "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n  - {name: west, context: w, network: n1, role: primary}\n  - {name: north, context: n, network: n1, role: remote, primary: east}\n";

fn observed(
    record: TokenRecord,
    current: bool,
    previous: bool,
    r: &[(&str, Embedded)],
) -> Observed {
    Observed {
        source: "east".into(),
        record,
        current_exists: current,
        previous_exists: previous,
        readers: r.iter().map(|(n, e)| (n.to_string(), *e)).collect(),
    }
}

fn msg(e: Error) -> String {
    match e {
        Error::Input { message, .. } => message,
        other => other.to_string(),
    }
}

#[test]
fn every_read_cluster_is_a_source_and_its_readers_are_the_primaries_reading_it() {
    let m = mesh(MULTI);
    assert_eq!(
        sources(&m, "mesh.yaml", &[]).unwrap(),
        ["east", "west", "north"]
    );
    assert_eq!(
        sources(&m, "mesh.yaml", &["west".into()]).unwrap(),
        ["west"]
    );
    assert_eq!(readers_of(&m, "east"), ["west"]);
    assert_eq!(readers_of(&m, "north"), ["east"]);
    assert_eq!(readers_of(&m, "west"), ["east"]);
}

#[test]
fn an_unknown_cluster_and_a_mesh_without_remote_secrets_are_refused_by_name() {
    let m = mesh(MULTI);
    let e = msg(sources(&m, "mesh.yaml", &["south".into()]).unwrap_err());
    assert!(
        e.contains("mesh.yaml: --cluster south: no such cluster")
            && e.contains("east, west, north"),
        "{e}"
    );
    let single =
        mesh("meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n");
    let e = msg(sources(&single, "one.yaml", &[]).unwrap_err());
    assert!(e.contains("one.yaml: no cluster reads another one"), "{e}");
    // A primary that only reads (its remote's primary, nobody reads it) has no credential.
    let pr = mesh(
        "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n  - {name: west, context: w, network: n1, role: remote, primary: east}\n",
    );
    let e = msg(sources(&pr, "pr.yaml", &["east".into()]).unwrap_err());
    assert!(e.contains("no cluster reads east"), "{e}");
    assert_eq!(sources(&pr, "pr.yaml", &[]).unwrap(), ["west"]);
}

#[test]
fn a_first_rotation_mints_rewrites_waits_and_revokes_the_joins_token() {
    let o = observed(
        TokenRecord::initial(),
        true,
        false,
        &[("west", Embedded::Current), ("north", Embedded::Current)],
    );
    let p = plan_source(&o, false, None, "T").unwrap();
    assert!(p.start && p.mint);
    assert_eq!(p.record.generation, 1);
    assert_eq!(p.rewrite, ["west", "north"]);
    assert_eq!(p.wait, ["west", "north"]);
    assert_eq!(
        p.revoke.as_deref(),
        Some("istio-reader-service-account-istio-remote-secret-token")
    );
    let steps = describe(&p);
    let order: Vec<usize> = [
        "record the rotation to",
        "mint",
        "rewrite",
        "wait until",
        "revoke",
        "as finished",
    ]
    .iter()
    .map(|w| {
        steps
            .iter()
            .position(|s| s.contains(w))
            .unwrap_or_else(|| panic!("{w}: {steps:?}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
}

#[test]
fn an_interrupted_rotation_resumes_where_it_stopped() {
    let r1 = TokenRecord::initial().next("T0", None);
    // Killed after the record: the token is minted, nothing rewritten yet.
    let p = plan_source(
        &observed(r1.clone(), false, true, &[("west", Embedded::Other)]),
        false,
        None,
        "T1",
    )
    .unwrap();
    assert!(!p.start && p.mint);
    assert_eq!(p.record, r1, "the recorded rotation, not a new one");
    assert_eq!(p.rewrite, ["west"]);
    // Killed after west was rewritten: only the wait and the revocation are left.
    let o = observed(
        r1.clone(),
        true,
        true,
        &[("west", Embedded::Current), ("north", Embedded::Other)],
    );
    let p = plan_source(&o, true, None, "T1").unwrap();
    assert!(
        !p.start && !p.mint,
        "--again does not start another while one is in progress"
    );
    assert_eq!(p.rewrite, ["north"]);
    assert_eq!(
        p.wait,
        ["west", "north"],
        "every reader is watched before revoking"
    );
    assert_eq!(p.revoke, r1.previous);
    // Killed after the revocation: nothing left to delete, the record is finished.
    let p = plan_source(
        &observed(r1.clone(), true, false, &[("west", Embedded::Current)]),
        false,
        None,
        "T1",
    )
    .unwrap();
    assert!(p.revoke.is_none() && p.rewrite.is_empty() && !p.is_done());
    assert!(describe(&p).iter().any(|l| l.contains("as finished")));
}

#[test]
fn a_finished_rotation_is_not_repeated_unless_asked() {
    let done = TokenRecord::initial().next("T0", None).finish("T1");
    let o = observed(done.clone(), true, false, &[("west", Embedded::Current)]);
    let p = plan_source(&o, false, None, "T2").unwrap();
    assert!(p.is_done(), "{p:?}");
    assert!(describe(&p)[0].contains("nothing to do"));
    // Positive control: the same observation with --again starts generation 2.
    let p = plan_source(&o, true, None, "T2").unwrap();
    assert!(p.start && !p.is_done());
    assert_eq!(p.record.generation, 2);
    assert_eq!(p.revoke, Some(done.token.clone()));
    // A remote secret changed by someone since: put back on the current token, nothing revoked.
    let p = plan_source(
        &observed(done.clone(), true, false, &[("west", Embedded::Other)]),
        false,
        None,
        "T2",
    )
    .unwrap();
    assert!(!p.start && p.revoke.is_none() && !p.is_done());
    assert_eq!(p.rewrite, ["west"]);
    // The current token Secret deleted by someone: a new generation is minted.
    let p = plan_source(
        &observed(done, false, false, &[("west", Embedded::Current)]),
        false,
        None,
        "T2",
    )
    .unwrap();
    assert!(p.start && p.mint && p.revoke.is_none());
}

#[test]
fn a_reader_without_its_remote_secret_refuses_before_anything_is_written() {
    let o = observed(
        TokenRecord::initial(),
        true,
        false,
        &[("west", Embedded::Current), ("north", Embedded::Missing)],
    );
    let e = msg(plan_source(&o, false, None, "T").unwrap_err());
    assert!(
        e.contains("cluster 'north' has no remote secret for 'east'"),
        "{e}"
    );
}

#[test]
fn short_lived_tokens_start_a_rotation_keep_their_mode_and_renew_by_revoking_the_old_anchor() {
    let done = TokenRecord::initial().next("T0", None).finish("T1");
    let o = observed(done.clone(), true, false, &[("west", Embedded::Current)]);
    // --token-ttl on a finished long-lived rotation: a new generation, bound.
    let p = plan_source(&o, false, Some(600), "T2").unwrap();
    assert!(p.start && p.mint, "{p:?}");
    assert_eq!(p.record.ttl_seconds, Some(600));
    assert_eq!(
        p.revoke,
        Some(done.token.clone()),
        "the long-lived token is revoked"
    );
    let lines = describe(&p).join("\n");
    assert!(lines.contains("create anchor Secret"), "{lines}");
    assert!(lines.contains("mint a token valid for 10m"), "{lines}");
    // Without --token-ttl a bound record stays bound; finished and fresh: nothing to do.
    let bound = p.record.finish("T3");
    let o = observed(bound.clone(), true, false, &[("west", Embedded::Current)]);
    let p = plan_source(&o, false, None, "T4").unwrap();
    assert!(p.is_done(), "{p:?}");
    assert!(
        describe(&p)[0].contains("short-lived tokens of 10m"),
        "{:?}",
        describe(&p)
    );
    // The same with the same --token-ttl: still nothing (the mode did not change).
    assert!(plan_source(&o, false, Some(600), "T4").unwrap().is_done());
    // A token past half its life (observed as Other): renewed as the next generation, bound
    // with the same lifetime, the old anchor revoked.
    let o = observed(bound.clone(), true, false, &[("west", Embedded::Other)]);
    let p = plan_source(&o, false, None, "T4").unwrap();
    assert!(p.start && p.mint, "{p:?}");
    assert_eq!((p.record.generation, p.record.ttl_seconds), (3, Some(600)));
    assert_eq!(p.revoke, Some(bound.token.clone()));
    assert!(
        describe(&p)
            .iter()
            .any(|l| l.contains("mint a token valid for 10m"))
    );
    // --token-ttl 0: back to a long-lived token Secret, the anchor revoked.
    let o = observed(bound.clone(), true, false, &[("west", Embedded::Current)]);
    let p = plan_source(&o, false, Some(0), "T4").unwrap();
    assert!(p.start && p.record.ttl_seconds.is_none());
    assert_eq!(p.revoke, Some(bound.token));
    assert!(describe(&p).iter().any(|l| l.contains("mint token Secret")));
}

#[test]
fn the_joins_short_lived_tokens_are_kept_while_fresh_and_renewed_like_any_generation() {
    let joined = TokenRecord {
        ttl_seconds: Some(600),
        ..TokenRecord::initial()
    };
    let o = observed(joined.clone(), true, false, &[("west", Embedded::Current)]);
    let p = plan_source(&o, false, None, "T1").unwrap();
    assert!(p.is_done(), "{p:?}");
    let line = describe(&p).join("\n");
    assert!(line.contains("the join's generation 0"), "{line}");
    // A long-lived join token at generation 0 is rotated on the first run (positive control).
    let o = observed(
        TokenRecord::initial(),
        true,
        false,
        &[("west", Embedded::Current)],
    );
    assert!(plan_source(&o, false, None, "T1").unwrap().start);
    // Past half its life: renewed as generation 1, still short-lived, the anchor revoked.
    let o = observed(joined.clone(), true, false, &[("west", Embedded::Other)]);
    let p = plan_source(&o, false, None, "T1").unwrap();
    assert_eq!((p.record.generation, p.record.ttl_seconds), (1, Some(600)));
    assert_eq!(p.revoke, Some(joined.token));
}
