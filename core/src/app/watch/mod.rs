//! `kubectl mesh-verify --watch`: evaluate, then re-evaluate when a watched object changes or
//! an interval passes; print what changed, serve metrics, record events.
//!
//! Every trigger re-runs the whole evaluation (facts of every cluster, then the pure checks):
//! a change in one cluster can turn a check of another (a revoked reader token fails the
//! remote secret that embeds it). The facts come from the watches' caches (see
//! `cluster::cache`), so an evaluation costs one request per cluster (its liveness) plus the
//! remote-access probes with each remote secret's credentials. Triggers that arrive together
//! are folded into one evaluation.

pub mod alerts;
pub mod diff;
pub mod events;
pub mod exposition;
pub mod install;
pub mod metrics;
pub mod output;
pub mod server;
pub mod triggers;

use super::trust::Access;
use super::verify::{self, VerifyOptions};
use crate::checks::Report;
use crate::checks::lifetimes::certificate_lifetimes;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::kubeconfig::KubeconfigSource;
use crate::render::Printer;
use crate::targets::Target;
use server::{Shared, State};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use triggers::Trigger;

/// How long triggers are gathered before one evaluation runs.
const SETTLE: Duration = Duration::from_millis(500);

/// `--watch` options.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Re-evaluate at least this often (expiry, istiod's sync), changes or not.
    pub interval: Duration,
    /// Serve `/metrics`, `/healthz`, `/readyz` here.
    pub metrics_address: Option<SocketAddr>,
    /// Record a Kubernetes Event when a check changes state.
    pub events: bool,
    /// Redraw the table in place (stdout is a terminal).
    pub redraw: bool,
}

/// Binds the metrics address before anything else, so a taken port stops the run (exit 2).
async fn bind(addr: Option<SocketAddr>) -> Result<Option<tokio::net::TcpListener>, Error> {
    let Some(addr) = addr else { return Ok(None) };
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| {
            Error::input(
                format!("cannot listen on --metrics-address {addr}: {e}"),
                "choose a free HOST:PORT (e.g. 127.0.0.1:9464), or stop what listens there",
            )
        })
}

/// `mesh-verify --watch`: runs until interrupted (SIGINT, SIGTERM); exits as the last
/// evaluation says (0 no failure, 1 a failure).
pub async fn watch(
    opts: &VerifyOptions,
    w: &WatchOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let listener = bind(w.metrics_address).await?;
    let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let pairs: Vec<(String, String)> = opts
        .members
        .iter()
        .map(|m| (m.name.clone(), m.context.clone()))
        .collect();
    let targets = verify::connect_discovering(&source, &pairs, access.timeout).await?;
    let clusters: Vec<(String, crate::cluster::Kube)> = targets
        .iter()
        .map(|t| (t.name.clone(), t.kube.clone()))
        .collect();
    let state: State = Arc::new(Mutex::new(Shared {
        metrics: metrics::Metrics::new(),
        last_evaluation: None,
        stale_after: w.interval * 3 + Duration::from_secs(60),
        clusters: clusters.clone(),
    }));
    if let Some(l) = listener {
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        printer.progress(&format!(
            "metrics: http://{addr}/metrics (/healthz, /readyz)"
        ));
        tokio::spawn(server::serve(l, state.clone()));
    }
    // The watches get connections of their own, without the request timeout (a quiet watch
    // is not a slow request), sharing each cluster's request counter and caches.
    let mut watching = Vec::new();
    for (name, kube) in &clusters {
        watching.push((name.clone(), kube.for_watching(&source).await?));
    }
    let (tx, rx) = mpsc::channel(1024);
    let (running, unserved) = triggers::spawn(&watching, tx).await;
    printer.progress(&format!(
        "watching {running} kinds across {} cluster(s); re-evaluating on every change and every {}s",
        clusters.len(),
        w.interval.as_secs()
    ));
    if !unserved.is_empty() {
        printer.progress(&format!(
            "not served, so not watched: {}",
            unserved.join(", ")
        ));
    }
    let recorders = w.events.then(|| events::recorders(&clusters));
    let run = Loop {
        opts,
        w,
        targets: &targets,
        timeout: access.timeout,
        printer,
        state,
        recorders,
        pending: Vec::new(),
    };
    run.run(rx).await
}

struct Loop<'a> {
    opts: &'a VerifyOptions,
    w: &'a WatchOptions,
    targets: &'a [Target],
    timeout: Option<Duration>,
    printer: &'a Printer,
    state: State,
    recorders: Option<std::collections::BTreeMap<String, kube::runtime::events::Recorder>>,
    /// Events a cluster did not take yet.
    pending: Vec<(String, diff::Change)>,
}

impl Loop<'_> {
    async fn run(mut self, mut rx: mpsc::Receiver<Trigger>) -> Result<ExitStatus, Error> {
        let mut last: Option<Report> = None;
        let (mut kind, mut cause) = ("start", "start".to_string());
        // One listener for the whole run, so a signal during an evaluation is not lost.
        let stop = shutdown();
        tokio::pin!(stop);
        loop {
            let report = self.evaluate(last.as_ref(), kind, &cause).await?;
            let failed = !report.success;
            last = Some(report);
            tokio::select! {
                got = rx.recv() => match got {
                    Some(first) => {
                        (kind, cause) = ("change", settle(first, &mut rx).await);
                    }
                    // Every watch ended: nothing more will tell us of a change.
                    None => {
                        tokio::time::sleep(self.w.interval).await;
                        (kind, cause) = ("interval", "interval".into());
                    }
                },
                _ = tokio::time::sleep(self.w.interval) => {
                    (kind, cause) = ("interval", "interval".into());
                }
                _ = &mut stop => {
                    self.printer.progress("stopping the watch");
                    return Ok(ExitStatus::problems_if(failed));
                }
            }
        }
    }

    /// One evaluation: report, output, metrics, events.
    async fn evaluate(
        &mut self,
        before: Option<&Report>,
        kind: &str,
        cause: &str,
    ) -> Result<Report, Error> {
        let started = Instant::now();
        let (report, facts) =
            verify::run_once(self.opts, self.targets, self.timeout, Vec::new()).await;
        let now = SystemClock.now();
        let changes = diff::changes(before, &report);
        let time = output::clock(now.unix_timestamp());
        let frame = output::Frame {
            report: &report,
            changes: &changes,
            first: before.is_none(),
            time: &time,
            cause,
        };
        if let Some(text) = output::render(
            &frame,
            self.opts.format,
            self.w.redraw,
            self.printer.out_style(),
        ) {
            self.printer.data(&text)?;
        }
        if let Ok(mut s) = self.state.lock() {
            let lifetimes = certificate_lifetimes(&facts, now);
            let secs = started.elapsed().as_secs_f64();
            s.metrics
                .record(&report, &lifetimes, secs, kind, now.unix_timestamp());
            s.last_evaluation = Some(Instant::now());
        }
        if let Some(recorders) = &self.recorders {
            // A context's cluster is named after its Istio: its Events go to that context.
            let aliases: std::collections::BTreeMap<String, String> = facts
                .iter()
                .filter_map(|f| {
                    let t = self.targets.iter().find(|t| t.kube.context == f.context)?;
                    Some((f.name.clone(), t.name.clone()))
                })
                .collect();
            let sinks = events::Sinks {
                recorders,
                aliases: &aliases,
                fallback: self.targets.first().map_or("", |t| t.name.as_str()),
            };
            let lines = events::publish(&sinks, &mut self.pending, &changes).await;
            for line in lines {
                self.printer.warn(&line);
            }
        }
        Ok(report)
    }
}

/// Waits [`SETTLE`] for more triggers and says what triggered the evaluation.
async fn settle(first: Trigger, rx: &mut mpsc::Receiver<Trigger>) -> String {
    tokio::time::sleep(SETTLE).await;
    let mut more = 0;
    while rx.try_recv().is_ok() {
        more += 1;
    }
    let also = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{} in {}{also}", first.what, first.cluster)
}

/// Resolves on SIGINT or SIGTERM (a Deployment's stop).
async fn shutdown() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut t) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = t.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
