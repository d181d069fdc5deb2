//! Every check id has a section in docs/checks.md, and every section names a real check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn every_check_is_documented_and_every_section_is_a_check() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/checks.md")).unwrap();
    let sections: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    for c in mesh_core::checks::CHECKS {
        assert!(
            sections.contains(&c.id),
            "docs/checks.md has no section '### {}'",
            c.id
        );
        assert!(c.docs().starts_with("docs/checks.md#"), "{}", c.docs());
    }
    for s in &sections {
        assert!(
            mesh_core::checks::info(s).is_some(),
            "docs/checks.md documents '{s}', which is no check"
        );
    }
    assert!(docs.contains(mesh_core::checks::SCHEMA_VERSION));
}
