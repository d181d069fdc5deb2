//! What the watch watches: the objects the checks read, one Kubernetes watch per kind and
//! cluster (with bookmarks, resumed from its resource version), each change sent as a
//! [`Trigger`]. A watch that fails (an API server stopped) triggers once, and again when it
//! is restored, so the cluster's checks are re-read at both moments.

use crate::cluster::Kube;
use crate::cluster::cache::{Cached, Scope};
use crate::labels::ISTIO_NAMESPACE;
use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc::Sender;

/// Something changed in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The cluster.
    pub cluster: String,
    /// What changed, for humans (`Secret istio-system/cacerts changed`).
    pub what: String,
}

/// One watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// Its API version.
    pub api_version: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// The namespace (`None`: cluster-scoped or every namespace).
    pub namespace: Option<&'static str>,
    /// A field selector.
    pub fields: Option<&'static str>,
}

const fn w(
    api_version: &'static str,
    kind: &'static str,
    namespace: Option<&'static str>,
    fields: Option<&'static str>,
) -> Watched {
    Watched {
        api_version,
        kind,
        namespace,
        fields,
    }
}

const NS: Option<&str> = Some(ISTIO_NAMESPACE);

/// Every kind a check reads, where it reads it.
pub const WATCHED: &[Watched] = &[
    w("v1", "Namespace", None, Some("metadata.name=istio-system")),
    w("v1", "Secret", NS, None),
    w(
        "v1",
        "ConfigMap",
        None,
        Some("metadata.name=istio-ca-root-cert"),
    ),
    w("v1", "Service", NS, None),
    w("v1", "ServiceAccount", NS, None),
    w("v1", "Pod", NS, None),
    w("apps/v1", "Deployment", NS, None),
    w("sailoperator.io/v1", "Istio", None, None),
    w("sailoperator.io/v1", "IstioCNI", None, None),
    w("networking.istio.io/v1", "Gateway", NS, None),
    w("networking.istio.io/v1", "VirtualService", NS, None),
    w("networking.istio.io/v1", "ServiceEntry", None, None),
    w(
        "v1",
        "ConfigMap",
        Some("kube-system"),
        Some("metadata.name=coredns"),
    ),
];

/// What one watch event means for the checks: `Some(text)` when they must be re-read.
pub fn meaning(kind: &str, event: &Event<DynamicObject>, listed: bool) -> Option<String> {
    let name = |o: &DynamicObject| match &o.metadata.namespace {
        Some(ns) => format!(
            "{kind} {ns}/{}",
            o.metadata.name.clone().unwrap_or_default()
        ),
        None => format!("{kind} {}", o.metadata.name.clone().unwrap_or_default()),
    };
    match event {
        Event::Apply(o) if listed => Some(format!("{} changed", name(o))),
        Event::Delete(o) if listed => Some(format!("{} deleted", name(o))),
        _ => None,
    }
}

/// Starts a watch of every served kind of [`WATCHED`] in every cluster; returns how many
/// watches run and, per cluster, the kinds it does not serve (said, not skipped silently).
pub async fn spawn(clusters: &[(String, Kube)], tx: Sender<Trigger>) -> (usize, Vec<String>) {
    let mut running = 0;
    let mut unserved = Vec::new();
    for (cluster, kube) in clusters {
        for spec in WATCHED {
            match kube.resource(spec.api_version, spec.kind).await {
                Ok(Some((resource, namespaced))) => {
                    let namespace = spec.namespace.filter(|_| namespaced);
                    let mut config = watcher::Config::default();
                    if let Some(f) = spec.fields {
                        config = config.fields(f);
                    }
                    let writer = Writer::new(resource.clone());
                    let live = Arc::new(AtomicBool::new(false));
                    kube.caches().add(Cached {
                        scope: Scope {
                            api_version: spec.api_version.into(),
                            kind: spec.kind.into(),
                            namespace: namespace.map(String::from),
                            fields: spec.fields.map(String::from),
                        },
                        store: writer.as_reader(),
                        live: live.clone(),
                    });
                    let cache = (writer, live);
                    let events = kube.watch(&resource, namespace, config);
                    let watch = follow(cluster.clone(), spec.kind, events, cache, tx.clone());
                    tokio::spawn(watch);
                    running += 1;
                }
                Ok(None) => unserved.push(format!("{cluster}: {}/{}", spec.api_version, spec.kind)),
                Err(e) => unserved.push(format!("{cluster}: {} ({e})", spec.kind)),
            }
        }
    }
    (running, unserved)
}

/// Follows one watch: each event updates the cache first, then is announced, so the
/// evaluation it triggers reads the new state. The cache answers only while it is listed and
/// its watch has not failed since.
async fn follow(
    cluster: String,
    kind: &'static str,
    events: impl futures::Stream<Item = watcher::Result<Event<DynamicObject>>> + Send + 'static,
    (mut writer, live): (Writer<DynamicObject>, Arc<AtomicBool>),
    tx: Sender<Trigger>,
) {
    let mut stream = events.default_backoff().boxed();
    let (mut listed, mut failed) = (false, false);
    while let Some(item) = stream.next().await {
        if let Ok(event) = &item {
            writer.apply_watcher_event(event);
        }
        let what = match item {
            Ok(event) => {
                let init_done = matches!(event, Event::InitDone);
                listed |= init_done;
                // A new list, or a change streamed after a resumed watch: the cache is whole.
                let whole =
                    init_done || (listed && matches!(event, Event::Apply(_) | Event::Delete(_)));
                if whole {
                    live.store(true, Ordering::Release);
                }
                match whole && std::mem::take(&mut failed) {
                    true => Some(format!("the watch of {kind} is restored")),
                    false if init_done => None,
                    false => meaning(kind, &event, listed),
                }
            }
            Err(e) => {
                live.store(false, Ordering::Release);
                (!std::mem::replace(&mut failed, true))
                    .then(|| format!("the watch of {kind} failed: {e}"))
            }
        };
        if let Some(what) = what
            && tx
                .send(Trigger {
                    cluster: cluster.clone(),
                    what,
                })
                .await
                .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(ns: Option<&str>, name: &str) -> DynamicObject {
        let mut o = DynamicObject::new(
            name,
            &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        );
        o.metadata.namespace = ns.map(String::from);
        o
    }

    #[test]
    fn the_initial_list_triggers_nothing_and_later_changes_do() {
        let o = object(Some("istio-system"), "cacerts");
        // During the initial list, objects are only being learnt.
        assert_eq!(meaning("Secret", &Event::InitApply(o.clone()), false), None);
        assert_eq!(meaning("Secret", &Event::Apply(o.clone()), false), None);
        // Positive control: once listed, the same event is a change, named.
        assert_eq!(
            meaning("Secret", &Event::Apply(o.clone()), true).as_deref(),
            Some("Secret istio-system/cacerts changed")
        );
        assert_eq!(
            meaning(
                "Namespace",
                &Event::Delete(object(None, "istio-system")),
                true
            )
            .as_deref(),
            Some("Namespace istio-system deleted")
        );
    }

    #[test]
    fn every_watched_kind_is_read_by_a_check() {
        // The checks read these kinds (checks::facts); a kind added there must be watched.
        for kind in [
            "Secret",
            "ConfigMap",
            "Namespace",
            "Service",
            "Pod",
            "Istio",
            "IstioCNI",
            "Gateway",
            "VirtualService",
            "Deployment",
        ] {
            assert!(
                WATCHED.iter().any(|w| w.kind == kind),
                "{kind} is not watched"
            );
        }
    }
}
