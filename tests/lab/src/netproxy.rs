//! The lab's pod network, as the API server sees it: an HTTP CONNECT proxy on a Unix socket
//! that the API server's egress selector (`cluster` traffic: admission webhooks, aggregated
//! APIs) dials through. A pod address the lab runs as a local process (`POD_IP:PORT`) is routed to the
//! process's loopback port; any other destination is refused (502), as an unreachable pod is.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixListener;
#[cfg(test)]
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// `POD_IP:PORT` → `127.0.0.1:PORT` of the process serving it.
pub type Routes = Arc<Mutex<BTreeMap<String, String>>>;

/// Where a CONNECT target goes: a loopback address, or nowhere.
pub type Router = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A router over one fixed table.
pub fn table_router(routes: Routes) -> Router {
    Arc::new(move |target: &str| routes.lock().ok()?.get(target).cloned())
}

/// The API server's egress selector configuration: `cluster` traffic through the proxy.
pub fn egress_selector(socket: &Path) -> String {
    format!(
        "apiVersion: apiserver.k8s.io/v1beta1\nkind: EgressSelectorConfiguration\negressSelections:\n- name: cluster\n  connection:\n    proxyProtocol: HTTPConnect\n    transport:\n      uds:\n        udsName: {}\n",
        socket.display()
    )
}

/// Serves the proxy on the Unix socket `socket` until the process ends (one thread per
/// connection).
pub fn serve(socket: &Path, router: Router) -> std::io::Result<()> {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    accept_forever(move || listener.accept().map(|(s, _)| s), router);
    Ok(())
}

/// The same proxy on `127.0.0.1:port`, for programs that take `HTTPS_PROXY`.
pub fn serve_tcp(port: u16, router: Router) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    accept_forever(move || listener.accept().map(|(s, _)| s), router);
    Ok(())
}

/// Accepts connections on a thread of its own and handles each on another.
fn accept_forever<S>(
    mut accept: impl FnMut() -> std::io::Result<S> + Send + 'static,
    router: Router,
) where
    S: HalfClose + std::io::Read + Send + 'static,
{
    std::thread::spawn(move || {
        loop {
            let Ok(conn) = accept() else { continue };
            let router = router.clone();
            std::thread::spawn(move || {
                let _ = conn
                    .split()
                    .and_then(|w| handle(BufReader::new(conn), w, &router));
            });
        }
    });
}

/// The target of a `CONNECT host:port HTTP/1.1` request line.
pub fn connect_target(request_line: &str) -> Option<&str> {
    let mut parts = request_line.split_whitespace();
    (parts.next()? == "CONNECT").then_some(())?;
    let target = parts.next()?;
    parts.next()?.starts_with("HTTP/").then_some(target)
}

fn handle<R, W>(mut reader: BufReader<R>, conn: W, router: &Router) -> std::io::Result<()>
where
    R: std::io::Read + Send + 'static,
    W: HalfClose + Send + 'static,
{
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = connect_target(line.trim_end()).map(str::to_string);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let local = target.and_then(|t| router(&t));
    let mut client = conn;
    let Some(local) = local else {
        client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
        return Ok(());
    };
    let upstream = match TcpStream::connect(&local) {
        Ok(s) => s,
        Err(_) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Ok(());
        }
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let buffered = reader.buffer().to_vec();
    splice(client, reader, upstream, buffered)
}

/// A stream whose writing half can be closed on its own.
pub trait HalfClose: Write + Sized {
    /// Closes the writing half (the peer reads end of stream).
    fn close_write(&self);
    /// A second handle on the same stream (one side reads, the other writes).
    fn split(&self) -> std::io::Result<Self>;
}

impl HalfClose for std::os::unix::net::UnixStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
    fn split(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

impl HalfClose for TcpStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
    fn split(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

fn splice<R, W>(
    client: W,
    reader: BufReader<R>,
    mut upstream: TcpStream,
    buffered: Vec<u8>,
) -> std::io::Result<()>
where
    R: std::io::Read + Send + 'static,
    W: HalfClose + Send + 'static,
{
    upstream.write_all(&buffered)?;
    let mut from_client = reader.into_inner();
    let mut to_upstream = upstream.try_clone()?;
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let mut to_client = client;
    let _ = std::io::copy(&mut upstream, &mut to_client);
    to_client.close_write();
    let _ = up.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_lines() {
        assert_eq!(
            connect_target("CONNECT 10.1.0.5:15017 HTTP/1.1"),
            Some("10.1.0.5:15017")
        );
        assert_eq!(connect_target("GET / HTTP/1.1"), None);
        assert_eq!(connect_target("CONNECT 10.1.0.5:15017"), None);
    }

    #[test]
    fn routes_a_known_pod_address_and_refuses_others() {
        let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_addr = backend.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = backend.accept().unwrap();
            s.write_all(b"hello from the pod").unwrap();
        });
        let routes: Routes = Arc::default();
        routes
            .lock()
            .unwrap()
            .insert("10.1.0.5:15017".into(), backend_addr);
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("proxy.sock");
        serve(&socket, table_router(routes)).unwrap();
        let ask = |target: &str| {
            let mut s = UnixStream::connect(&socket).unwrap();
            write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut out);
            out
        };
        let known = ask("10.1.0.5:15017");
        assert!(known.starts_with("HTTP/1.1 200"), "{known}");
        assert!(known.ends_with("hello from the pod"), "{known}");
        let unknown = ask("10.1.0.6:15017");
        assert!(unknown.starts_with("HTTP/1.1 502"), "{unknown}");
    }
}
