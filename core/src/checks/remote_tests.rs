//! `remote.kubeconfig` as the gate decides it: a refused kubeconfig fails naming its key paths
//! and nothing after it is judged from it; an insecure one warns; a clean one passes.

use super::*;
use crate::checks::{Outcome, Selection};
use crate::kubeconfig_gate::admit;
use crate::manifests::remote_secret::kubeconfig;

fn facts(user: &str, insecure: bool) -> PairFacts {
    let mut text = kubeconfig("east", "https://10.0.0.1:6443", "Q0E=", "tok");
    text = text.replace("token: tok", user);
    if insecure {
        text = text.replace(
            "certificate-authority-data: Q0E=",
            "insecure-skip-tls-verify: true",
        );
    }
    let mut p = PairFacts {
        reader: "west".into(),
        source: "east".into(),
        secret: Some("istio-remote-secret-east".into()),
        ..Default::default()
    };
    match admit(&text) {
        Ok(a) => p.admitted = Some(a),
        Err(r) => p.refused = Some(r),
    }
    p
}

fn results(p: &PairFacts) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let sel = Selection::new(time::OffsetDateTime::UNIX_EPOCH);
    evaluate(&[], &[], std::slice::from_ref(p), &sel, &mut out);
    out
}

fn of(out: &[CheckResult], id: CheckId) -> &CheckResult {
    out.iter()
        .find(|c| c.id == id)
        .expect("the check is reported")
}

#[test]
fn a_refused_kubeconfig_fails_naming_the_key_and_nothing_is_judged_from_it() {
    for (user, path) in [
        ("exec: {command: /bin/sh}", "users[0].user.exec"),
        (
            "tokenFile: /var/run/secrets/token",
            "users[0].user.tokenFile",
        ),
        (
            "{client-certificate: /c, client-key: /k}",
            "users[0].user.client-certificate",
        ),
        ("auth-provider: {name: oidc}", "users[0].user.auth-provider"),
    ] {
        let p = facts(user, false);
        assert!(p.refused.is_some(), "{user}: the fault must land");
        let out = results(&p);
        let k = of(&out, CheckId::RemoteKubeconfig);
        assert_eq!(k.result, Outcome::Fail, "{user}");
        assert!(k.message.contains(path), "{user}: {}", k.message);
        assert!(k.message.contains("never used"), "{}", k.message);
        assert!(!k.message.contains("/bin/sh") && !k.message.contains("/var/run"));
        for id in [
            CheckId::RemoteServerAddress,
            CheckId::RemoteCredentials,
            CheckId::RemoteCredentialExpiry,
        ] {
            assert_eq!(of(&out, id).result, Outcome::Skip, "{id:?}");
        }
    }
}

#[test]
fn an_insecure_kubeconfig_warns_and_a_clean_one_passes() {
    let out = results(&facts("token: tok", true));
    let k = of(&out, CheckId::RemoteKubeconfig);
    assert_eq!(k.result, Outcome::Warn);
    assert!(
        k.message.contains("istio-system/istio-remote-secret-east"),
        "{}",
        k.message
    );
    assert!(
        k.message.contains("insecure-skip-tls-verify"),
        "{}",
        k.message
    );
    // Positive control for the whole pair: a clean kubeconfig passes and the server is judged.
    let out = results(&facts("token: tok", false));
    assert_eq!(of(&out, CheckId::RemoteKubeconfig).result, Outcome::Pass);
    let address = of(&out, CheckId::RemoteServerAddress);
    assert!(
        address.message.contains("https://10.0.0.1:6443"),
        "{}",
        address.message
    );
}
