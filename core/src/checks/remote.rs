//! Remote access, for every ordered pair (reader, source): the remote secret in the reader,
//! its kubeconfig, its server address, and whether its credentials authenticate against the
//! source with the reader's permissions (checked with the embedded token itself).

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member, Selection};
use crate::kubeconfig_gate::{Admitted, Refusal, admit, secret_text};
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
    /// Its kubeconfig as the gate admitted it (inline data only; the credential redacted in
    /// `Debug`).
    pub admitted: Option<Admitted>,
    /// Why the gate refused the kubeconfig (each key path): it was never used.
    pub refused: Option<Refusal>,
    /// Why the value is not text at all.
    pub parse_error: Option<String>,
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
    /// May list configmaps in the Istio namespace (istiod reads them from 1.29).
    pub list_configmaps: bool,
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
    let mut p = PairFacts {
        reader: reader.name.clone(),
        source: source.to_string(),
        ..Default::default()
    };
    // The secret holding the source's key, and the text under it.
    let holder = reader
        .remote_secrets
        .iter()
        .find_map(|s| Some((s, secret_text(s, source)?)));
    let Some((secret, text)) = holder else {
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
    let text = match text {
        Ok(text) => text,
        Err(why) => {
            p.parse_error = Some(why.into());
            return p;
        }
    };
    // The gate, before anything else uses the text: no client, no file, no program otherwise.
    match admit(&text) {
        Err(refusal) => p.refused = Some(refusal),
        Ok(admitted) => {
            p.auth = Some(authenticate(&admitted, timeout).await);
            p.admitted = Some(admitted);
        }
    }
    p
}

/// Asks the source who the admitted credentials are and what they may do. Only an
/// [`Admitted`] kubeconfig gets here: its client reads no file and runs no program.
async fn authenticate(admitted: &Admitted, timeout: Option<Duration>) -> Result<Access, String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let mut cfg = kube::Config::from_custom_kubeconfig(
        admitted.to_kubeconfig(),
        &kube::config::KubeConfigOptions::default(),
    )
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
            other => crate::cluster::sentence(&other),
        })?;
    let username = me
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default();
    // One rules review answers the four questions (two requests per peer in all).
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
        list_configmaps: super::rules::allows(&rules, "list", "", "configmaps"),
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
    let Some(admitted) = kubeconfig_check(p, secret, &recreate, out) else {
        for e in [
            &address,
            &creds,
            &Emit::new(CheckId::RemoteCredentialExpiry),
        ] {
            out.push(at(e.skip(c, "no usable kubeconfig")));
        }
        return;
    };
    let server = admitted.server.clone();
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
    let reader_istiod = facts
        .iter()
        .find(|f| f.name == p.reader)
        .and_then(super::credentials::istiod_version);
    out.push(at(super::credentials::judge(
        p,
        reader_istiod.as_deref(),
        &recreate,
    )));
}

/// `remote.kubeconfig` for one pair: a kubeconfig that is not text, or that the gate refused,
/// fails naming every refused key path; `insecure-skip-tls-verify` warns. The admitted
/// kubeconfig, when the other checks of the pair may go on.
fn kubeconfig_check<'a>(
    p: &'a PairFacts,
    secret: &str,
    recreate: &str,
    out: &mut Vec<CheckResult>,
) -> Option<&'a Admitted> {
    let e = Emit::new(CheckId::RemoteKubeconfig);
    let c = Some(p.reader.as_str());
    let at = |r: CheckResult| CheckResult {
        peer: Some(p.source.clone()),
        ..r
    };
    let allowed = "a remote secret's kubeconfig may hold only server, certificate-authority-data, tls-server-name, insecure-skip-tls-verify and an inline token or client-certificate-data/client-key-data (istiod refuses the rest too)";
    if let Some(why) = &p.parse_error {
        let msg = format!(
            "the kubeconfig for {} in {ISTIO_NAMESPACE}/{secret} is unreadable: {why}",
            p.source
        );
        out.push(at(e.problem(c, msg, recreate)));
        return None;
    }
    if let Some(refusal) = &p.refused {
        let msg = format!(
            "the kubeconfig for {} in {ISTIO_NAMESPACE}/{secret} was refused and never used: {refusal}",
            p.source
        );
        out.push(at(e.problem(
            c,
            msg,
            &format!("{allowed}; recreate it: {recreate}"),
        )));
        return None;
    }
    let Some(admitted) = &p.admitted else {
        let msg = format!(
            "the kubeconfig for {} in {ISTIO_NAMESPACE}/{secret} was not read",
            p.source
        );
        out.push(at(e.problem(c, msg, recreate)));
        return None;
    };
    if admitted.insecure {
        let msg = format!(
            "the kubeconfig for {} in {ISTIO_NAMESPACE}/{secret} sets insecure-skip-tls-verify: istiod in {} does not verify {}'s API server certificate",
            p.source, p.reader, p.source
        );
        out.push(at(e.warn(
            c,
            msg,
            &format!("recreate it with the cluster's CA: {recreate}"),
        )));
    } else {
        out.push(at(e.pass(
            c,
            format!(
                "the kubeconfig for {} passes the gate (inline server, CA and credential only)",
                p.source
            ),
        )));
    }
    Some(admitted)
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
