use super::*;
use crate::checks::Outcome;
use crate::checks::remote::Access;

fn pair(configmaps: bool, create_secrets: bool) -> PairFacts {
    PairFacts {
        reader: "east".into(),
        source: "west".into(),
        auth: Some(Ok(Access {
            username: "system:serviceaccount:istio-system:istio-reader-service-account".into(),
            list_services: true,
            list_endpointslices: true,
            list_configmaps: configmaps,
            create_secrets,
        })),
        ..PairFacts::default()
    }
}

#[test]
fn an_istiod_from_1_29_needs_configmaps_and_the_cause_is_named() {
    let r = judge(&pair(false, false), Some("v1.31.0"), "recreate");
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message
            .contains("east's istiod (v1.31.0) reads configmaps in west")
            && r.message.contains("configmaps \"istio\" is forbidden"),
        "{}",
        r.message
    );
    assert!(r.hint.contains("predates 1.29"), "{}", r.hint);
    // Positive controls: the same reader passes for a 1.28 istiod, and with configmaps.
    assert_eq!(
        judge(&pair(false, false), Some("v1.28.1"), "r").result,
        Outcome::Pass
    );
    assert_eq!(
        judge(&pair(true, false), Some("v1.31.0"), "r").result,
        Outcome::Pass
    );
}

#[test]
fn more_than_a_reader_warns_and_an_unknown_version_asks_for_nothing_more() {
    let r = judge(&pair(true, true), Some("v1.30.3"), "r");
    assert_eq!(r.result, Outcome::Warn);
    assert_eq!(judge(&pair(false, false), None, "r").result, Outcome::Pass);
    let mut untried = pair(true, false);
    untried.auth = None;
    assert_eq!(judge(&untried, None, "r").result, Outcome::Fail);
}
