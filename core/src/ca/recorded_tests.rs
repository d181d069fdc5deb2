//! Recorded CA settings: the pure decisions, and `create` writing and honouring the record.

use super::*;
use crate::ca::create::{CreateOptions, create};
use crate::names::ClusterName;

fn acme() -> CaSettings {
    CaSettings {
        key_type: KeyType::EcdsaP256,
        root_days: 1000,
        intermediate_days: 400,
        organization: "Acme Mesh".into(),
        extra_sans: vec!["istiod.acme.example".into(), "10.1.2.3".into()],
    }
}

fn recorded_acme() -> Recorded {
    Recorded {
        settings: acme(),
        origin: Origin::File(PathBuf::from("certs/ca-settings.yaml")),
    }
}

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 09:00 UTC)
}

fn create_opts(dir: &CertDir, clusters: &[&str], flags: SettingsFlags) -> CreateOptions {
    CreateOptions {
        settings: flags,
        ..crate::test_support::create_options(dir, clusters)
    }
}

fn acme_flags() -> SettingsFlags {
    let a = acme();
    SettingsFlags {
        key_type: Some(a.key_type),
        root_days: Some(a.root_days),
        intermediate_days: Some(a.intermediate_days),
        organization: Some(a.organization),
        extra_sans: a.extra_sans,
    }
}

#[test]
fn flags_not_given_take_the_recorded_values() {
    let none = SettingsFlags::default();
    assert!(none.differences(&acme()).is_empty());
    assert_eq!(
        reconcile(&none, &recorded_acme(), false, "x").unwrap(),
        acme()
    );
    // The same values given again are no contradiction, SANs in any order.
    let mut same = acme_flags();
    same.extra_sans.reverse();
    assert!(same.differences(&acme()).is_empty());
}

#[test]
fn contradicting_flags_are_refused_with_given_and_recorded_values() {
    let flags = SettingsFlags {
        key_type: Some(KeyType::Rsa2048),
        intermediate_days: Some(400),
        organization: Some("Istio".into()),
        extra_sans: vec!["other.example".into()],
        ..SettingsFlags::default()
    };
    let diffs: Vec<String> = flags
        .differences(&acme())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        diffs,
        [
            "--key-type: given rsa-2048, recorded ecdsa-p256",
            "--org: given 'Istio', recorded 'Acme Mesh'",
            "--san: given 'other.example', recorded 'istiod.acme.example', '10.1.2.3'",
        ]
    );
    let err = reconcile(&flags, &recorded_acme(), false, "what force does").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the flags contradict the CA settings recorded in certs/ca-settings.yaml:"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  --org: given 'Istio', recorded 'Acme Mesh'"),
        "{text}"
    );
    let hint = crate::hint::Hinted::hint(&err).unwrap();
    assert!(
        hint.contains("--force replaces them (what force does)"),
        "{hint}"
    );
}

#[test]
fn force_lets_the_flags_win_and_keeps_the_rest_recorded() {
    let flags = SettingsFlags {
        organization: Some("Other".into()),
        ..SettingsFlags::default()
    };
    let got = reconcile(&flags, &recorded_acme(), true, "x").unwrap();
    assert_eq!(
        got,
        CaSettings {
            organization: "Other".into(),
            ..acme()
        }
    );
}

#[test]
fn create_records_the_settings_and_they_read_back_from_file_and_from_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = CertDir::new(tmp.path());
    create(&create_opts(&dir, &["east"], acme_flags()), now()).unwrap();
    let rec = read(&dir).unwrap().unwrap();
    assert_eq!(rec.settings, acme());
    assert_eq!(rec.origin, Origin::File(settings_path(&dir)));
    // A directory from before the settings file: the same settings, read from the certificates.
    std::fs::remove_file(settings_path(&dir)).unwrap();
    let derived = read(&dir).unwrap().unwrap();
    assert_eq!(derived.settings, acme());
    assert_eq!(derived.origin, Origin::Derived(tmp.path().to_path_buf()));
    assert!(
        derived
            .origin
            .to_string()
            .contains("has no ca-settings.yaml")
    );
}

#[test]
fn create_adding_a_cluster_issues_it_with_the_recorded_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = CertDir::new(tmp.path());
    create(&create_opts(&dir, &["east"], acme_flags()), now()).unwrap();
    // No flags: west gets the recorded organisation, SANs, key type and lifetime.
    let report = create(
        &create_opts(&dir, &["east", "west"], SettingsFlags::default()),
        now(),
    )
    .unwrap();
    assert_eq!(
        report.clusters[1].action,
        crate::ca::create::Action::Created
    );
    let path = dir.cluster_file(&ClusterName::parse("west").unwrap(), "ca-cert.pem");
    let der = single_certificate(&path, &read_text(&path).unwrap()).unwrap();
    let info = describe(&der, now()).unwrap();
    assert!(info.subject.contains("O=Acme Mesh"), "{}", info.subject);
    assert_eq!(
        info.sans,
        [
            "DNS:istiod.istio-system.svc",
            "DNS:istiod.acme.example",
            "IP:10.1.2.3"
        ]
    );
    assert_eq!(info.key, "ECDSA P-256");
    assert_eq!(lifetime_days(&der), Some(400));
}

#[test]
fn create_refuses_flags_that_contradict_an_existing_root_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = CertDir::new(tmp.path());
    create(&create_opts(&dir, &["east"], acme_flags()), now()).unwrap();
    let flags = SettingsFlags {
        organization: Some("Istio".into()),
        ..SettingsFlags::default()
    };
    let err = create(&create_opts(&dir, &["east", "west"], flags), now()).unwrap_err();
    assert!(
        err.to_string()
            .contains("--org: given 'Istio', recorded 'Acme Mesh'"),
        "{err}"
    );
    assert!(
        !dir.cluster_dir(&ClusterName::parse("west").unwrap())
            .exists()
    );
    // Positive control: the same command without the contradicting flag adds west.
    create(
        &create_opts(&dir, &["east", "west"], SettingsFlags::default()),
        now(),
    )
    .unwrap();
    assert!(
        dir.cluster_dir(&ClusterName::parse("west").unwrap())
            .exists()
    );
}

#[test]
fn a_settings_file_that_does_not_parse_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = CertDir::new(tmp.path());
    std::fs::write(settings_path(&dir), "organization: [not, a, string]\n").unwrap();
    let err = read(&dir).unwrap_err();
    assert!(err.to_string().contains("ca-settings.yaml"), "{err}");
    assert!(matches!(err, CaError::BadSettings { .. }));
}
