//! The port-forward section of `lab_verify`: istiod is read the way a user's first run reads
//! it, by port-forward through the API server to the pod (the lab's kwok serves the kubelet's
//! side), and a new istiod pod is followed.

use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `kubectl port-forward` to `pod`'s monitoring port: the child, its stdout (kept open: kubectl
/// writes a line per connection and would die of a closed pipe) and the local port.
fn kubectl_port_forward(
    lab: &Lab,
    ctx: &str,
    pod: &str,
) -> (Child, BufReader<std::process::ChildStdout>, u16) {
    let mut child = lab
        .kubectl(ctx)
        .args(["port-forward", "-n", "istio-system", &format!("pod/{pod}")])
        .arg(":15014")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // "Forwarding from 127.0.0.1:PORT -> 15014"
    let port = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("kubectl port-forward said: {line}"));
    (child, out, port)
}

/// `GET path` on a local port with HTTP/1.1, reading the body its `Content-Length` says (the
/// forwarded stream stays open after istiod answers): (status, body).
fn get_framed(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })?;
            if body.len() >= length {
                let code = head.split_whitespace().nth(1)?.parse().ok()?;
                return Some((code, body[..length].to_string()));
            }
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// The message of east's `istiod.remote-clusters-synced`.
fn synced_message(report: &Value) -> String {
    let r = results(report, "istiod.remote-clusters-synced");
    let east = r.iter().find(|c| c["cluster"] == "east").unwrap();
    assert_eq!(east["result"], "pass", "{east:#}");
    east["message"].as_str().unwrap().to_string()
}

/// `kubectl port-forward` answers istiod's `/debug/clusterz`; `mesh-verify` reads istiod by
/// port-forward and names the pod; the pod deleted, the operator's Deployment makes a new one,
/// which verify reaches by port-forward in its turn.
pub fn istiod_is_read_by_port_forward_and_a_new_pod_followed(mesh: &Mesh) {
    mesh.is_healthy();
    let lab = mesh.lab;
    let old = istiod_pods(lab, "lab-1");
    assert_eq!(old.len(), 1, "{old:?}");
    let (mut child, _out, port) = kubectl_port_forward(lab, "lab-1", &old[0]);
    let answer = get_framed(port, "/debug/clusterz");
    let _ = child.kill();
    let _ = child.wait();
    let (code, body) = answer.expect("an answer through kubectl port-forward");
    assert_eq!(code, 200, "{body}");
    let clusterz: Value = serde_json::from_str(&body).unwrap();
    assert!(
        clusterz
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "west"),
        "{clusterz:#}"
    );

    let (_, report) = mesh.verify(&["--allow-loopback"]);
    let before = synced_message(&report);
    assert!(
        before.contains(&format!("pod {}, by port-forward", old[0])),
        "{before}"
    );

    // The kubelet (kwok) loses the pod's forward: istiod cannot be read, and the check says so
    // in a sentence (no Rust dump of the API server's Status).
    let forward = [
        "delete",
        "portforwards.kwok.x-k8s.io",
        "-n",
        "istio-system",
        &old[0],
    ];
    kubectl(lab, "lab-1", &forward);
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    let r = results(&report, "istiod.remote-clusters-synced");
    let east = r.iter().find(|c| c["cluster"] == "east").unwrap();
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(east["result"], "fail", "{east:#}");
    let m = east["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("pod {}, by port-forward", old[0])),
        "{m}"
    );
    assert!(
        !m.contains("Status {") && !m.contains("ErrorResponse"),
        "{m}"
    );
    // Repaired by a new pod (which gets its own forward).
    kubectl(
        lab,
        "lab-1",
        &["delete", "pod", "-n", "istio-system", &old[0]],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let new = loop {
        let now = istiod_pods(lab, "lab-1");
        if let [one] = now.as_slice()
            && *one != old[0]
        {
            break one.clone();
        }
        assert!(Instant::now() < deadline, "no new istiod pod: {now:?}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    let after = synced_message(&report);
    assert!(
        after.contains(&format!("pod {new}, by port-forward")),
        "{after}"
    );
    assert!(!after.contains(&old[0]), "{after}");
}
