//! Waiting until every istiod that reads a cluster reports it synced with the rewritten
//! remote secret, through istiod's `/debug/clusterz` (the same reach as `mesh-verify`).
//!
//! clusterz names the cluster, its remote secret and a status, not which kubeconfig the entry
//! was built from. istiod replaces the entry as soon as it processes the changed Secret (the
//! new entry reports `syncing` until its informers synced with the new token, and never
//! `synced` when the token does not work), so a reader is confirmed when a sample taken after
//! the write shows the cluster `synced` and either a `syncing` was seen since the write, or
//! [`SETTLE`] has passed since it (istiod handles a Secret event in milliseconds).

use crate::checks::istiod::{ClusterzEntry, IstiodAccess, clusterz};
use crate::cluster::Kube;
use crate::labels::ISTIO_NAMESPACE;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// How a run learns that every istiod reading a source took the rewritten remote secret.
/// istiod answers through a port-forward (or a local address), which no in-memory cluster
/// models, so this is the seam: [`Clusterz`] asks istiod, unit tests script the answer.
pub trait SyncWatch<C> {
    /// Waits until every reader's istiod reports `source` synced, or `timeout` passes;
    /// returns the readers not confirmed, each with what was last seen.
    fn await_synced(
        &self,
        source: &str,
        readers: &[(String, &C)],
        timeout: Duration,
    ) -> impl Future<Output = Vec<String>>;
}

/// The watch of the plugin: istiod's `/debug/clusterz`, at the given monitoring addresses or
/// through a port-forward to a Running `app=istiod` pod.
#[derive(Debug, Clone, Copy)]
pub struct Clusterz<'a> {
    /// Direct istiod monitoring addresses by cluster (a local istiod).
    pub addresses: &'a BTreeMap<String, String>,
}

impl SyncWatch<Kube> for Clusterz<'_> {
    fn await_synced(
        &self,
        source: &str,
        readers: &[(String, &Kube)],
        timeout: Duration,
    ) -> impl Future<Output = Vec<String>> {
        await_synced(source, readers, self.addresses, timeout)
    }
}

/// How long after the write a `synced` report counts without a `syncing` seen before it.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What the samples of one reader since the write say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// A sample showed the source `syncing` since the write.
    pub saw_syncing: bool,
    /// The last sample's status for the source (`None`: not listed, or no answer).
    pub last: Option<String>,
}

impl Watch {
    /// Adds one sample: the source's status in istiod's clusterz.
    pub fn sample(&mut self, status: Option<&str>) {
        if status == Some("syncing") {
            self.saw_syncing = true;
        }
        self.last = status.map(String::from);
    }

    /// Whether the reader is confirmed synced with the new secret, `elapsed` after the write.
    pub fn confirmed(&self, elapsed: Duration) -> bool {
        self.last.as_deref() == Some("synced") && (self.saw_syncing || elapsed >= SETTLE)
    }
}

/// The status of `source` in a clusterz answer.
pub fn status_of<'a>(entries: &'a [ClusterzEntry], source: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| e.id == source)
        .map(|e| e.sync_status.as_str())
}

/// How to reach `cluster`'s istiod: the given address, else a port-forward to a Running
/// `app=istiod` pod (`None` when none runs).
pub async fn reach(
    kube: &Kube,
    cluster: &str,
    addresses: &BTreeMap<String, String>,
) -> Result<(IstiodAccess, Option<String>), String> {
    if let Some(a) = addresses.get(cluster) {
        return Ok((IstiodAccess::Direct(a.clone()), None));
    }
    let pods = kube
        .list("v1", "Pod", Some(ISTIO_NAMESPACE), Some("app=istiod"))
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        IstiodAccess::PortForward,
        crate::checks::istiod::pick_pod(&pods),
    ))
}

/// Polls every reader's istiod until each is confirmed or `timeout` passes; returns the
/// readers not confirmed, each with what was last seen.
pub async fn await_synced(
    source: &str,
    readers: &[(String, &Kube)],
    addresses: &BTreeMap<String, String>,
    timeout: Duration,
) -> Vec<String> {
    let written = Instant::now();
    let mut watches: Vec<Watch> = vec![Watch::default(); readers.len()];
    let mut errors: Vec<Option<String>> = vec![None; readers.len()];
    loop {
        for (i, (name, kube)) in readers.iter().enumerate() {
            if watches[i].confirmed(written.elapsed()) {
                continue;
            }
            let view = match reach(kube, name, addresses).await {
                Ok((access, pod)) => {
                    clusterz(kube, &access, pod.as_deref(), Duration::from_secs(10)).await
                }
                Err(e) => Err(e),
            };
            match view {
                Ok(Some(entries)) => {
                    watches[i].sample(status_of(&entries, source));
                    errors[i] = None;
                }
                Ok(None) => errors[i] = Some("no Running app=istiod pod".into()),
                Err(e) => errors[i] = Some(e),
            }
        }
        let elapsed = written.elapsed();
        if watches.iter().all(|w| w.confirmed(elapsed)) {
            return Vec::new();
        }
        if elapsed >= timeout {
            return readers
                .iter()
                .zip(watches.iter().zip(&errors))
                .filter(|(_, (w, _))| !w.confirmed(elapsed))
                .map(|((name, _), (w, e))| match e {
                    Some(e) => format!("{name}: cannot read istiod's /debug/clusterz: {e}"),
                    None => format!(
                        "{name}: istiod reports {source} {}",
                        w.last
                            .as_deref()
                            .unwrap_or("unknown (no remote secret loaded)")
                    ),
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_counts_after_a_syncing_or_once_istiod_had_time_to_take_the_secret() {
        let mut w = Watch::default();
        w.sample(Some("synced"));
        assert!(
            !w.confirmed(Duration::from_secs(1)),
            "may still be the old entry"
        );
        assert!(w.confirmed(SETTLE));
        let mut w = Watch::default();
        w.sample(Some("syncing"));
        assert!(!w.confirmed(Duration::from_secs(60)));
        w.sample(Some("synced"));
        assert!(
            w.confirmed(Duration::from_millis(300)),
            "the new entry synced"
        );
        for bad in [Some("timeout"), Some("closed"), None] {
            let mut w = Watch::default();
            w.sample(Some("syncing"));
            w.sample(bad);
            assert!(!w.confirmed(Duration::from_secs(60)), "{bad:?}");
        }
    }

    #[test]
    fn the_status_is_the_sources_entry() {
        let e = |id: &str, s: &str| ClusterzEntry {
            id: id.into(),
            secret_name: String::new(),
            sync_status: s.into(),
        };
        let entries = vec![e("west", "synced"), e("east", "syncing")];
        assert_eq!(status_of(&entries, "east"), Some("syncing"));
        assert_eq!(status_of(&entries, "north"), None);
    }
}
