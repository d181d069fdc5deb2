//! Which clusters a run concerns: the selected ones (`--only`), the reading pairs that touch
//! them, and every cluster those need (readers, sources, a remote's primary). Pure.

use crate::error::Error;
use crate::mesh::{ClusterSpec, MeshSpec};
use crate::topology::reading_pairs;

/// The clusters of one run.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The mesh.
    pub mesh: &'a MeshSpec,
    /// The clusters joined (all, or `--only`).
    pub selected: Vec<&'a ClusterSpec>,
    /// `(reader, source)` pairs with a selected end.
    pub pairs: Vec<(String, String)>,
    /// Every cluster to connect to, selected ones first.
    pub needed: Vec<String>,
}

impl<'a> Scope<'a> {
    /// The connections of the selected clusters that read `source`.
    pub(crate) fn readers_in<'f, C>(
        &self,
        fleet: &'f crate::app::fleet::Fleet<C>,
        source: &str,
    ) -> Result<Vec<&'f C>, Error> {
        self.pairs
            .iter()
            .filter(|(_, s)| s == source)
            .map(|(r, _)| fleet.kube(r))
            .collect()
    }

    /// The scope of `only` (empty: every cluster); an unknown name is refused.
    pub fn of(mesh: &'a MeshSpec, only: &[String]) -> Result<Self, Error> {
        if let Some(unknown) = only.iter().find(|n| mesh.cluster(n).is_none()) {
            let known: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::input(
                format!("--only: cluster '{unknown}' is not in the mesh file"),
                format!("the mesh has: {}", known.join(", ")),
            ));
        }
        let selected: Vec<&ClusterSpec> = mesh
            .clusters
            .iter()
            .filter(|c| only.is_empty() || only.contains(&c.name))
            .collect();
        let is_selected = |n: &str| selected.iter().any(|c| c.name == n);
        let pairs: Vec<(String, String)> = reading_pairs(mesh)
            .into_iter()
            .filter(|(r, s)| is_selected(r) || is_selected(s))
            .collect();
        let mut needed: Vec<String> = selected.iter().map(|c| c.name.clone()).collect();
        let extra = pairs
            .iter()
            .flat_map(|(r, s)| [r.clone(), s.clone()])
            .chain(selected.iter().filter_map(|c| c.primary.clone()));
        for n in extra {
            if !needed.contains(&n) {
                needed.push(n);
            }
        }
        Ok(Scope {
            mesh,
            selected,
            pairs,
            needed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mesh() -> MeshSpec {
        MeshSpec::parse(
            "meshID: m\nclusters:\n  - {name: a, context: a, network: n, role: primary}\n  - {name: b, context: b, network: n, role: primary}\n  - {name: c, context: c, network: n, role: remote, primary: a}\n",
            Path::new("t"),
        )
        .unwrap()
    }

    #[test]
    fn only_a_remote_still_needs_its_primary_and_the_pair_between_them() {
        let m = mesh();
        let s = Scope::of(&m, &["c".to_string()]).unwrap();
        assert_eq!(s.selected.len(), 1);
        assert_eq!(s.pairs, vec![("a".to_string(), "c".to_string())]);
        assert_eq!(s.needed, vec!["c", "a"]);
    }

    #[test]
    fn everything_by_default_and_unknown_names_are_refused() {
        let m = mesh();
        let s = Scope::of(&m, &[]).unwrap();
        assert_eq!(s.selected.len(), 3);
        assert_eq!(s.pairs.len(), 3);
        let e = Scope::of(&m, &["zz".to_string()]).unwrap_err().to_string();
        assert!(e.contains("--only: cluster 'zz'"), "{e}");
    }
}
