//! Where the mesh comes from: a mesh file, or one cluster and its peers given as flags.

use clap::Args;
use mesh_core::Error;
use mesh_core::cli::KubeArgs;
use mesh_core::mesh::{ClusterSpec, IstioSpec, MeshSpec, Role};
use std::path::PathBuf;

/// The mesh, by file or by flags.
#[derive(Debug, Args)]
pub struct MeshArgs {
    /// The mesh file
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub mesh: Option<PathBuf>,

    /// Cluster name (cluster ID) of the cluster in --context (flags mode)
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// Network of that cluster (flags mode)
    #[arg(long, value_name = "NET")]
    network: Option<String>,

    /// Mesh ID (flags mode)
    #[arg(long, value_name = "MESH")]
    mesh_id: Option<String>,

    /// Role of that cluster (flags mode)
    #[arg(long, value_enum, default_value_t = Role::Primary)]
    role: Role,

    /// A remote's primary as NAME=CONTEXT[@NETWORK] (flags mode)
    #[arg(long, value_name = "NAME=CONTEXT[@NET]")]
    primary: Option<String>,

    /// Another primary of a multi-primary mesh as NAME=CONTEXT[@NETWORK]; repeatable (flags mode)
    #[arg(long = "peer", value_name = "NAME=CONTEXT[@NET]")]
    peers: Vec<String>,

    /// The primary's east-west gateway address, where no load balancer reports one
    #[arg(long, value_name = "ADDRESS")]
    east_west_address: Option<String>,

    /// Istio version of the control planes (flags mode)
    #[arg(long, value_name = "VERSION")]
    istio_version: Option<String>,
}

fn parse_member(
    text: &str,
    role: Role,
    primary: Option<&str>,
    default_net: &str,
) -> Result<ClusterSpec, Error> {
    let bad = || {
        Error::input(
            format!("'{text}' is not NAME=CONTEXT[@NETWORK]"),
            "for example --peer west=kind-west@network2",
        )
    };
    let (name, rest) = text.split_once('=').ok_or_else(bad)?;
    let (context, network) = match rest.split_once('@') {
        Some((c, n)) => (c, n),
        None => (rest, default_net),
    };
    if name.is_empty() || context.is_empty() {
        return Err(bad());
    }
    Ok(ClusterSpec {
        name: name.into(),
        context: context.into(),
        network: network.into(),
        role,
        primary: primary.map(String::from),
        east_west_address: None,
        api_server: None,
    })
}

impl MeshArgs {
    pub fn resolve(&self, kube: &KubeArgs) -> Result<(MeshSpec, Option<PathBuf>), Error> {
        if let Some(path) = &self.mesh {
            if !kube.contexts.is_empty() || self.cluster_name.is_some() {
                return Err(Error::input(
                    format!(
                        "both -f {} and --context/--cluster-name were given",
                        path.display()
                    ),
                    "use the mesh file alone, or flags alone",
                ));
            }
            let mesh = MeshSpec::load(path)?;
            let certs = mesh.certs.clone();
            return Ok((mesh, certs));
        }
        let [context] = kube.contexts.as_slice() else {
            return Err(Error::input(
                "no mesh given",
                "describe it with -f mesh.yaml, or give one --context with --cluster-name, --network and --mesh-id",
            ));
        };
        let need = |v: &Option<String>, flag: &str| {
            v.clone().ok_or_else(|| {
                Error::input(
                    format!("{flag} is required without -f"),
                    format!("add {flag}, or use -f mesh.yaml"),
                )
            })
        };
        let name = need(&self.cluster_name, "--cluster-name")?;
        let network = need(&self.network, "--network")?;
        let mesh_id = need(&self.mesh_id, "--mesh-id")?;
        let mut clusters = Vec::new();
        let mut me = ClusterSpec {
            name: name.clone(),
            context: context.clone(),
            network: network.clone(),
            role: self.role,
            primary: None,
            east_west_address: None,
            api_server: None,
        };
        match (self.role, &self.primary) {
            (Role::Remote, Some(p)) => {
                let mut pc = parse_member(p, Role::Primary, None, &network)?;
                pc.east_west_address = self.east_west_address.clone();
                me.primary = Some(pc.name.clone());
                clusters.push(pc);
            }
            (Role::Remote, None) => {
                return Err(Error::input(
                    "a remote needs --primary NAME=CONTEXT",
                    "name the primary whose istiod controls this cluster",
                ));
            }
            (Role::Primary, _) => me.east_west_address = self.east_west_address.clone(),
        }
        clusters.push(me);
        for p in &self.peers {
            clusters.push(parse_member(p, Role::Primary, None, &network)?);
        }
        let mesh = MeshSpec {
            mesh_id,
            certs: None,
            istio: IstioSpec {
                version: self.istio_version.clone(),
                ..IstioSpec::default()
            },
            clusters,
        };
        mesh.validate(std::path::Path::new("<flags>"))?;
        Ok((mesh, None))
    }
}
