//! `--metrics-address`: `/metrics` (the exposition), `/healthz` (the watch loop evaluated
//! recently) and `/readyz` (a first evaluation is done), over HTTP/1.1 with hyper.

use super::metrics::Metrics;
use crate::cluster::Kube;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the endpoints read, written by the watch loop.
#[derive(Debug)]
pub struct Shared {
    /// The metrics.
    pub metrics: Metrics,
    /// When the last evaluation ended (`None` before the first).
    pub last_evaluation: Option<Instant>,
    /// How old the last evaluation may be before `/healthz` fails (a stuck loop).
    pub stale_after: Duration,
    /// Each cluster's connection, for its request count.
    pub clusters: Vec<(String, Kube)>,
}

/// The shared state, locked briefly by the loop and by each request.
pub type State = Arc<Mutex<Shared>>;

use super::exposition::{OPENMETRICS, PROMETHEUS_TEXT, prometheus_text, wants_openmetrics};

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The answer to one request (pure but for the lock and the clock); `accept` is its
/// `Accept` header (OpenMetrics when it asks for it, else the classic text format).
pub fn answer(path: &str, accept: Option<&str>, state: &State) -> Response<Full<Bytes>> {
    let Ok(mut s) = state.lock() else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "state poisoned\n".into(),
        );
    };
    let text = "text/plain; charset=utf-8";
    match path {
        "/metrics" => {
            let totals: Vec<(String, u64)> = s
                .clusters
                .iter()
                .map(|(n, k)| (n.clone(), k.requests()))
                .collect();
            s.metrics.count_requests(&totals);
            let body = s.metrics.encode();
            match wants_openmetrics(accept) {
                true => reply(StatusCode::OK, OPENMETRICS, body),
                false => reply(StatusCode::OK, PROMETHEUS_TEXT, prometheus_text(&body)),
            }
        }
        "/readyz" => match s.last_evaluation {
            Some(_) => reply(StatusCode::OK, text, "ok\n".into()),
            None => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                "the first evaluation has not finished\n".into(),
            ),
        },
        "/healthz" => match s.last_evaluation {
            Some(t) if t.elapsed() > s.stale_after => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                format!(
                    "the last evaluation ended {}s ago (more than {}s)\n",
                    t.elapsed().as_secs(),
                    s.stale_after.as_secs()
                ),
            ),
            _ => reply(StatusCode::OK, text, "ok\n".into()),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            text,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Serves until the process ends; each connection on its own task.
pub async fn serve(listener: tokio::net::TcpListener, state: State) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let accept = req.headers().get(hyper::header::ACCEPT);
                let r = answer(
                    req.uri().path(),
                    accept.and_then(|a| a.to_str().ok()),
                    &state,
                );
                async move { Ok::<_, Infallible>(r) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn state(last: Option<Instant>) -> State {
        Arc::new(Mutex::new(Shared {
            metrics: Metrics::new(),
            last_evaluation: last,
            stale_after: Duration::from_secs(60),
            clusters: Vec::new(),
        }))
    }

    #[test]
    fn not_ready_until_the_first_evaluation_and_unhealthy_when_stale() {
        assert_eq!(answer("/readyz", None, &state(None)).status(), 503);
        assert_eq!(
            answer("/readyz", None, &state(Some(Instant::now()))).status(),
            200
        );
        assert_eq!(
            answer("/healthz", None, &state(Some(Instant::now()))).status(),
            200
        );
        let old = Instant::now()
            .checked_sub(Duration::from_secs(120))
            .unwrap();
        assert_eq!(answer("/healthz", None, &state(Some(old))).status(), 503);
    }

    #[test]
    fn metrics_are_openmetrics_when_asked_and_unknown_paths_are_404() {
        let om = Some("application/openmetrics-text; version=1.0.0");
        let r = answer("/metrics", om, &state(None));
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[hyper::header::CONTENT_TYPE], OPENMETRICS);
        let r = answer("/metrics", Some("text/plain"), &state(None));
        assert_eq!(r.headers()[hyper::header::CONTENT_TYPE], PROMETHEUS_TEXT);
        assert_eq!(answer("/nope", None, &state(None)).status(), 404);
    }
}
