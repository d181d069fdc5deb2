use super::*;
use crate::app::watch::diff::changes;
use crate::checks::{Emit, Report};

fn change(before: Option<crate::checks::CheckResult>, after: crate::checks::CheckResult) -> Change {
    let b = before.map(|r| Report::new(vec![r]));
    changes(b.as_ref(), &Report::new(vec![after])).remove(0)
}

#[test]
fn each_check_names_the_object_it_is_about() {
    let of = |id, peer| {
        let r = subject(id, peer);
        (r.kind.unwrap(), r.namespace, r.name.unwrap())
    };
    assert_eq!(
        of(CheckId::TrustExpiry, None),
        (
            "Secret".into(),
            Some("istio-system".into()),
            "cacerts".into()
        )
    );
    assert_eq!(of(CheckId::TrustRootConfigmap, None).0, "ConfigMap");
    assert_eq!(
        of(CheckId::RemoteSecretPresent, Some("west")),
        (
            "Secret".into(),
            Some("istio-system".into()),
            "istio-remote-secret-west".into()
        )
    );
    assert_eq!(
        of(CheckId::ControlPlaneNetworkLabel, None),
        ("Namespace".into(), None, "istio-system".into())
    );
    assert_eq!(
        of(CheckId::IstiodRemoteClustersSynced, None).0,
        "Deployment"
    );
    assert_eq!(
        of(CheckId::NetworkEastwestService, None).2,
        "istio-eastwestgateway"
    );
}

#[test]
fn a_failure_is_a_warning_event_and_a_recovery_a_normal_one() {
    let pass = Emit::new(CheckId::TrustExpiry).pass(Some("east"), "valid");
    let fail = Emit::new(CheckId::TrustExpiry).fail(Some("east"), "expired", "rotate it");
    let e = event_for(&change(Some(pass.clone()), fail.clone())).unwrap();
    assert_eq!(e.type_, EventType::Warning);
    assert_eq!(e.reason, "CheckFailed");
    let note = e.note.unwrap();
    assert!(
        note.contains("trust.expiry [east]: expired") && note.contains("rotate it"),
        "{note}"
    );
    let e = event_for(&change(Some(fail), pass.clone())).unwrap();
    assert_eq!(
        (e.type_, e.reason.as_str()),
        (EventType::Normal, "CheckRecovered")
    );
    // A pass on the first evaluation records nothing; a warning on it does.
    assert!(event_for(&change(None, pass)).is_none());
    let warn = Emit::new(CheckId::TrustExpiry).warn(Some("east"), "5 days left", "rotate");
    assert_eq!(
        event_for(&change(None, warn)).unwrap().reason,
        "CheckWarning"
    );
}

#[test]
fn a_long_note_is_cut_to_what_the_api_takes() {
    let long = "é".repeat(900);
    let fail = Emit::new(CheckId::TrustExpiry).fail(Some("east"), long, "rotate");
    let e = event_for(&change(None, fail)).unwrap();
    let note = e.note.unwrap();
    assert!(
        note.len() <= 1000 && note.ends_with("..."),
        "{}",
        note.len()
    );
}

#[test]
fn two_checks_on_one_object_are_two_events() {
    let secret = |id| Emit::new(id).fail(Some("east"), "broken", "fix it");
    let mut present = secret(CheckId::RemoteSecretPresent);
    present.peer = Some("west".into());
    let mut credentials = secret(CheckId::RemoteCredentials);
    credentials.peer = Some("west".into());
    let (a, b) = (change(None, present), change(None, credentials));
    assert_eq!(
        subject(a.id, a.peer.as_deref()),
        subject(b.id, b.peer.as_deref())
    );
    let (ea, eb) = (event_for(&a).unwrap(), event_for(&b).unwrap());
    assert_eq!(ea.reason, eb.reason);
    assert_ne!(ea.action, eb.action, "the recorder's key differs");
}

#[test]
fn a_checks_cluster_name_leads_to_the_connection_it_was_read_through() {
    let recorders = BTreeMap::new();
    let aliases: BTreeMap<String, String> = [("east".to_string(), "in-cluster".to_string())].into();
    let sinks = Sinks {
        recorders: &recorders,
        aliases: &aliases,
        fallback: "in-cluster",
    };
    assert_eq!(sinks.target(Some("east")), "in-cluster");
    assert_eq!(sinks.target(None), "in-cluster");
    // Positive control: a name with no alias stays itself (a mesh file names connections so).
    assert_eq!(sinks.target(Some("west")), "west");
}
