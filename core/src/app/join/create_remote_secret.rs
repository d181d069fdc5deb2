//! `mesh-join remote-secret`: a drop-in for `istioctl create-remote-secret`.
//!
//! It prints a Secret holding a token, so the token is printed only with `--include-secrets`
//! (without it the Secret is shown with its kubeconfig redacted, and a hint says how to get
//! it). As istioctl does (unless `--create-service-account=false`), what a reader needs and
//! is missing is created: the ServiceAccount, the reader ClusterRole and its binding, each
//! named on stderr. It never rewrites reader RBAC that exists (whoever installed the control
//! plane owns it).

use crate::app::fleet::server_of;

use crate::app::trust::Access;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::kubeconfig::KubeconfigSource;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::remote_secret;
use crate::mesh::{ClusterSpec, Role};
use crate::plan::REDACTED;
use crate::plan::{ApplyMode, ClusterPlan, Plan, apply_plan, observe};
use crate::render::Printer;
use crate::targets::connect_all;
use serde_json::json;

/// The options of `mesh-join remote-secret`.
#[derive(Debug, Clone)]
pub struct RemoteSecretOptions {
    /// The source cluster's context.
    pub context: String,
    /// Its cluster name in the mesh.
    pub name: String,
    /// The API server URL peers use (default: the kubeconfig's).
    pub server: Option<String>,
    /// Accept a loopback server address.
    pub allow_loopback: bool,
    /// Create the reader ServiceAccount when it is missing.
    pub create_service_account: bool,
    /// Print the token.
    pub include_secrets: bool,
}

/// What is missing for a reader in the source cluster, each named on stderr: the namespace
/// (applying it when it exists would take other fields off it, so it is created only when
/// missing), and unless `--create-service-account=false` the reader's ServiceAccount,
/// ClusterRole and binding.
async fn missing_objects(
    opts: &RemoteSecretOptions,
    kube: &crate::cluster::Kube,
    printer: &Printer,
) -> Result<Vec<(serde_json::Value, bool)>, Error> {
    let mut out = Vec::new();
    if kube
        .get("v1", "Namespace", None, ISTIO_NAMESPACE)
        .await?
        .is_none()
    {
        out.push(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}),
        );
    }
    if opts.create_service_account {
        let sa = crate::labels::READER_SERVICE_ACCOUNT;
        if kube
            .get("v1", "ServiceAccount", Some(ISTIO_NAMESPACE), sa)
            .await?
            .is_none()
        {
            out.push(remote_secret::reader_service_account());
        }
        let rbac = "rbac.authorization.k8s.io/v1";
        let name = remote_secret::reader_role_name();
        if kube.get(rbac, "ClusterRole", None, &name).await?.is_none() {
            out.push(remote_secret::reader_cluster_role(false));
        }
        if kube
            .get(rbac, "ClusterRoleBinding", None, &name)
            .await?
            .is_none()
        {
            out.push(remote_secret::reader_binding());
        }
    }
    for o in out.iter().filter(|o| o["kind"] != "Namespace") {
        printer.progress(&format!(
            "context {}: creating {} (missing; as istioctl create-remote-secret does)",
            opts.context,
            crate::cluster::describe(o)
        ));
    }
    Ok(out.into_iter().map(|o| (o, false)).collect())
}

/// Creates what is missing for a reader token in the source cluster, waits for the token and
/// prints the remote secret.
pub async fn remote_secret_cmd(
    opts: &RemoteSecretOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    crate::names::ClusterName::parse(&opts.name)?;
    let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let targets = connect_all(
        &source,
        &[(opts.name.clone(), opts.context.clone())],
        access.timeout,
    )
    .await?;
    let kube = &targets[0].kube;
    let spec = ClusterSpec {
        name: opts.name.clone(),
        context: opts.context.clone(),
        network: String::new(),
        role: Role::Primary,
        primary: None,
        east_west_address: None,
        api_server: opts.server.clone(),
    };
    let server = server_of(&spec, &source, opts.allow_loopback)?;
    let mut objects = missing_objects(opts, kube, printer).await?;
    let record = super::tokens::current_record(kube).await?;
    if record.ttl_seconds.is_none() {
        objects.push((remote_secret::token_secret(&record.token), false));
    }
    let cp: ClusterPlan = observe(kube, &opts.name, objects, Vec::new()).await?;
    let plan = Plan { clusters: vec![cp] };
    if let Some(Err(e)) = apply_plan(std::slice::from_ref(kube), &plan, ApplyMode::Apply)
        .await
        .into_iter()
        .next()
    {
        return Err(e.into());
    }
    // Short-lived mode (rotate-credentials --token-ttl): a token minted against the anchor.
    let (ca, token) = super::tokens::credential(kube, &opts.name, &[], true)
        .await?
        .unwrap_or_default();
    let kubeconfig = if opts.include_secrets {
        remote_secret::kubeconfig(&opts.name, &server, &ca, &token)
    } else {
        printer.warn("the kubeconfig holds a token and is redacted: add --include-secrets to print it (e.g. | kubectl apply -f -)");
        REDACTED.to_string()
    };
    let secret = remote_secret::remote_secret(&opts.name, &kubeconfig);
    printer.data(&format!(
        "# This file is autogenerated, do not edit.\n{}---\n",
        yaml_serde::to_string(&secret).unwrap_or_default()
    ))?;
    Ok(ExitStatus::Success)
}
