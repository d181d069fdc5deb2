use super::*;

/// The `spec.version` enum of Sail 1.30.3's `Istio` CRD (chart/crds/sailoperator.io_istios.yaml).
fn sail_1_30_3() -> Vec<String> {
    let mut v = vec!["v1.30-latest", "v1.30.3", "v1.30.2", "v1.30.1", "v1.30.0"];
    v.extend(["v1.29-latest", "v1.29.6", "v1.29.0", "v1.28-latest"]);
    v.extend(["v1.28.10", "v1.28.1", "v1.28.0"]);
    v.into_iter().map(String::from).collect()
}

#[test]
fn rotation_in_place_from_1_30_4_and_1_31_0() {
    assert!(!in_place_rotation((1, 30, 3)));
    assert!(in_place_rotation((1, 30, 4)));
    assert!(in_place_rotation((1, 31, 0)));
    assert!(!in_place_rotation((1, 29, 9)));
    assert!(in_place_rotation((2, 0, 0)));
}

#[test]
fn ambient_from_1_31_1_and_configmaps_from_1_29() {
    assert!(!ambient_multicluster((1, 31, 0)));
    assert!(ambient_multicluster((1, 31, 1)));
    assert!(!reader_lists_configmaps((1, 28, 10)));
    assert!(reader_lists_configmaps((1, 29, 0)));
}

#[test]
fn end_of_life_is_older_than_the_oldest_supported_minor() {
    assert!(end_of_life((1, 24, 1)));
    assert!(end_of_life((1, 29, 8)));
    assert!(!end_of_life((1, 30, 0)));
    assert!(!end_of_life((1, 31, 1)));
    let w = end_of_life_warning("v1.28.1").unwrap();
    assert!(
        w.contains("1.28 is end-of-life") && w.contains("1.30, 1.31"),
        "{w}"
    );
    assert_eq!(end_of_life_warning("v1.30.3"), None);
}

#[test]
fn a_version_the_operator_does_not_serve_is_refused_naming_the_supported_ones() {
    let served = sail_1_30_3();
    assert_eq!(installable("v1.30.3", &served), Ok(()));
    assert_eq!(
        installable("v1.28.1", &served),
        Ok(()),
        "served, though EOL"
    );
    let err = installable("v1.24.1", &served).unwrap_err();
    assert!(
        err.contains("v1.24.1") && err.contains("end-of-life"),
        "{err}"
    );
    assert!(
        err.ends_with(
            "of the supported versions it installs v1.30.3, v1.30.2, v1.30.1, v1.30.0, v1.30-latest"
        ),
        "{err}"
    );
    let err = installable("v1.31.1", &served).unwrap_err();
    assert!(!err.contains("end-of-life"), "{err}");
}

#[test]
fn the_newest_concrete_version_is_the_default_and_common_keeps_order() {
    assert_eq!(newest(&sail_1_30_3()), Some("v1.30.3"));
    assert_eq!(newest(&[]), None);
    let a = sail_1_30_3();
    let b: Vec<String> = a.iter().filter(|v| *v != "v1.30.3").cloned().collect();
    let both = common(&[a.clone(), b]);
    assert_eq!(newest(&both), Some("v1.30.2"));
    assert_eq!(common(std::slice::from_ref(&a)), a);
    assert!(common(&[]).is_empty());
}
