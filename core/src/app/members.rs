//! Which clusters a command concerns: `-f mesh.yaml`, or `--context` (with `--cluster` names
//! and `--network`s paired by position). Shared by all three plugins.

use super::trust::Member;
use crate::error::Error;
use crate::mesh::MeshSpec;
use crate::names::ClusterName;
use std::path::{Path, PathBuf};

/// The resolved clusters and, from a mesh file, its certificate directory.
#[derive(Debug, Clone)]
pub struct Members {
    /// The clusters, in order.
    pub members: Vec<Member>,
    /// The mesh file's `certs:` directory, resolved against the file's folder.
    pub certs_dir: Option<PathBuf>,
    /// The mesh file, when one was given.
    pub mesh: Option<MeshSpec>,
}

/// Resolves `-f FILE` or `--context/--cluster/--network`. Without `--cluster`, a context's
/// name is the cluster's name (it must then be a DNS-1123 label).
pub fn resolve(
    mesh_file: Option<&Path>,
    contexts: &[String],
    clusters: &[String],
    networks: &[String],
) -> Result<Members, Error> {
    if let Some(path) = mesh_file {
        if !contexts.is_empty() || !clusters.is_empty() {
            return Err(Error::input(
                format!(
                    "both -f {} and --context/--cluster were given",
                    path.display()
                ),
                "use the mesh file alone (it names every cluster and context), or flags alone",
            ));
        }
        let mesh = MeshSpec::load(path)?;
        let members = mesh
            .clusters
            .iter()
            .map(|c| {
                Ok(Member {
                    cluster: ClusterName::parse(&c.name)?,
                    context: c.context.clone(),
                    network: Some(c.network.clone()),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        return Ok(Members {
            members,
            certs_dir: mesh.certs.clone(),
            mesh: Some(mesh),
        });
    }
    if contexts.is_empty() {
        return Err(Error::input(
            "no clusters given",
            "name them with --context CTX [--cluster NAME] (repeatable), or describe the mesh with -f mesh.yaml",
        ));
    }
    if !clusters.is_empty() && clusters.len() != contexts.len() {
        return Err(Error::input(
            format!(
                "{} --context value(s) but {} --cluster name(s)",
                contexts.len(),
                clusters.len()
            ),
            "give one --cluster per --context, in the same order (or none: each context then names its cluster)",
        ));
    }
    if !networks.is_empty() && networks.len() != contexts.len() {
        return Err(Error::input(
            format!(
                "{} --context value(s) but {} --network value(s)",
                contexts.len(),
                networks.len()
            ),
            "give one --network per --context, in the same order",
        ));
    }
    let mut members = Vec::new();
    for (i, context) in contexts.iter().enumerate() {
        let name = clusters.get(i).unwrap_or(context);
        let cluster = ClusterName::parse(name).map_err(|e| {
            if clusters.is_empty() {
                Error::input(
                    format!("context '{context}' cannot serve as a cluster name: {e}"),
                    "name the cluster with --cluster NAME (a DNS-1123 label)",
                )
            } else {
                e.into()
            }
        })?;
        if members.iter().any(|m: &Member| m.cluster == cluster) {
            return Err(Error::input(
                format!("cluster '{cluster}' is given twice"),
                "each cluster needs its own name",
            ));
        }
        members.push(Member {
            cluster,
            context: context.clone(),
            network: networks.get(i).cloned(),
        });
    }
    Ok(Members {
        members,
        certs_dir: None,
        mesh: None,
    })
}
