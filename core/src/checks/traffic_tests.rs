//! The traffic check's pure parts: tallying, judging, the exec's outcome, the manifests.

use super::*;

#[test]
fn tallies_and_judges_the_matrix() {
    let out = "Hello version: v1, instance: helloworld-v1-abc\nHello version: v2, instance: helloworld-v2-def\n\nHello version: v1, instance: x\n";
    let t = answers(out, "");
    assert_eq!(t.versions.get("v1"), Some(&2));
    assert_eq!(t.versions.get("v2"), Some(&1));
    let clusters = vec!["east".to_string(), "west".to_string()];
    let mut m = BTreeMap::new();
    m.insert("east".to_string(), Ok(t));
    m.insert(
        "west".to_string(),
        Ok(answers(
            "Hello version: v2, instance: y\n",
            "\ncurl: (28) Connection timed out after 5001 milliseconds\n",
        )),
    );
    let mut r = Vec::new();
    judge(&clusters, &m, 3, &mut r);
    assert_eq!(r[0].result, crate::checks::Outcome::Pass, "{r:?}");
    assert!(!r[0].message.contains("curl said"), "{}", r[0].message);
    assert_eq!(r[1].result, crate::checks::Outcome::Fail);
    assert!(
        r[1].message.contains("never answered by v1 (east)")
            && r[1]
                .message
                .contains("curl said: curl: (28) Connection timed out"),
        "{}",
        r[1].message
    );
}

#[test]
fn an_exec_that_did_not_run_is_not_a_lack_of_answers() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
    let sent = |o: &str| Sent {
        stdout: o.to_string(),
        stderr: String::new(),
    };
    let failed = Status {
        status: Some("Failure".into()),
        message: Some("container not found".into()),
        ..Status::default()
    };
    let e = exec_outcome("ns", "curl-1", Some(failed), sent("")).unwrap_err();
    assert!(matches!(e, NoAnswers::NotSent(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("not sent") && text.contains("container not found"),
        "{text}"
    );
    let e = exec_outcome("ns", "curl-1", None, sent("\n")).unwrap_err();
    assert!(
        matches!(&e, NoAnswers::NotSent(m) if m.contains("without a status or any output")),
        "{e:?}"
    );
    let ok = Status {
        status: Some("Success".into()),
        ..Status::default()
    };
    assert!(exec_outcome("ns", "curl-1", Some(ok), sent("")).is_ok());
    assert!(exec_outcome("ns", "curl-1", None, sent("Hello version: v1, i: x")).is_ok());
}

#[test]
fn each_reason_for_no_answers_has_its_own_hint() {
    let clusters = vec!["east".to_string(), "west".to_string()];
    let mut m = BTreeMap::new();
    m.insert(
        "east".to_string(),
        Err(NoAnswers::NotSent("exec into ns/curl-1: 502".into())),
    );
    // A workload message that mentions sending is still about the workloads.
    m.insert(
        "west".to_string(),
        Err(NoAnswers::Workloads(
            "the requests were not sent: pods not Ready".into(),
        )),
    );
    let mut r = Vec::new();
    judge(&clusters, &m, 3, &mut r);
    assert!(
        r[0].message.starts_with("the requests were not sent: exec"),
        "{}",
        r[0].message
    );
    assert!(r[0].hint.contains("kubelet"), "{r:?}");
    assert!(r[1].hint.contains("kubectl get pods"), "{r:?}");
}

#[test]
fn manifests_follow_the_samples() {
    let m = manifests(&TrafficOptions::default(), 1);
    assert_eq!(m[0]["metadata"]["labels"]["istio-injection"], "enabled");
    assert_eq!(m[2]["metadata"]["name"], "helloworld-v2");
    let hello = &m[2]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(hello["image"], HELLOWORLD_IMAGE);
    assert_eq!(
        hello["env"][0],
        json!({"name": "SERVICE_VERSION", "value": "v2"})
    );
    // A fifth cluster: no v5 image exists upstream; the v1 image answers as v5.
    let m = manifests(&TrafficOptions::default(), 4);
    let hello = &m[2]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(hello["image"], HELLOWORLD_IMAGE);
    assert_eq!(hello["env"][0]["value"], "v5");
    assert_eq!(
        m[4]["spec"]["template"]["spec"]["containers"][0]["command"][1],
        "infinity"
    );
}
