//! `--export DIR`: every cluster's manifests as files, for GitOps engines. Remote secrets
//! hold tokens: they are written (0600) only with `--include-secrets`; otherwise the run says
//! what it left out.

use super::desired::{Render, base_objects, is_secret};
use super::tokens::credential;
use super::{Installer, JoinOptions};
use crate::app::fleet::{Fleet, server_of};
use crate::app::trust::Access;
use crate::cluster::identity;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::{ISTIO_NAMESPACE, REMOTE_SECRET_PREFIX};
use crate::manifests::{istio, remote_secret};
use crate::mesh::ClusterSpec;
use crate::render::Printer;
use crate::topology::sources_of;
use serde_json::Value;
use std::path::Path;

/// Writes each selected cluster's manifests into `dir/<cluster>/NN-kind-name.yaml`.
pub async fn export(
    opts: &JoinOptions,
    access: &Access,
    dir: &Path,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let fleet = if opts.include_secrets {
        let names: Vec<String> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
        Some(Fleet::connect(mesh, access, &names, false).await?)
    } else {
        None
    };
    let mut left_out = Vec::new();
    let mut written = 0;
    for c in &mesh.clusters {
        if !opts.only.is_empty() && !opts.only.contains(&c.name) {
            continue;
        }
        let mut docs = cluster_docs(opts, c);
        for s in sources_of(mesh, &c.name) {
            match remote_secret_doc(opts, fleet.as_ref(), &s).await? {
                Some(doc) => docs.push(doc),
                None => left_out.push(format!(
                    "{}: Secret {ISTIO_NAMESPACE}/{REMOTE_SECRET_PREFIX}{s} (holds a token; {})",
                    c.name,
                    if opts.include_secrets { "no token exists yet in the source: apply its reader objects, then export again" } else { "--include-secrets adds it" }
                )),
            }
        }
        written += write_docs(&dir.join(&c.name), &docs)?;
        if opts.installer == Installer::Helm {
            write_helm_values(&dir.join(&c.name), &helm_values(opts, c))?;
            written += 1;
        }
    }
    printer.progress(&format!(
        "wrote {written} manifest(s) into {}",
        dir.display()
    ));
    for l in &left_out {
        printer.warn(&format!("left out: {l}"));
    }
    printer.progress("cacerts is not exported: the intermediate's key belongs with kubectl mesh-certs apply (or your secret store)");
    Ok(ExitStatus::Success)
}

/// The primary's east-west address a remote's control plane reaches istiod through.
fn pilot_of(opts: &JoinOptions, c: &ClusterSpec) -> Option<String> {
    let mesh = &opts.mesh;
    c.primary
        .as_ref()
        .and_then(|p| mesh.cluster(p))
        .and_then(|pc| pc.east_west_address.clone())
}

/// The istiod chart's values for `c` (`--installer helm`).
fn helm_values(opts: &JoinOptions, c: &ClusterSpec) -> Value {
    istio::values(&opts.mesh, c, pilot_of(opts, c).as_deref())
}

/// `cdir/istiod-values.yaml`: for `helm upgrade --install istiod istio/istiod -f` (not a
/// Kubernetes object, so kept apart from the numbered manifests).
fn write_helm_values(cdir: &Path, values: &Value) -> Result<(), Error> {
    crate::ca::store::write_atomic(
        &cdir.join("istiod-values.yaml"),
        yaml_serde::to_string(values).unwrap_or_default().as_bytes(),
        0o644,
    )?;
    Ok(())
}

fn cluster_docs(opts: &JoinOptions, c: &ClusterSpec) -> Vec<Value> {
    let mesh = &opts.mesh;
    let pilot = pilot_of(opts, c);
    let token = remote_secret::token_secret_name();
    let render = Render {
        istio_api: "sailoperator.io/v1",
        pilot: pilot.as_deref(),
        installer: opts.installer,
        create_reader: opts.create_reader,
        reader_token: &token,
        reader_ttl: None,
        install_record: None,
    };
    let mut docs = base_objects(mesh, c, render);
    if opts.installer == Installer::Istioctl {
        docs.push(istio::istio_operator(mesh, c, pilot.as_deref()));
    }
    docs
}

/// The remote secret for source `s`, when secrets were asked for and a token exists.
async fn remote_secret_doc(
    opts: &JoinOptions,
    fleet: Option<&Fleet>,
    s: &str,
) -> Result<Option<Value>, Error> {
    let Some(f) = fleet else {
        return Ok(None);
    };
    let Some(k) = f.kubes.get(s) else {
        return Ok(None);
    };
    let readers: Vec<&crate::cluster::Kube> = f
        .kubes
        .iter()
        .filter(|(n, _)| n.as_str() != s)
        .map(|(_, k)| k)
        .collect();
    let Some((ca, token)) = credential(k, s, &readers, false).await? else {
        return Ok(None);
    };
    let sc = opts
        .mesh
        .cluster(s)
        .ok_or_else(|| Error::input(format!("cluster '{s}' missing"), "fix the mesh file"))?;
    let server = server_of(sc, &f.source, opts.allow_loopback)?;
    let kubeconfig = remote_secret::kubeconfig(s, &server, &ca, &token);
    Ok(Some(remote_secret::remote_secret(s, &kubeconfig)))
}

fn write_docs(cdir: &Path, docs: &[Value]) -> Result<usize, Error> {
    std::fs::create_dir_all(cdir).map_err(|e| {
        Error::input(
            format!("cannot create {}: {e}", cdir.display()),
            "choose a writable --export directory",
        )
    })?;
    for (i, d) in docs.iter().enumerate() {
        let (_, kind, _, name) = identity(d);
        let path = cdir.join(format!(
            "{:02}-{}-{}.yaml",
            i + 1,
            kind.to_lowercase(),
            name
        ));
        let holds_material =
            is_secret(d) && (d.get("data").is_some() || d.get("stringData").is_some());
        let mode = if holds_material { 0o600 } else { 0o644 };
        crate::ca::store::write_atomic(
            &path,
            yaml_serde::to_string(d).unwrap_or_default().as_bytes(),
            mode,
        )?;
    }
    Ok(docs.len())
}
