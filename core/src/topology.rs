//! Who reads whom: the one rule join, leave and verify share.
//!
//! A primary's istiod watches the API servers of the clusters it serves, through a remote
//! secret in its own namespace: in multi-primary every primary reads every other cluster that
//! is a primary, and every primary reads the remotes whose `primary` it is. A remote reads
//! nobody (its primary's istiod does the reading).

use crate::mesh::{MeshSpec, Role};

/// A cluster as the rule sees it: its role (unknown when neither the mesh file nor the
/// cluster says) and, for a remote, its primary.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// Cluster name.
    pub name: &'a str,
    /// Primary or remote, when known.
    pub role: Option<Role>,
    /// A remote's primary.
    pub primary: Option<&'a str>,
}

/// `(reader, source)` pairs: `reader`'s istiod reads `source`'s API server. A cluster of
/// unknown role reads nobody and is read by nobody.
pub fn pairs(nodes: &[Node<'_>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in nodes.iter().filter(|c| c.role == Some(Role::Primary)) {
        for s in nodes.iter().filter(|s| s.name != r.name) {
            let reads = match s.role {
                Some(Role::Primary) => true,
                Some(Role::Remote) => s.primary == Some(r.name),
                None => false,
            };
            if reads {
                out.push((r.name.to_string(), s.name.to_string()));
            }
        }
    }
    out
}

/// [`pairs`] of a mesh file.
pub fn reading_pairs(mesh: &MeshSpec) -> Vec<(String, String)> {
    let nodes: Vec<Node<'_>> = mesh
        .clusters
        .iter()
        .map(|c| Node {
            name: &c.name,
            role: Some(c.role),
            primary: c.primary.as_deref(),
        })
        .collect();
    pairs(&nodes)
}

/// The clusters `cluster` reads.
pub fn sources_of(mesh: &MeshSpec, cluster: &str) -> Vec<String> {
    reading_pairs(mesh)
        .into_iter()
        .filter(|(r, _)| r == cluster)
        .map(|(_, s)| s)
        .collect()
}

/// True when some other cluster reads `cluster` (it needs reader credentials).
pub fn is_read(mesh: &MeshSpec, cluster: &str) -> bool {
    reading_pairs(mesh).iter().any(|(_, s)| s == cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mesh(clusters: &str) -> MeshSpec {
        MeshSpec::parse(&format!("meshID: m\nclusters:\n{clusters}"), Path::new("t")).unwrap()
    }

    #[test]
    fn primaries_read_each_other_and_their_own_remotes_only() {
        let m = mesh(
            "  - {name: a, context: a, network: n, role: primary}\n  - {name: b, context: b, network: n, role: primary}\n  - {name: c, context: c, network: n, role: remote, primary: a}\n",
        );
        assert_eq!(
            reading_pairs(&m),
            vec![
                ("a".to_string(), "b".to_string()),
                ("a".into(), "c".into()),
                ("b".into(), "a".into()),
            ]
        );
        assert_eq!(sources_of(&m, "a"), vec!["b", "c"]);
        assert!(sources_of(&m, "c").is_empty());
        assert!(is_read(&m, "c"));
    }

    #[test]
    fn a_single_primary_reads_nobody_and_is_read_by_nobody() {
        let m = mesh("  - {name: a, context: a, network: n, role: primary}\n");
        assert!(reading_pairs(&m).is_empty());
        assert!(!is_read(&m, "a"));
    }
}
