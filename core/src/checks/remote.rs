//! Remote access, for every ordered pair (reader, source): the remote secret in the reader,
//! its kubeconfig, its server address, and whether its credentials authenticate against the
//! source with the reader's permissions (checked with the embedded token itself).

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member, Selection};
use crate::labels::{
    CLUSTER_ANNOTATION, ISTIO_NAMESPACE, MULTICLUSTER_SECRET_LABEL, REMOTE_SECRET_PREFIX,
};
use crate::manifests::remote_secret::is_loopback;
use std::time::Duration;

/// What the reader's secret for the source grants, observed.
#[derive(Debug, Clone, Default)]
pub struct PairFacts {
    /// The reading cluster.
    pub reader: String,
    /// The cluster being read.
    pub source: String,
    /// The Secret holding the source's key, if any.
    pub secret: Option<String>,
    /// Problems with the Secret's shape (label, annotation).
    pub shape: Vec<String>,
    /// The kubeconfig text.
    pub kubeconfig: Option<String>,
    /// Why it did not parse.
    pub parse_error: Option<String>,
    /// Its server URL.
    pub server: Option<String>,
    /// Who the credentials are, or why they failed.
    pub auth: Option<Result<Access, String>>,
}

/// The permissions the credentials carry.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The authenticated user.
    pub username: String,
    /// May list services.
    pub list_services: bool,
    /// May list endpointslices.
    pub list_endpointslices: bool,
    /// May create secrets (more than a reader needs).
    pub create_secrets: bool,
}

/// Which clusters read which: from the mesh file's roles, else from the secrets found.
pub fn expected_pairs(members: &[Member], facts: &[ClusterFacts]) -> Vec<(String, String)> {
    let role = |m: &Member| {
        m.role.or_else(|| {
            facts
                .iter()
                .find(|f| f.name == m.name)
                .and_then(|f| f.role())
        })
    };
    // The rule mesh-join uses (a remote without a known primary is found from the secrets in
    // --context mode).
    let nodes: Vec<crate::topology::Node<'_>> = members
        .iter()
        .map(|m| crate::topology::Node {
            name: &m.name,
            role: role(m),
            primary: m.primary.as_deref(),
        })
        .collect();
    crate::topology::pairs(&nodes)
}

/// Reads one pair: finds the secret in the reader's facts and tries its credentials.
pub async fn gather_pair(
    reader: &ClusterFacts,
    source: &str,
    timeout: Option<Duration>,
) -> PairFacts {
    use base64::Engine as _;
    let mut p = PairFacts {
        reader: reader.name.clone(),
        source: source.to_string(),
        ..Default::default()
    };
    let holder = reader
        .remote_secrets
        .iter()
        .find(|s| s["data"].get(source).is_some());
    let Some(secret) = holder else {
        return p;
    };
    let name = secret["metadata"]["name"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    p.secret = Some(name.clone());
    if secret["metadata"]["labels"][MULTICLUSTER_SECRET_LABEL] != "true" {
        p.shape
            .push(format!("label {MULTICLUSTER_SECRET_LABEL}=true missing"));
    }
    if let Some(a) = secret["metadata"]["annotations"][CLUSTER_ANNOTATION].as_str()
        && a != source
    {
        p.shape.push(format!(
            "annotation {CLUSTER_ANNOTATION}={a} names another cluster"
        ));
    }
    let Some(text) = secret["data"][source]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    else {
        p.parse_error = Some("the value is not base64 UTF-8 text".into());
        return p;
    };
    p.kubeconfig = Some(text.clone());
    let config = match kube::config::Kubeconfig::from_yaml(&text) {
        Ok(c) => c,
        Err(e) => {
            p.parse_error = Some(e.to_string());
            return p;
        }
    };
    let current = config.current_context.clone().unwrap_or_default();
    let cluster = config
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    p.server = cluster
        .and_then(|cl| config.clusters.iter().find(|c| c.name == cl).cloned())
        .and_then(|c| c.cluster)
        .and_then(|c| c.server);
    if p.server.is_none() {
        p.parse_error = Some("its current context names no cluster with a server".into());
        return p;
    }
    p.auth = Some(authenticate(config, timeout).await);
    p
}

async fn authenticate(
    config: kube::config::Kubeconfig,
    timeout: Option<Duration>,
) -> Result<Access, String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    let t = timeout.unwrap_or(Duration::from_secs(10));
    cfg.connect_timeout = Some(t);
    cfg.read_timeout = Some(t);
    let client = kube::Client::try_from(cfg).map_err(|e| e.to_string())?;
    let reviews: kube::Api<SelfSubjectReview> = kube::Api::all(client.clone());
    let me = reviews
        .create(&kube::api::PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 401 => "the API server refused the token (401 Unauthorized): it was revoked or belongs to another cluster".to_string(),
            other => other.to_string(),
        })?;
    let username = me
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default();
    // One rules review answers the three questions (two requests per peer in all).
    let rules = super::rules::review(client, ISTIO_NAMESPACE).await?;
    Ok(Access {
        username,
        list_services: super::rules::allows(&rules, "list", "", "services"),
        list_endpointslices: super::rules::allows(
            &rules,
            "list",
            "discovery.k8s.io",
            "endpointslices",
        ),
        create_secrets: super::rules::allows(&rules, "create", "", "secrets"),
    })
}

pub(super) fn evaluate(
    members: &[Member],
    facts: &[ClusterFacts],
    pairs: &[PairFacts],
    sel: &Selection,
    out: &mut Vec<CheckResult>,
) {
    for p in pairs {
        pair(members, facts, p, sel, out);
    }
    let unique = Emit::new(CheckId::RemoteUniqueClaims);
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let mut claims: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for s in &f.remote_secrets {
            for key in s["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
            {
                claims
                    .entry(key)
                    .or_default()
                    .push(s["metadata"]["name"].as_str().unwrap_or("?").into());
            }
        }
        let dup: Vec<String> = claims
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| format!("{k} in {}", v.join(" and ")))
            .collect();
        if dup.is_empty() {
            out.push(unique.pass(
                Some(&f.name),
                format!("{} remote cluster(s), each claimed once", claims.len()),
            ));
        } else {
            out.push(unique.problem(Some(&f.name), format!("clusters claimed by more than one secret: {} (istiod ignores all but the first)", dup.join("; ")), &format!("delete the stale secret: kubectl --context {} -n {ISTIO_NAMESPACE} get secret -l {MULTICLUSTER_SECRET_LABEL}=true; keep {REMOTE_SECRET_PREFIX}<cluster>", f.context)));
        }
    }
}

/// The four checks of one ordered pair (reader, source).
fn pair(
    members: &[Member],
    facts: &[ClusterFacts],
    p: &PairFacts,
    sel: &Selection,
    out: &mut Vec<CheckResult>,
) {
    let present = Emit::new(CheckId::RemoteSecretPresent);
    let parses = Emit::new(CheckId::RemoteKubeconfig);
    let address = Emit::new(CheckId::RemoteServerAddress);
    let creds = Emit::new(CheckId::RemoteCredentials);
    let at = |r: CheckResult| CheckResult {
        peer: Some(p.source.clone()),
        ..r
    };
    let c = Some(p.reader.as_str());
    let reader_ctx = facts
        .iter()
        .find(|f| f.name == p.reader)
        .map(|f| f.context.clone())
        .unwrap_or_default();
    let source_ctx = members
        .iter()
        .find(|m| m.name == p.source)
        .map(|m| m.context.clone())
        .unwrap_or_default();
    let recreate = format!(
        "kubectl mesh-join remote-secret --context {source_ctx} --name {} | kubectl --context {reader_ctx} apply -n {ISTIO_NAMESPACE} -f -   (or rerun kubectl mesh-join -f mesh.yaml)",
        p.source
    );
    let Some(secret) = &p.secret else {
        out.push(at(present.problem(
            c,
            format!(
                "{} cannot see {}: no remote secret in {ISTIO_NAMESPACE} has the key {}",
                p.reader, p.source, p.source
            ),
            &recreate,
        )));
        for e in [
            &parses,
            &address,
            &creds,
            &Emit::new(CheckId::RemoteCredentialExpiry),
        ] {
            out.push(at(e.skip(c, "no remote secret")));
        }
        return;
    };
    if p.shape.is_empty() {
        out.push(at(present.pass(
            c,
            format!("{ISTIO_NAMESPACE}/{secret} holds {}", p.source),
        )));
    } else {
        out.push(at(present.problem(
            c,
            format!("{ISTIO_NAMESPACE}/{secret}: {}", p.shape.join("; ")),
            &recreate,
        )));
    }
    if let Some(e) = &p.parse_error {
        out.push(at(parses.problem(
            c,
            format!("the kubeconfig for {} does not parse: {e}", p.source),
            &recreate,
        )));
        out.push(at(address.skip(c, "no kubeconfig")));
        out.push(at(creds.skip(c, "no kubeconfig")));
        let expiry = Emit::new(CheckId::RemoteCredentialExpiry);
        out.push(at(expiry.skip(c, "no kubeconfig")));
        return;
    }
    out.push(at(
        parses.pass(c, format!("kubeconfig for {} parses", p.source))
    ));
    let server = p.server.clone().unwrap_or_default();
    if is_loopback(&server) && !sel.allow_loopback {
        out.push(at(address.problem(c, format!("server {server} is a loopback address: istiod in {} cannot reach {} there", p.reader, p.source), &format!("recreate the secret with an address {} can reach: kubectl mesh-join remote-secret --context {source_ctx} --name {} --server https://ADDRESS:6443", p.reader, p.source))));
    } else if is_loopback(&server) {
        out.push(at(address.pass(
            c,
            format!("server {server} (loopback allowed: every cluster on this host)"),
        )));
    } else {
        out.push(at(address.pass(c, format!("server {server}"))));
    }
    out.push(at(super::expiry::check(p, sel, c, &recreate)));
    match &p.auth {
        None => out.push(at(creds.problem(
            c,
            format!("the credentials for {} were not tried", p.source),
            &recreate,
        ))),
        Some(Err(e)) => out.push(at(creds.problem(
            c,
            format!("the credentials for {} do not work: {e}", p.source),
            &recreate,
        ))),
        Some(Ok(a)) => {
            if !(a.list_services && a.list_endpointslices) {
                out.push(at(creds.problem(c, format!("{} authenticates as {} but may not list services and endpointslices in {}", p.reader, a.username, p.source), &format!("bind the reader ClusterRole again: kubectl mesh-join -f mesh.yaml --only {}", p.source))));
            } else if a.create_secrets {
                out.push(at(creds.warn(c, format!("{} reads {} as {}, which may also create secrets: more than a reader needs", p.reader, p.source, a.username), "use the istio-reader-service-account (least privilege) for remote secrets")));
            } else {
                out.push(at(creds.pass(
                    c,
                    format!(
                        "authenticates to {} as {} with read access only",
                        p.source, a.username
                    ),
                )));
            }
        }
    }
}
