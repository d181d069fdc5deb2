use super::*;
use crate::checks::Outcome;
use serde_json::json;

fn at(name: &str, version: &str) -> ClusterFacts {
    ClusterFacts {
        name: name.into(),
        istio: Some(json!({"spec": {"version": version}})),
        ..ClusterFacts::default()
    }
}

#[test]
fn the_mesh_files_version_is_compared_and_an_end_of_life_minor_warns() {
    let (east, west) = (at("east", "v1.30.3"), at("west", "v1.30.3"));
    let live = [&east, &west];
    assert_eq!(version_skew(&live, Some("v1.30.3")).result, Outcome::Pass);
    assert_eq!(version_skew(&live, None).result, Outcome::Pass);
    let r = version_skew(&live, Some("v1.30.2"));
    assert_eq!(r.result, Outcome::Warn);
    assert!(
        r.message.contains("istio.version v1.30.2") && r.message.contains("v1.30.3 in east, west"),
        "{}",
        r.message
    );
    let (old_east, old_west) = (at("east", "v1.28.1"), at("west", "v1.28.1"));
    let r = version_skew(&[&old_east, &old_west], Some("v1.28.1"));
    assert_eq!(r.result, Outcome::Warn);
    assert!(r.message.contains("end-of-life"), "{}", r.message);
    let r = version_skew(&[&east, &old_west], None);
    assert!(r.message.contains("Istio versions differ"), "{}", r.message);
}

#[test]
fn a_version_fits_the_files_when_its_minor_and_any_named_patch_agree() {
    // An installed dev build reads as v1.31 (no patch); the file's v1.31-latest is any 1.31.
    let (east, west) = (at("east", "v1.31"), at("west", "v1.31"));
    let live = [&east, &west];
    assert_eq!(
        version_skew(&live, Some("v1.31-latest")).result,
        Outcome::Pass
    );
    assert_eq!(version_skew(&live, Some("v1.31.2")).result, Outcome::Pass);
    let r = version_skew(&live, Some("v1.30-latest"));
    assert_eq!(r.result, Outcome::Warn, "another minor: {r:?}");
    let (patched, other) = (at("east", "v1.31.2"), at("west", "v1.31.3"));
    let r = version_skew(&[&patched, &other], Some("v1.31.2"));
    assert_eq!(
        r.result,
        Outcome::Warn,
        "west's patch differs from the file's: {r:?}"
    );
    assert!(r.message.contains("v1.31.3 in west"), "{}", r.message);
}
