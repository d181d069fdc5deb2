//! What each Istio version can do, in one table (pure). Join, `rotate-credentials` and verify
//! ask here instead of comparing version numbers of their own.
//!
//! | gate | from | source |
//! |---|---|---|
//! | supported upstream (as of 2026-12) | 1.30, 1.31 | istio.io support announcements |
//! | rotated remote secret taken in place | 1.30.4, 1.31.0 | istio/istio#60612, #60920, #61043 |
//! | ambient multicluster | 1.31.1 | istio/istio ambient multicluster (beta) |
//! | the reader role lists `configmaps` | 1.29.0 | istio-reader clusterrole, manifests/charts |
//!
//! Which versions an installer installs is not in this table: the served `Istio` CRD's
//! `spec.version` enum says it for the Sail operator ([`installable`]).

use crate::istio_version::parse;

/// `MAJOR.MINOR.PATCH` (a version without a patch counts as `.0`).
pub type Version = (u64, u64, u64);

/// The minors upstream supports as of [`SUPPORT_AS_OF`]; older ones are end-of-life.
pub const SUPPORTED_MINORS: [(u64, u64); 2] = [(1, 30), (1, 31)];

/// [`SUPPORTED_MINORS`] as text: `1.30, 1.31`.
pub fn supported_minors() -> String {
    let minors: Vec<String> = SUPPORTED_MINORS
        .iter()
        .map(|(a, b)| format!("{a}.{b}"))
        .collect();
    minors.join(", ")
}

/// When [`SUPPORTED_MINORS`] was last checked.
pub const SUPPORT_AS_OF: &str = "2026-12";

/// `v1.30.3` → `(1, 30, 3)`; `v1.31-latest` → `(1, 31, 0)`.
pub fn version(v: &str) -> Option<Version> {
    parse(v).map(|(a, b, c)| (a, b, c.unwrap_or(0)))
}

/// An end-of-life minor (older than every supported one).
pub fn end_of_life(v: Version) -> bool {
    (v.0, v.1) < SUPPORTED_MINORS[0]
}

/// istiod takes a rotated remote secret in place (no restart needed): 1.30.4+ or 1.31+.
pub fn in_place_rotation(v: Version) -> bool {
    v >= (1, 31, 0) || (v.0 == 1 && v.1 == 30 && v.2 >= 4)
}

/// The first version per minor that takes a rotated remote secret in place, for messages.
pub const IN_PLACE_ROTATION_FROM: &str = "1.30.4 (1.31.0 on 1.31)";

/// Ambient multicluster works (1.31.1+).
pub fn ambient_multicluster(v: Version) -> bool {
    v >= (1, 31, 1)
}

/// The reader ClusterRole of this version grants `configmaps` (1.29+): a newer istiod reading
/// through an older reader role is refused `configmaps "istio"` and stays syncing.
pub fn reader_lists_configmaps(v: Version) -> bool {
    v >= (1, 29, 0)
}

/// The versions an operator installs, from the `spec.version` field of its `Istio` CRD's
/// schema. The enum keeps end-of-life versions as valid input (Sail: "they will stay valid
/// input values … though"), which the operator then refuses to install; the field's
/// description lists only the installable ones ("Must be one of: v1.30-latest, v1.30.3, …."),
/// so it is preferred where it names versions of the enum.
pub fn installable_in(field: &serde_json::Value) -> Vec<String> {
    let listed: Vec<String> = field["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    let described: Vec<String> = field["description"]
        .as_str()
        .and_then(|d| d.split_once("Must be one of: "))
        .map(|(_, rest)| {
            let sentence = rest.split_once(".\n").map_or(rest, |(s, _)| s);
            sentence
                .trim()
                .trim_end_matches('.')
                .split(", ")
                .filter(|v| listed.iter().any(|l| l == v))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if described.is_empty() {
        listed
    } else {
        described
    }
}

/// The newest concrete version in a served list (`v1.30.3` over `v1.30-latest`, which names
/// no patch); `None` for an empty list.
pub fn newest(served: &[String]) -> Option<&str> {
    served
        .iter()
        .filter(|v| !v.ends_with("-latest"))
        .filter_map(|v| Some((version(v)?, v.as_str())))
        .max()
        .map(|(_, v)| v)
}

/// The versions every list serves, in the first list's order.
pub fn common(lists: &[Vec<String>]) -> Vec<String> {
    let Some((first, rest)) = lists.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|v| rest.iter().all(|l| l.contains(v)))
        .cloned()
        .collect()
}

/// Whether `wanted` is one of the `served` versions; the refusal names the supported ones.
pub fn installable(wanted: &str, served: &[String]) -> Result<(), String> {
    if served.iter().any(|v| v == wanted) {
        return Ok(());
    }
    let eol = version(wanted).is_some_and(end_of_life);
    Err(format!(
        "{wanted} is not a version the operator installs{}; of the supported versions it installs {}",
        if eol { " (an end-of-life minor)" } else { "" },
        supported_of(served).join(", ")
    ))
}

/// The served versions of supported minors, newest first (all of them when none is supported).
pub fn supported_of(served: &[String]) -> Vec<String> {
    let mut listed: Vec<(Version, String)> = served
        .iter()
        .filter_map(|v| Some((version(v)?, v.clone())))
        .collect();
    listed.sort_by(|a, b| b.cmp(a));
    let supported: Vec<String> = listed
        .iter()
        .filter(|(v, _)| !end_of_life(*v))
        .map(|(_, s)| s.clone())
        .collect();
    if supported.is_empty() {
        listed.into_iter().map(|(_, s)| s).collect()
    } else {
        supported
    }
}

/// The warning for an end-of-life `wanted` version, if it is one.
pub fn end_of_life_warning(wanted: &str) -> Option<String> {
    let v = version(wanted)?;
    end_of_life(v).then(|| {
        format!(
            "istio.version {wanted}: Istio {}.{} is end-of-life (supported as of {SUPPORT_AS_OF}: {}); it gets no security fixes — plan an upgrade",
            v.0,
            v.1,
            supported_minors()
        )
    })
}

#[cfg(test)]
#[path = "version_gates_tests.rs"]
mod tests;
