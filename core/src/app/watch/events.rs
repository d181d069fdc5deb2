//! `--events`: a Kubernetes Event on the object a check concerns when the check changes state
//! (Warning when it turns into a warning or failure, Normal when it recovers). Events are
//! recorded only on a change, and kube's recorder folds repeats into one series.

use super::diff::Change;
use crate::checks::{Category, CheckId, Outcome};
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, REMOTE_SECRET_PREFIX, ROOT_CERT_CONFIGMAP};
use crate::manifests::gateway;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::BTreeMap;

const GATEWAY_API: &str = "networking.istio.io/v1";

/// The reporting controller's name in every Event.
pub const REPORTER: &str = "kubectl-mesh-verify";

fn reference(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        namespace: namespace.map(String::from),
        name: Some(name.into()),
        ..Default::default()
    }
}

/// The object a check's result is about: where its Event goes.
pub fn subject(id: CheckId, peer: Option<&str>) -> ObjectReference {
    let ns = Some(ISTIO_NAMESPACE);
    let namespace = || reference("v1", "Namespace", None, ISTIO_NAMESPACE);
    let istiod = || reference("apps/v1", "Deployment", ns, "istiod");
    match (id, id.info().category) {
        (CheckId::TrustRootConfigmap, _) => reference("v1", "ConfigMap", ns, ROOT_CERT_CONFIGMAP),
        (_, Category::Trust) => reference("v1", "Secret", ns, CACERTS_SECRET),
        (CheckId::ControlPlaneIstiodPods, _) | (_, Category::Istiod) => istiod(),
        (CheckId::NetworkEastwestService, _) => reference("v1", "Service", ns, gateway::EAST_WEST),
        (CheckId::NetworkEastwestPods, _) => {
            reference("apps/v1", "Deployment", ns, gateway::EAST_WEST)
        }
        (CheckId::NetworkCrossNetworkGateway, _) => {
            reference(GATEWAY_API, "Gateway", ns, gateway::CROSS_NETWORK_GATEWAY)
        }
        (CheckId::NetworkExposeIstiod, _) => {
            reference(GATEWAY_API, "Gateway", ns, gateway::ISTIOD_GATEWAY)
        }
        (_, Category::RemoteAccess) => match peer {
            Some(p) => reference("v1", "Secret", ns, &format!("{REMOTE_SECRET_PREFIX}{p}")),
            None => namespace(),
        },
        _ => namespace(),
    }
}

/// The Event for a change, when it is one worth recording.
pub fn event_for(c: &Change) -> Option<Event> {
    let (type_, reason) = if c.recovered() {
        (EventType::Normal, "CheckRecovered")
    } else if c.worsened() {
        match c.result {
            Some(Outcome::Fail) => (EventType::Warning, "CheckFailed"),
            _ => (EventType::Warning, "CheckWarning"),
        }
    } else {
        return None;
    };
    let subject = match crate::render::checks::where_(c.cluster.as_deref(), c.peer.as_deref()) {
        s if s.is_empty() => s,
        s => format!(" {s}"),
    };
    let mut note = format!("{}{subject}: {}", c.id, c.message);
    if !c.hint.is_empty() {
        note.push_str(&format!(" — hint: {}", c.hint));
    }
    // The API takes at most 1 kB.
    if note.len() > 1000 {
        let mut end = 997;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    Some(Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        // kube's recorder folds Events of one (reason, action, object) into a series that keeps
        // the first note: the check id as the action keeps two checks on one object apart.
        action: c.id.as_str().into(),
        secondary: None,
    })
}

/// One recorder per cluster, publishing as [`REPORTER`] (instance: the pod or host name).
pub fn recorders(clusters: &[(String, crate::cluster::Kube)]) -> BTreeMap<String, Recorder> {
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok();
    clusters
        .iter()
        .map(|(name, kube)| {
            let reporter = Reporter {
                controller: REPORTER.into(),
                instance: instance.clone(),
            };
            (name.clone(), kube.event_recorder(reporter))
        })
        .collect()
}

/// At most this many Events wait for a cluster that did not answer.
const PENDING_MAX: usize = 256;

/// Where Events go: a recorder per connected cluster (by its connection's name), the names
/// the checks gave those clusters (a context's cluster is named after its `Istio`), and the
/// cluster that takes the Events of mesh-wide checks.
pub struct Sinks<'a> {
    /// Recorders by connection name.
    pub recorders: &'a BTreeMap<String, Recorder>,
    /// A check's cluster name → the connection name.
    pub aliases: &'a BTreeMap<String, String>,
    /// The connection that takes a mesh-wide check's Event.
    pub fallback: &'a str,
}

impl std::fmt::Debug for Sinks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("recorders", &self.recorders.keys().collect::<Vec<_>>())
            .field("aliases", &self.aliases)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl Sinks<'_> {
    /// The connection a check's Event goes to (pure).
    pub fn target(&self, cluster: Option<&str>) -> String {
        let name = cluster.unwrap_or(self.fallback);
        self.aliases
            .get(name)
            .map_or(name, String::as_str)
            .to_string()
    }
}

/// Records the Events of `changes` after those still pending. An Event a cluster did not take
/// (it is unreachable: the very fault it reports) stays pending and is tried again on the next
/// evaluation, so it lands once the cluster answers. Returns what could not be recorded this
/// time, one line each (a cluster the watch has no connection to is one of them).
pub async fn publish(
    sinks: &Sinks<'_>,
    pending: &mut Vec<(String, Change)>,
    changes: &[Change],
) -> Vec<String> {
    let mut todo = std::mem::take(pending);
    todo.extend(
        changes
            .iter()
            .filter(|c| event_for(c).is_some())
            .map(|c| (sinks.target(c.cluster.as_deref()), c.clone())),
    );
    let mut failed = Vec::new();
    for (cluster, c) in todo {
        let Some(event) = event_for(&c) else { continue };
        let Some(recorder) = sinks.recorders.get(&cluster) else {
            failed.push(format!(
                "cannot record the {} event of {}: the watch has no connection to cluster {cluster}",
                event.reason, c.id
            ));
            continue;
        };
        let object = subject(c.id, c.peer.as_deref());
        if let Err(e) = recorder.publish(&event, &object).await {
            failed.push(format!(
                "cannot record the {} event of {} in {cluster} yet (retried on the next evaluation): {e}",
                event.reason, c.id
            ));
            if pending.len() < PENDING_MAX {
                pending.push((cluster, c));
            }
        }
    }
    failed
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
