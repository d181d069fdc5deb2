use super::*;
use crate::names::ClusterName;
use serde_json::json;

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 09:00 UTC)
}

/// A root and east's intermediate under it, in a fresh directory.
fn mesh(tmp: &Path) -> (RootCert, Bundle) {
    let dir = crate::test_support::cert_dir(tmp, &["east"], now());
    let east = ClusterName::parse("east").unwrap();
    (
        RootCert::read(&dir.root_cert()).unwrap(),
        Bundle::read_local(&dir, &east).unwrap(),
    )
}

struct Two {
    old: RootCert,
    new: RootCert,
    old_int: Bundle,
    new_int: Bundle,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn two() -> Two {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old, old_int) = mesh(a.path());
    let (new, new_int) = mesh(b.path());
    Two {
        old,
        new,
        old_int,
        new_int,
        _dirs: (a, b),
    }
}

fn at(t: &Two, stage: Stage) -> Bundle {
    let trusted = trusted_at(stage, &t.old, &t.new);
    let (int, signer) = match stage {
        Stage::Prepare | Stage::TrustBoth => (&t.old_int, &t.old),
        Stage::Reissue | Stage::Finish => (&t.new_int, &t.new),
    };
    compose(
        int.get("ca-cert.pem").unwrap(),
        int.get("ca-key.pem").unwrap(),
        signer,
        &trusted,
    )
}

const PLACE: Place<'static> = Place {
    cluster: "east",
    context: "ctx-east",
};

#[test]
fn each_stage_of_the_bundle_is_recognised() {
    let t = two();
    assert_eq!(standing(None, &t.old, &t.new), Standing::Missing);
    // What create wrote is byte for byte the stage before the rotation.
    assert!(at(&t, Stage::Prepare).same_files(&t.old_int));
    for (stage, want) in [
        (Stage::Prepare, Standing::OldOnly),
        (Stage::TrustBoth, Standing::TrustBoth),
        (Stage::Reissue, Standing::Reissued),
        (Stage::Finish, Standing::Finished),
    ] {
        let b = at(&t, stage);
        assert_eq!(standing(Some(&b), &t.old, &t.new), want, "{stage:?}");
        assert_eq!(want.stage(), Some(stage));
        // root-cert.pem holds every trusted root, old first.
        let fps = b.root_fingerprints();
        let expected: Vec<String> = trusted_at(stage, &t.old, &t.new)
            .iter()
            .map(|r| r.sha256.clone())
            .collect();
        assert_eq!(fps, expected);
    }
    // Both roots, but the chain names the old root while the intermediate is the new one's.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let good = at(&t, Stage::Reissue);
    for k in CACERTS_KEYS {
        files.insert(k.into(), good.get(k).unwrap().to_vec());
    }
    files.insert("root-cert.pem".into(), t.old.pem.clone().into_bytes());
    let broken = Bundle::from_files("x", files.clone());
    assert!(matches!(
        standing(Some(&broken), &t.old, &t.new),
        Standing::Unreadable(why) if why.contains("does not chain")
    ));
    files.remove("ca-key.pem");
    assert_eq!(
        standing(Some(&Bundle::from_files("x", files)), &t.old, &t.new),
        Standing::Unreadable("it lacks ca-key.pem".into())
    );
    // A third root is foreign.
    let third = two();
    assert_eq!(
        standing(Some(&third.old_int), &t.old, &t.new),
        Standing::Foreign(vec![third.old.sha256.clone()])
    );
}

#[test]
fn a_stage_writes_only_where_the_previous_one_holds_and_never_goes_back() {
    use Standing::*;
    let j = |target, s: &Standing| judge(target, PLACE, s, false, true);
    // Forward by one: an update with a note.
    assert_eq!(j(Stage::TrustBoth, &OldOnly).unwrap().0, Op::Update);
    assert_eq!(j(Stage::Reissue, &TrustBoth).unwrap().0, Op::Update);
    assert_eq!(j(Stage::Finish, &Reissued).unwrap().0, Op::Update);
    // Already identical: nothing, whatever the standing.
    assert_eq!(
        judge(Stage::Reissue, PLACE, &Reissued, true, true),
        Ok((Op::Unchanged, None))
    );
    // Ahead of the stage: left alone, never rolled back.
    for (target, s) in [
        (Stage::TrustBoth, Reissued),
        (Stage::TrustBoth, Finished),
        (Stage::Reissue, Finished),
    ] {
        let (op, note) = j(target, &s).unwrap();
        assert_eq!(op, Op::Unchanged, "{target:?} {s:?}");
        assert!(note.unwrap().starts_with("already at"));
    }
    // Skipping a stage is refused, naming cluster, context and the stage to run.
    let r = j(Stage::Reissue, &OldOnly).unwrap_err();
    assert_eq!(
        r.message,
        "cluster 'east' (context ctx-east): istio-system/cacerts trusts only the old root"
    );
    assert_eq!(
        r.hint,
        "run kubectl mesh-certs rotate-root trust-both first"
    );
    for s in [OldOnly, TrustBoth] {
        let r = j(Stage::Finish, &s).unwrap_err();
        assert!(
            r.message.contains("signed by the old root"),
            "{}",
            r.message
        );
        assert!(r.hint.contains("rotate-root reissue"));
    }
    // Missing, unreadable, foreign: refused at every stage.
    for target in [Stage::TrustBoth, Stage::Reissue, Stage::Finish] {
        for s in [Missing, Unreadable("x".into()), Foreign(vec!["AB".into()])] {
            let r = j(target, &s).unwrap_err();
            assert!(r.message.starts_with("cluster 'east' (context ctx-east): "));
        }
    }
    // trust-both keeps the directory's intermediate: another one in the cluster is refused.
    let r = judge(Stage::TrustBoth, PLACE, &OldOnly, false, false).unwrap_err();
    assert!(
        r.hint
            .contains("apply --context ctx-east --cluster east --force")
    );
}

fn cm(ns: &str, pem: &str) -> Value {
    json!({"metadata": {"namespace": ns, "name": "istio-ca-root-cert"}, "data": {"root-cert.pem": pem}})
}

#[test]
fn the_bundle_counts_as_spread_only_when_every_configmap_carries_it() {
    let t = two();
    let both = format!("{}{}", t.old.pem, t.new.pem);
    let want = vec![t.old.sha256.clone(), t.new.sha256.clone()];
    assert_eq!(spread(&[], &want), Spread::NoConfigMaps);
    let all = [cm("default", &both), cm("kube-system", &both)];
    assert_eq!(spread(&all, &want), Spread::Everywhere { total: 2 });
    assert_eq!(spread_refusal(PLACE, &spread(&all, &want)), None);
    let partial = [cm("default", &both), cm("app", &t.old.pem)];
    let s = spread(&partial, &want);
    assert_eq!(
        s,
        Spread::Pending {
            total: 2,
            stale: vec!["app".into()]
        }
    );
    let r = spread_refusal(PLACE, &s).unwrap();
    assert!(
        r.message.contains(
            "1/2 istio-ca-root-cert ConfigMaps carry the bundle; not yet in namespaces app"
        ),
        "{}",
        r.message
    );
    assert!(r.hint.contains("ISTIO_MULTIROOT_MESH=true"));
    // No ConfigMap at all is no evidence: refused with the reason.
    let r = spread_refusal(PLACE, &Spread::NoConfigMaps).unwrap();
    assert!(
        r.message.contains("no istiod distributes the trust bundle"),
        "{}",
        r.message
    );
    // The order matters as istiod copies root-cert.pem as it is.
    let reversed = [cm("default", &format!("{}{}", t.new.pem, t.old.pem))];
    assert!(matches!(spread(&reversed, &want), Spread::Pending { .. }));
}

#[test]
fn finish_waits_for_workload_certificates_to_renew() {
    let day = std::time::Duration::from_secs(86_400);
    let reissued = now();
    assert_eq!(renewal_left(None, day, now()), None);
    assert_eq!(
        renewal_left(Some(reissued), day, now() + time::Duration::hours(1)),
        Some(time::Duration::hours(23))
    );
    assert_eq!(
        renewal_left(Some(reissued), day, now() + time::Duration::hours(24)),
        None
    );
    assert_eq!(
        renewal_left(Some(reissued), std::time::Duration::ZERO, now()),
        None
    );
}
