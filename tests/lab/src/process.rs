//! Local processes of the lab: spawning with a log file, liveness, stopping, free ports.

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One running program of the lab.
#[derive(Debug)]
pub struct Proc {
    /// Program name, e.g. `kube-apiserver`.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Starts `bin` with `args` (and extra `env`), output into `log`, in its own process group
    /// so that a Ctrl-C in the terminal that ran `mesh-lab up` does not reach it.
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
        cwd: &Path,
    ) -> Result<Proc> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {} ({})", name, bin.display()))?;
        Ok(Proc {
            name: name.to_string(),
            pid: child.id(),
            log: log.to_path_buf(),
            child: Some(child),
        })
    }

    /// A process known only by pid (from the lab's state file).
    pub fn adopt(name: &str, pid: u32, log: PathBuf) -> Proc {
        Proc {
            name: name.to_string(),
            pid,
            log,
            child: None,
        }
    }

    /// Whether the process still runs. Reaps our own children.
    pub fn alive(&mut self) -> bool {
        if let Some(child) = self.child.as_mut() {
            return matches!(child.try_wait(), Ok(None));
        }
        pid_alive(self.pid, &self.name)
    }

    /// Returns the exit status if the process has ended (own children only).
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if !self.alive() && !group_alive(self.pid) {
            return;
        }
        signal(self.pid, Signal::TERM);
        // The leader and what it started (the pod runner's istiods) get the grace period; an
        // istiod that outlives its runner would otherwise run on, orphaned, after the lab.
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.alive() && !group_alive(self.pid) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(self.pid, Signal::KILL);
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait();
        } else {
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(self.pid, &self.name) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the process: it holds its sockets but answers
    /// nothing meanwhile, as a hung or partitioned server does.
    pub fn freeze(&self, frozen: bool) {
        signal(self.pid, if frozen { Signal::STOP } else { Signal::CONT });
    }

    /// Lets the process run on after this handle is gone (for `mesh-lab up`).
    pub fn detach(&mut self) {
        self.child = None;
    }

    /// Resident memory in KiB (from `/proc`).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

/// Signals the process and its process group: every lab process leads its own group
/// ([`Proc::spawn`]), so what it started itself (the pod runner's istiods) stops with it.
fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, sig);
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// Whether any process is left in the group `pid` leads (the leader reaped or not).
fn group_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok())
}

/// Whether `pid` runs and is the program `name`, or a role of it (`mesh-lab-pods` is
/// `mesh-lab pods`): a guard against pid reuse; zombies are dead.
pub fn pid_alive(pid: u32, name: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    let program = argv0.rsplit('/').next().unwrap_or_default();
    !program.is_empty() && (program == name || name.starts_with(&format!("{program}-")))
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The last `lines` lines of a log file (reads at most its last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `count` distinct free loopback ports (bound together, then released).
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free loopback ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Fails with a clear message when `port` is taken.
pub fn ensure_free(port: u16, what: &str) -> Result<()> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "port 127.0.0.1:{port} for {what} is not free ({e}); \
             hint: stop what listens there, or choose other ports with --base-port"
        ),
    }
}

/// Polls `probe` until it returns true, failing when `deadline` passes or a watched process
/// exits (so a crash is reported at once, with its log).
pub fn wait_for(
    what: &str,
    timeout: Duration,
    procs: &mut [&mut Proc],
    mut probe: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return Ok(());
        }
        for p in procs.iter_mut() {
            if let Some(status) = p.exited() {
                bail!(
                    "{} exited ({status}) while waiting for {what}; its log ({}) ends with:\n{}",
                    p.name,
                    p.log.display(),
                    p.log_tail(15)
                );
            }
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The pids whose process group is `pgid` (from `/proc/PID/stat`, field 5).
    fn group_members(pgid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            // After the command: state, ppid, pgrp; zombies are gone already in all but name.
            if rest.get(2) == Some(&pgid.to_string().as_str()) && rest.first() != Some(&"Z") {
                out.push(pid);
            }
        }
        out
    }

    #[test]
    fn stop_takes_what_the_process_started_even_when_it_outlives_its_leader() {
        let dir = tempfile::tempdir().unwrap();
        // The leader dies on TERM; its background child ignores TERM (as an istiod draining
        // against a stopped API server in effect does).
        let script = "(trap '' TERM; exec sleep 300) & sleep 300";
        let mut p = Proc::spawn(
            "sh",
            Path::new("/bin/sh"),
            &["-c".to_string(), script.to_string()],
            &[],
            &dir.path().join("log"),
            dir.path(),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(p.pid).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Positive control: the leader and both sleeps are seen in the group.
        assert_eq!(group_members(p.pid).len(), 3, "{:?}", group_members(p.pid));
        p.stop(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(p.pid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(group_members(p.pid), Vec::<u32>::new());
    }

    #[test]
    fn a_role_of_a_program_is_that_program() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(pid_alive(me, &name));
        assert!(pid_alive(me, &format!("{name}-pods")));
        assert!(!pid_alive(me, "kube-apiserver"));
        assert!(!pid_alive(me, &name[..name.len() - 1]));
    }
}
