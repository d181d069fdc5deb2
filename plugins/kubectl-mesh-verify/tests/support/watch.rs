//! A running `mesh-verify --watch` and how to read what it says: its JSON lines, its metrics
//! endpoint, and the Events it recorded in a lab cluster.

use super::VERIFY;
use mesh_lab::Lab;
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `mesh-verify --watch -o json --metrics-address …`, its stdout lines gathered by a thread.
pub struct Watcher {
    pub child: Child,
    pub port: u16,
    pub lines: Arc<Mutex<Vec<Value>>>,
    pub stderr: std::path::PathBuf,
}

impl Watcher {
    /// Starts the watch in `dir` against the lab with `args` after the common ones.
    pub fn start(lab: &Lab, dir: &std::path::Path, args: &[String]) -> Watcher {
        let port = mesh_lab::allocate_ports(1).unwrap()[0];
        let mut cmd = Command::new(VERIFY);
        cmd.args(["--watch", "-o", "json", "--metrics-address"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("KUBECONFIG", lab.kubeconfig());
        Watcher::spawn(cmd, dir, port)
    }

    /// Starts `cmd` (a watch serving metrics on 127.0.0.1:`port`) in `dir`.
    pub fn spawn(mut cmd: Command, dir: &std::path::Path, port: u16) -> Watcher {
        let stderr = dir.join("watch.stderr");
        let mut child = cmd
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env_remove("MESH_CERTS_DIR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout is JSON lines: {e}: {line}"));
                sink.lock().unwrap().push(v);
            }
        });
        Watcher {
            child,
            port,
            lines,
            stderr,
        }
    }

    /// `GET path` on the metrics listener: (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        mesh_lab::http_get(self.port, path)
    }

    /// The value of the series that starts with `series` (`name{labels}`), if exposed.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics")?;
        body.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// Waits until `series` has `want`; returns how long it took. Panics after `within`.
    pub fn wait_metric(&self, series: &str, want: f64, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.metric(series);
            if got == Some(want) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{series} is {got:?}, not {want}, after {within:?}\nstderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The JSON lines about `id` in `cluster` (and `peer`) so far.
    pub fn changes(&self, id: &str, cluster: &str, peer: Option<&str>) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["id"] == id && l["cluster"] == cluster)
            .filter(|l| peer.is_none_or(|p| l["peer"] == p))
            .cloned()
            .collect()
    }

    /// Its stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Resident memory of the watch process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        mesh_lab::process::rss_kib(self.child.id()).unwrap_or(0)
    }

    /// Stops it with SIGTERM (as a Deployment's stop) and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "SIGTERM reached the watch");
        self.child.wait().unwrap().code()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Events the watch recorded in `ctx` (events.k8s.io/v1, reporting controller
/// `kubectl-mesh-verify`) whose note names `id`, with `reason`.
pub fn events(lab: &Lab, ctx: &str, id: &str, reason: &str) -> Vec<Value> {
    let list = mesh_lab::testing::kubectl_json(lab, ctx, &["get", "events.events.k8s.io", "-A"])
        .expect("events are listed");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "kubectl-mesh-verify")
        .filter(|e| e["reason"] == reason)
        .filter(|e| {
            e["note"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("{id} "))
        })
        .cloned()
        .collect()
}

/// Waits until exactly one such Event exists (and stays one for a moment); returns it.
pub fn one_event(
    watch: &Watcher,
    lab: &Lab,
    (ctx, id, reason): (&str, &str, &str),
    within: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        let found = events(lab, ctx, id, reason);
        assert!(
            found.len() <= 1,
            "one {reason} event for {id}, not {found:#?}"
        );
        if found.len() == 1 {
            std::thread::sleep(Duration::from_secs(2));
            let again = events(lab, ctx, id, reason);
            assert_eq!(again.len(), 1, "one {reason} event for {id}: {again:#?}");
            // A series (the same event repeated) would count on; a single one has none.
            assert!(again[0]["series"].is_null(), "{:#}", again[0]);
            return again.into_iter().next().unwrap();
        }
        assert!(
            start.elapsed() < within,
            "no {reason} event for {id} in {ctx} within {within:?}\nwatch stderr:\n{}\nwatch stdout:\n{:#?}",
            watch.stderr_text(),
            watch
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l["id"] == id)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
