//! `create` over an existing directory: a cluster set past its validity is kept (rotation
//! replaces it), one istiod could not load is refused.

use super::*;

fn opts(dir: &CertDir) -> CreateOptions {
    crate::test_support::create_options(dir, &["east"])
}

fn day(n: i64) -> OffsetDateTime {
    time::macros::datetime!(2026-11-25 09:00 UTC) + time::Duration::days(n)
}

#[test]
fn an_expired_or_not_yet_valid_set_is_kept_and_a_broken_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = CertDir::new(tmp.path());
    create(&opts(&dir), day(0)).unwrap();
    // Ten years on every certificate has expired; the set is sound and kept as it is.
    for when in [day(3650), day(-30)] {
        let report = create(&opts(&dir), when).unwrap();
        assert!(
            matches!(report.clusters[0].action, Action::Unchanged),
            "{:?}",
            report.clusters[0].action
        );
    }
    // Positive control: a key that does not match its certificate is refused, naming it.
    let other = tempfile::tempdir().unwrap();
    let other_dir = CertDir::new(other.path());
    create(&opts(&other_dir), day(0)).unwrap();
    let key = "ca-key.pem";
    std::fs::copy(
        other_dir.cluster_file(&opts(&dir).clusters[0], key),
        dir.cluster_file(&opts(&dir).clusters[0], key),
    )
    .unwrap();
    let err = create(&opts(&dir), day(0)).unwrap_err();
    assert!(
        matches!(err, CaError::BadPem { .. }) && err.to_string().contains("--force"),
        "{err}"
    );
}
