//! Remote secrets written by an attacker: kubeconfigs whose user runs a program, reads a local
//! token file, names certificate files or an auth provider with a command, all pointing at a
//! local TLS listener that records every request and its `Authorization` header. The listener
//! is Python's `http.server` behind `ssl` (a tool we did not write), answering 401.

use super::watch::Watcher;
use super::{Mesh, results};
use mesh_lab::Lab;
use mesh_lab::testing::run_plugin as run;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LISTENER: &str = r#"
import http.server, ssl, sys
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Recorder(http.server.BaseHTTPRequestHandler):
    def answer(self):
        with open(log, "a") as f:
            f.write("%s %s auth=%s\n" % (self.command, self.path, self.headers.get("Authorization", "")))
        body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Recorder)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"#;

/// A local TLS listener recording each request as `METHOD PATH auth=HEADER` in a file.
pub struct Listener {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Listener {
    /// Starts it in `dir` with a fresh self-signed certificate (openssl).
    pub fn start(dir: &Path) -> Listener {
        let (cert, key) = (dir.join("listener.crt"), dir.join("listener.key"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl made the listener's certificate");
        let port = mesh_lab::allocate_ports(1).unwrap()[0];
        let log = dir.join("listener.log");
        std::fs::write(&log, "").unwrap();
        let mut child = Command::new("python3")
            .args(["-c", LISTENER, &port.to_string()])
            .args([&cert, &key, &log])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let out = child.stdout.as_mut().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the listener started");
        Listener { child, port, log }
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        std::fs::write(&self.log, "").unwrap();
    }

    /// Every request recorded so far.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Waits (at most `within`) until a recorded request contains `text`.
    pub fn saw(&self, text: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.requests().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A remote-secret kubeconfig for `west` at the listener with `user` as its user body.
pub fn kubeconfig(port: u16, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: west\n\
         clusters:\n- name: west\n  cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\n\
         contexts:\n- name: west\n  context: {{cluster: west, user: west}}\n\
         users:\n- name: west\n  user: {user}\n"
    )
}

/// The four attacks: (name, user body, the key path the gate must name). `dir` holds the
/// markers a program would create and the token file a client would send.
pub fn attacks(dir: &Path) -> Vec<(&'static str, String, &'static str)> {
    let marker = |name: &str| dir.join(name).display().to_string();
    let token_file = dir.join("stolen-token");
    // No trailing newline, as a service account's token file.
    std::fs::write(&token_file, "stolen-token-from-a-local-file").unwrap();
    vec![
        (
            "exec",
            format!(
                "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, 'touch {}'], interactiveMode: Never}}}}",
                marker("exec-ran")
            ),
            "users[0].user.exec",
        ),
        (
            "tokenFile",
            format!("{{tokenFile: {}}}", token_file.display()),
            "users[0].user.tokenFile",
        ),
        (
            "certificate files",
            format!(
                "{{client-certificate: {}, client-key: {}}}",
                dir.join("listener.crt").display(),
                dir.join("listener.key").display()
            ),
            "users[0].user.client-certificate",
        ),
        (
            "auth-provider",
            format!(
                "{{auth-provider: {{name: gcp, config: {{cmd-path: /bin/sh, cmd-args: '-c \"touch {}\"'}}}}}}",
                marker("auth-provider-ran")
            ),
            "users[0].user.auth-provider",
        ),
    ]
}

/// What no attack may leave: a marker file, or the token file's content at the listener.
pub fn assert_nothing_ran_or_leaked(dir: &Path, listener: &Listener, after: &str) {
    for marker in ["exec-ran", "auth-provider-ran"] {
        assert!(
            !dir.join(marker).exists(),
            "{after}: {marker} exists: a program ran"
        );
    }
    let seen = listener.requests();
    assert!(
        !seen.contains("stolen-token-from-a-local-file"),
        "{after}: the token file reached the listener:\n{seen}"
    );
    assert!(
        seen.is_empty(),
        "{after}: a refused kubeconfig made a request:\n{seen}"
    );
}

/// The lab's own kubectl run with `kubeconfig` (a tool we did not write, which honours every
/// field): the positive control that the attacks are live.
pub fn kubectl_with(lab: &Lab, kubeconfig: &Path) -> std::process::Output {
    Command::new(lab.bin_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "namespaces", "--request-timeout", "5s"])
        .output()
        .unwrap()
}

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One attack in place: the watch's last line, `mesh-verify` and `mesh-join plan` name `path`.
pub fn attack_is_refused(watch: &Watcher, mesh: &Mesh, (name, path): (&str, &str)) {
    let lines = watch.changes("remote.kubeconfig", "east", Some("west"));
    let message = lines.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(path),
        "{name}: the watch names {path}: {message}"
    );
    let (code, report) = mesh.verify(&["--allow-loopback", "--request-timeout", "3s"]);
    assert_eq!(code, Some(1), "{name}: {report:#}");
    let found = results(&report, "remote.kubeconfig");
    let pair = found
        .iter()
        .find(|r| r["cluster"] == "east" && r["peer"] == "west")
        .unwrap();
    assert_eq!(pair["result"], "fail", "{name}: {pair:#}");
    assert!(
        pair["message"].as_str().unwrap().contains(path),
        "{name}: {pair:#}"
    );
    if name == "exec" {
        plan_replaces_it(mesh, path);
    }
}

/// `mesh-join plan` over the attack (once: a plan reads every cluster) says it replaces it.
fn plan_replaces_it(mesh: &Mesh, path: &str) {
    // The attacker's write belongs to another field manager: the plan names it unless told to
    // take it over; with --force-conflicts it shows the replacement and why.
    let args = [
        "plan",
        "-f",
        "mesh.yaml",
        "--allow-loopback",
        "-o",
        "json",
        "--force-conflicts",
    ];
    let plan = run(&mesh.join, mesh.lab, mesh.dir, &args);
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(
        shown.contains("replaces a kubeconfig the gate refused") && shown.contains(path),
        "{shown}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
}
