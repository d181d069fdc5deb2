//! Control planes, mesh-wide: one meshID, consistent cluster names, one Istio minor version.

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member};
use std::collections::BTreeMap;

fn group<'a>(
    live: &[&'a ClusterFacts],
    value: impl Fn(&ClusterFacts) -> Option<String>,
) -> (BTreeMap<String, Vec<String>>, Vec<&'a str>) {
    let mut by = BTreeMap::<String, Vec<String>>::new();
    let mut unseen = Vec::new();
    for f in live {
        match value(f) {
            Some(v) => by.entry(v).or_default().push(f.name.clone()),
            None => unseen.push(f.name.as_str()),
        }
    }
    (by, unseen)
}

fn show(by: &BTreeMap<String, Vec<String>>) -> String {
    by.iter()
        .map(|(v, n)| format!("{v} in {}", n.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn evaluate(
    _members: &[Member],
    facts: &[ClusterFacts],
    (file_mesh_id, file_version): (Option<&str>, Option<&str>),
    out: &mut Vec<CheckResult>,
) {
    let live: Vec<&ClusterFacts> = facts.iter().filter(|f| f.error.is_none()).collect();
    out.push(mesh_id(&live, file_mesh_id));
    out.push(cluster_names(&live));
    out.push(version_skew(&live, file_version));
}

/// One meshID everywhere, and (with a mesh file) the file's.
fn mesh_id(live: &[&ClusterFacts], file: Option<&str>) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneMeshId);
    let (ids, unseen) = group(live, |f| f.global()["meshID"].as_str().map(String::from));
    if !unseen.is_empty() {
        return e.problem(
            None,
            format!(
                "no values.global.meshID observed in {} (no Istio/default, or no meshID)",
                unseen.join(", ")
            ),
            "kubectl mesh-join -f mesh.yaml sets values.global.meshID in every cluster",
        );
    }
    let disagree: BTreeMap<String, Vec<String>> = ids
        .iter()
        .filter(|(id, _)| file.is_some_and(|f| f != id.as_str()))
        .map(|(id, names)| (id.clone(), names.clone()))
        .collect();
    match ids.len() {
        0 => e.skip(None, "no cluster was read"),
        _ if !disagree.is_empty() => e.problem(
            None,
            format!(
                "the mesh file says meshID {}, the clusters have {}",
                file.unwrap_or_default(),
                show(&disagree)
            ),
            "a cluster's meshID is fixed when it joins: correct meshID in the mesh file, or leave and rejoin those clusters (kubectl mesh-join leave -f mesh.yaml, then kubectl mesh-join -f mesh.yaml)",
        ),
        1 if file.is_some() => e.pass(None, format!("meshID {} (as the mesh file says)", show(&ids))),
        1 => e.pass(None, format!("meshID {}", show(&ids))),
        _ => e.problem(
            None,
            format!("meshID differs: {}", show(&ids)),
            "every cluster of one mesh needs the same values.global.meshID: fix it in the mesh file and run kubectl mesh-join",
        ),
    }
}

fn cluster_names(live: &[&ClusterFacts]) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneClusterNames);
    let name = |f: &ClusterFacts| {
        f.global()["multiCluster"]["clusterName"]
            .as_str()
            .map(String::from)
    };
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in live {
        let Some(n) = name(f) else {
            problems.push(format!(
                "no values.global.multiCluster.clusterName observed in {}",
                f.name
            ));
            continue;
        };
        if let Some(other) = seen.insert(n.clone(), f.context.clone()) {
            problems.push(format!(
                "clusterName {n} is used in contexts {other} and {}",
                f.context
            ));
        }
        if n != f.name {
            problems.push(format!(
                "context {} runs clusterName {n}, but the mesh calls it {}",
                f.context, f.name
            ));
        }
    }
    for f in live {
        for key in f
            .remote_secrets
            .iter()
            .flat_map(|s| s["data"].as_object().into_iter().flatten().map(|(k, _)| k))
        {
            if let Some(target) = live.iter().find(|t| t.name == *key)
                && let Some(n) = name(target)
                && n != *key
            {
                problems.push(format!(
                    "{} reads cluster {key} but that cluster's clusterName is {n}",
                    f.name
                ));
            }
        }
    }
    if live.is_empty() {
        e.skip(None, "no cluster was read")
    } else if problems.is_empty() {
        e.pass(
            None,
            "cluster names are unique and match the remote-secret keys",
        )
    } else {
        e.problem(None, problems.join("; "), "the remote-secret key, clusterName and injection path must be one name (reference §1.8): rejoin with kubectl mesh-join")
    }
}

/// One Istio minor everywhere, the mesh file's `istio.version` where it gives one, and no
/// end-of-life minor ([`crate::version_gates`]).
fn version_skew(live: &[&ClusterFacts], file_version: Option<&str>) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneVersionSkew);
    let spec = |f: &ClusterFacts| Some(f.control_plane()?["spec"]["version"].as_str()?.to_string());
    let (versions, unseen) = group(live, spec);
    if !unseen.is_empty() {
        return e.problem(
            None,
            format!(
                "no Istio version (Istio/default spec.version) observed in {}",
                unseen.join(", ")
            ),
            "kubectl mesh-join -f mesh.yaml writes spec.version from istio.version",
        );
    }
    let rejoin = "kubectl mesh-join -f mesh.yaml writes istio.version into every Istio";
    // A version fits the file's when it is the same minor, and the same patch where both name
    // one (`v1.31-latest` is any 1.31; an installed dev build reads as `v1.31`).
    if let Some(v) = file_version
        && versions.keys().any(|k| !crate::istio_version::fits(k, v))
    {
        let msg = format!(
            "the mesh file says istio.version {v}; the clusters run {}",
            show(&versions)
        );
        return e.problem(None, msg, rejoin);
    }
    let (minors, _) = group(live, |f| {
        let v = spec(f)?;
        Some(v.split('.').take(2).collect::<Vec<_>>().join("."))
    });
    if minors.len() > 1 {
        return e.problem(
            None,
            format!("Istio versions differ: {}", show(&minors)),
            "upgrade the clusters to one minor version (one minor of skew is supported during an upgrade)",
        );
    }
    let Some(minor) = minors.keys().next() else {
        return e.skip(None, "no cluster was read");
    };
    use crate::version_gates::{SUPPORT_AS_OF, end_of_life, supported_minors, version};
    if version(minor).is_some_and(end_of_life) {
        let msg = format!(
            "all control planes on {}, an end-of-life minor (supported as of {SUPPORT_AS_OF}: {}): no more security fixes",
            show(&minors),
            supported_minors()
        );
        return e.problem(
            None,
            msg,
            "upgrade to a supported minor: set istio.version and run kubectl mesh-join -f mesh.yaml",
        );
    }
    e.pass(None, format!("all control planes on {}", show(&minors)))
}

#[cfg(test)]
#[path = "mesh_wide_tests.rs"]
mod tests;
