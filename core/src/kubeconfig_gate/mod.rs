//! The one gate every kubeconfig read from a cluster passes before anything uses it.
//!
//! A remote secret (`istio/multiCluster=true` in `istio-system`) can be written by anyone with
//! rights on Secrets in one namespace of one cluster. Its kubeconfig is therefore untrusted
//! input: handed to a Kubernetes client as it is, an `exec` plugin or `auth-provider` would run a
//! program on the machine reading it, a `tokenFile` would read a local file and send it as a
//! bearer token to whatever `server` the same Secret names, and certificate paths would read
//! local files. istiod refuses all of these (`sanitizeKubeConfig` in Istio's multicluster secret
//! controller); istioctl once did not, and that was a security fix.
//!
//! [`admit`] parses the text into an allow-list and nothing else: one cluster, one context, one
//! user, with `server`, `certificate-authority-data`, `tls-server-name`,
//! `insecure-skip-tls-verify`, an inline `token` or inline client certificate and key. Every
//! other key is refused and named by its key path, never by its value. Only an [`Admitted`]
//! kubeconfig becomes a client ([`Admitted::to_kubeconfig`]), and the kubeconfig it builds has
//! no field that runs a program or reads a file, by construction. The gate is pure: no I/O, no
//! client, no environment.

use crate::secret::Secret;
use serde_json::{Map, Value};
use std::fmt;

/// Keys allowed at the top level (the three lists are read by [`entries`]).
const TOP: &[&str] = &[
    "apiVersion",
    "kind",
    "current-context",
    "preferences",
    "extensions",
    "clusters",
    "contexts",
    "users",
];
/// Keys allowed in `clusters[i].cluster`.
const CLUSTER: &[&str] = &[
    "server",
    "certificate-authority-data",
    "tls-server-name",
    "insecure-skip-tls-verify",
    "extensions",
];
/// Keys allowed in `contexts[i].context`.
const CONTEXT: &[&str] = &["cluster", "user", "namespace", "extensions"];
/// Keys allowed in `users[i].user`.
const USER: &[&str] = &[
    "token",
    "client-certificate-data",
    "client-key-data",
    "extensions",
];

/// Why a key we know is refused (anything unknown is refused as not on the allow-list).
fn refused_because(key: &str) -> &'static str {
    match key {
        "exec" => "an exec credential plugin runs a program on the machine that reads it",
        "auth-provider" => "an auth provider may run a program on the machine that reads it",
        "tokenFile" => "reads a local file and sends it as a bearer token",
        "client-certificate" | "client-key" | "certificate-authority" => {
            "a file path: reads a local file"
        }
        "proxy-url" => "sends the credentials through a proxy the secret chooses",
        "username" | "password" => "basic authentication is not used by remote secrets",
        "as" | "as-uid" | "as-groups" | "as-user-extra" => "impersonation",
        _ => "not on the allow-list of a remote secret's kubeconfig",
    }
}

/// One refused key, by its key path (`users[0].user.exec`), never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where, as a key path.
    pub path: String,
    /// Why it is refused.
    pub why: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.why)
    }
}

/// A kubeconfig the gate refused: every finding, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Vec<Finding>);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Finding::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Refusal {}

/// How the admitted kubeconfig authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An inline bearer token.
    Token(Secret<String>),
    /// An inline client certificate (base64 PEM, as in the kubeconfig) and its key.
    ClientCertificate {
        /// `client-certificate-data`.
        certificate_b64: String,
        /// `client-key-data`.
        key_b64: Secret<String>,
    },
    /// None at all (the server decides what an anonymous user may do).
    Anonymous,
}

/// A kubeconfig that passed the gate: only inline data, one cluster and one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The name of the cluster, context and user entries (the context's).
    pub context: String,
    /// `server`, an `https://` URL.
    pub server: String,
    /// `certificate-authority-data` (base64 PEM), if given.
    pub ca_b64: Option<String>,
    /// `tls-server-name`, if given.
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify: true`: honoured as istiod honours it, reported as a warning.
    pub insecure: bool,
    /// The credential.
    pub credential: Credential,
}

/// Passes `text` (a kubeconfig from a cluster) through the allow-list: the admitted settings,
/// or every refused key path.
pub fn admit(text: &str) -> Result<Admitted, Refusal> {
    let doc: Value = yaml_serde::from_str(text).map_err(|e| {
        Refusal(vec![Finding {
            path: "(document)".into(),
            why: format!("not a kubeconfig: {}", first_line(&e.to_string())),
        }])
    })?;
    let Some(top) = doc.as_object() else {
        return Err(one("(document)", "not a mapping"));
    };
    let mut findings = Vec::new();
    unknown_keys(top, TOP, "", &mut findings);
    let clusters = entries(top, "clusters", "cluster", CLUSTER, &mut findings);
    let contexts = entries(top, "contexts", "context", CONTEXT, &mut findings);
    let users = entries(top, "users", "user", USER, &mut findings);
    if !findings.is_empty() {
        return Err(Refusal(findings));
    }
    let (context, cluster, user) = resolve(top, &clusters, &contexts, &users)?;
    settings(context, cluster, user)
}

/// The text under `data.<key>` of a Secret as the API server returns it (base64), as every
/// reader of a remote secret takes it before [`admit`]: `None` without the key, `Err` (why)
/// when the value is not base64 UTF-8 text.
pub fn secret_text(secret: &Value, key: &str) -> Option<Result<String, &'static str>> {
    use base64::Engine as _;
    let value = secret["data"].get(key)?;
    Some(
        value
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("the value is not base64 UTF-8 text"),
    )
}

fn one(path: &str, why: &str) -> Refusal {
    Refusal(vec![Finding {
        path: path.into(),
        why: why.into(),
    }])
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Records every key of `map` that is not allowed.
fn unknown_keys(map: &Map<String, Value>, allowed: &[&str], at: &str, findings: &mut Vec<Finding>) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            findings.push(Finding {
                path: format!("{at}{key}"),
                why: refused_because(key).into(),
            });
        }
    }
}

/// The entries of list `list` (each `{name, <inner>: {…}}`), with the keys of `<inner>` checked
/// against `allowed`; more than one entry is refused.
fn entries<'a>(
    top: &'a Map<String, Value>,
    list: &str,
    inner: &str,
    allowed: &[&str],
    findings: &mut Vec<Finding>,
) -> Vec<(&'a str, &'a Map<String, Value>)> {
    let items = match top.get(list) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            findings.push(Finding {
                path: list.into(),
                why: "not a list".into(),
            });
            return Vec::new();
        }
    };
    if items.len() > 1 {
        findings.push(Finding {
            path: list.into(),
            why: format!("{} entries: a remote secret holds exactly one (a changed current-context could reach another)", items.len()),
        });
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{list}[{i}]");
        let (Some(entry), Some(body)) =
            (item.as_object(), item.get(inner).and_then(Value::as_object))
        else {
            findings.push(Finding {
                path: format!("{at}.{inner}"),
                why: "missing or not a mapping".into(),
            });
            continue;
        };
        unknown_keys(entry, &["name", inner], &format!("{at}."), findings);
        unknown_keys(body, allowed, &format!("{at}.{inner}."), findings);
        out.push((
            entry.get("name").and_then(Value::as_str).unwrap_or(""),
            body,
        ));
    }
    out
}

type Entry<'a> = (&'a str, &'a Map<String, Value>);

/// The current context and the cluster and user it names, each of which must exist.
fn resolve<'a>(
    top: &Map<String, Value>,
    clusters: &[Entry<'a>],
    contexts: &[Entry<'a>],
    users: &[Entry<'a>],
) -> Result<(&'a str, Entry<'a>, Option<Entry<'a>>), Refusal> {
    let current = top
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some((name, context)) = contexts.iter().find(|(n, _)| *n == current) else {
        return Err(one(
            "current-context",
            &format!("names no context in the kubeconfig ('{current}')"),
        ));
    };
    let named = |list: &[Entry<'a>], key: &str| {
        let wanted = context.get(key).and_then(Value::as_str).unwrap_or("");
        list.iter().find(|(n, _)| *n == wanted).copied()
    };
    let Some(cluster) = named(clusters, "cluster") else {
        return Err(one(
            "contexts[0].context.cluster",
            "names no cluster in the kubeconfig",
        ));
    };
    let user = named(users, "user");
    if user.is_none()
        && context
            .get("user")
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty())
    {
        return Err(one(
            "contexts[0].context.user",
            "names no user in the kubeconfig",
        ));
    }
    Ok((name, cluster, user))
}

/// The admitted settings of the resolved entries (values checked for type and form).
fn settings(
    context: &str,
    (_, cluster): Entry<'_>,
    user: Option<Entry<'_>>,
) -> Result<Admitted, Refusal> {
    let at = "clusters[0].cluster";
    let server = optional_string(cluster, "server", at)?
        .ok_or_else(|| one(&format!("{at}.server"), "missing"))?;
    if !server.starts_with("https://") {
        return Err(one(
            &format!("{at}.server"),
            "not an https:// URL (the credentials would cross the network in clear text)",
        ));
    }
    let insecure = match cluster.get("insecure-skip-tls-verify") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            return Err(one(
                &format!("{at}.insecure-skip-tls-verify"),
                "not a boolean",
            ));
        }
    };
    let ca_b64 = optional_string(cluster, "certificate-authority-data", at)?;
    if let Some(ca) = &ca_b64 {
        check_base64(ca, &format!("{at}.certificate-authority-data"))?;
    }
    Ok(Admitted {
        context: context.to_string(),
        server,
        ca_b64,
        tls_server_name: optional_string(cluster, "tls-server-name", at)?,
        insecure,
        credential: credential(user.map(|(_, u)| u))?,
    })
}

/// The string under `key` of `map` (at key path `at`), if any; any other type is refused.
fn optional_string(
    map: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, Refusal> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(one(&format!("{at}.{key}"), "not a string")),
    }
}

fn check_base64(text: &str, path: &str) -> Result<(), Refusal> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(drop)
        .map_err(|_| one(path, "not base64"))
}

fn credential(user: Option<&Map<String, Value>>) -> Result<Credential, Refusal> {
    let at = "users[0].user";
    let Some(user) = user else {
        return Ok(Credential::Anonymous);
    };
    let token = optional_string(user, "token", at)?;
    let cert = optional_string(user, "client-certificate-data", at)?;
    let key = optional_string(user, "client-key-data", at)?;
    match (token, cert, key) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(one(
            at,
            "both a token and a client certificate: a remote secret carries one credential",
        )),
        (Some(t), None, None) if t.is_empty() => Err(one(&format!("{at}.token"), "empty")),
        (Some(t), None, None) => Ok(Credential::Token(Secret::new(t))),
        (None, Some(c), Some(k)) => {
            check_base64(&c, &format!("{at}.client-certificate-data"))?;
            check_base64(&k, &format!("{at}.client-key-data"))?;
            Ok(Credential::ClientCertificate {
                certificate_b64: c,
                key_b64: Secret::new(k),
            })
        }
        (None, Some(_), None) => Err(one(
            &format!("{at}.client-key-data"),
            "missing beside client-certificate-data",
        )),
        (None, None, Some(_)) => Err(one(
            &format!("{at}.client-certificate-data"),
            "missing beside client-key-data",
        )),
        (None, None, None) => Ok(Credential::Anonymous),
    }
}

mod client;
#[cfg(test)]
mod tests;
