//! The retry of unanswered reads, against a client whose transport is a counted function (no
//! server: the point is what reaches the transport, which only a stand-in can count exactly).

use super::super::Kube;
use http_body_util::Full;
use hyper::body::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type Reply = Result<http::Response<Full<Bytes>>, std::io::Error>;

/// A `Kube` whose transport answers call `n` (from 0) with `answer(n)`, and the call counter.
fn kube_answering(answer: fn(usize) -> Reply) -> (Kube, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let service = tower::service_fn(move |_req: http::Request<kube::client::Body>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move { answer(n) }
    });
    let client = kube::Client::new(service, "default");
    (Kube::from_client("lab-1", client), calls)
}

fn timed_out() -> Reply {
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
}

fn status(code: u16, body: &str) -> Reply {
    Ok(http::Response::builder()
        .status(code)
        .body(Full::from(body.to_string()))
        .unwrap())
}

fn namespace() -> Reply {
    status(
        200,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"istio-system"}}"#,
    )
}

async fn read(kube: &Kube) -> Result<Option<serde_json::Value>, crate::cluster::ClusterError> {
    kube.get_live("v1", "Namespace", None, "istio-system").await
}

#[tokio::test]
async fn one_lost_answer_is_asked_again_and_the_second_answer_counts() {
    let (kube, calls) = kube_answering(|n| if n == 0 { timed_out() } else { namespace() });
    let found = read(&kube).await.unwrap().unwrap();
    assert_eq!(found["metadata"]["name"], "istio-system");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn two_lost_answers_make_the_cluster_unreachable_after_exactly_two_requests() {
    let (kube, calls) = kube_answering(|_| timed_out());
    let err = read(&kube).await.unwrap_err().to_string();
    assert!(
        err.contains("got no answer") || err.contains("timed out"),
        "{err}"
    );
    assert!(err.contains("lab-1"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_answer_is_final_even_an_error_status() {
    let (kube, calls) = kube_answering(|_| {
        status(
            500,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"boom","code":500}"#,
        )
    });
    let err = read(&kube).await.unwrap_err().to_string();
    assert!(err.contains("boom"), "{err}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "an error status is not retried"
    );
}

#[tokio::test]
async fn a_list_is_asked_again_after_a_lost_answer() {
    let (kube, calls) = kube_answering(|n| match n {
        0 => timed_out(),
        _ => status(
            200,
            r#"{"apiVersion":"v1","kind":"NamespaceList","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}"#,
        ),
    });
    let list = kube.list("v1", "Namespace", None, None).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
