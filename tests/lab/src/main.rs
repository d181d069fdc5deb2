//! `mesh-lab`: start, stop and inspect local lab clusters.
//!
//!   cargo run -p mesh-lab -- up --clusters 2 --dir ./lab
//!   cargo run -p mesh-lab -- status --dir ./lab
//!   cargo run -p mesh-lab -- down --dir ./lab

use clap::{Parser, Subcommand};
use mesh_lab::state::LabState;
use mesh_lab::{Lab, LabOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "mesh-lab",
    version,
    about = "Local Kubernetes control planes for trying and testing kubectl-mesh"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start N clusters, wait until they are ready, write DIR/kubeconfig and leave them running.
    Up {
        /// Number of clusters (contexts lab-1 … lab-N).
        #[arg(long, default_value_t = 2)]
        clusters: usize,
        /// Lab directory (state, certificates, data, logs).
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
        /// Directory of the lab binaries (default: the build cache).
        #[arg(long, env = "MESH_LAB_BIN")]
        bin_dir: Option<PathBuf>,
        /// Use fixed ports from here (10 per cluster) instead of free ones.
        #[arg(long)]
        base_port: Option<u16>,
        /// Skip installing the Istio and Sail CRDs (and so the operator).
        #[arg(long)]
        no_crds: bool,
        /// Run no load-balancer controller (LoadBalancer Services then stay pending).
        #[arg(long)]
        no_load_balancers: bool,
        /// Control plane only: no Sail operator, scheduler, nodes or load balancer.
        #[arg(long)]
        bare: bool,
        /// Seconds to wait for each stage.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Run istiod (pilot-discovery) for one lab cluster as a local process, stopped with `down`.
    Istiod {
        /// Lab directory.
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
        /// The lab context (lab-N).
        #[arg(long)]
        context: String,
        /// The mesh's name for that cluster (its cluster ID; default: the context).
        #[arg(long)]
        cluster_id: Option<String>,
        /// Directory of the lab binaries (default: the build cache).
        #[arg(long, env = "MESH_LAB_BIN")]
        bin_dir: Option<PathBuf>,
    },
    /// (Started by `up`.) Run a cluster's pod network proxy and its istiod pods as processes.
    #[command(hide = true)]
    Pods {
        /// The cluster directory.
        #[arg(long)]
        cluster_dir: PathBuf,
        /// Directory of the lab binaries.
        #[arg(long)]
        bin_dir: PathBuf,
        /// The cluster's API server URL.
        #[arg(long)]
        server: String,
        /// Also serve the proxy on this loopback port (`HTTPS_PROXY` for the operator).
        #[arg(long)]
        http_proxy_port: Option<u16>,
    },
    /// Stop the lab's processes.
    Down {
        /// Lab directory.
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
    },
    /// Report the lab's processes and memory.
    Status {
        /// Lab directory.
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Up {
            clusters,
            dir,
            bin_dir,
            base_port,
            no_crds,
            no_load_balancers,
            bare,
            timeout,
        } => {
            let started = Instant::now();
            let mut options = LabOptions::new(clusters, &dir);
            options.bin_dir = bin_dir;
            options.base_port = base_port;
            options.crds = !no_crds;
            options.operator = !bare;
            options.load_balancers = !(no_load_balancers || bare);
            options.workloads = !bare;
            options.timeout = Duration::from_secs(timeout);
            let lab = Lab::start(options)?;
            let kubeconfig = lab.kubeconfig();
            let memory = lab.memory_kib();
            for (c, kib) in lab.clusters().iter().zip(memory) {
                eprintln!("mesh-lab: {} {} ({} MiB)", c.name, c.server, kib / 1024);
            }
            lab.detach()?;
            eprintln!(
                "mesh-lab: {clusters} cluster(s) up in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            println!("export KUBECONFIG={}", kubeconfig.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Istiod {
            dir,
            context,
            cluster_id,
            bin_dir,
        } => {
            let mut state = LabState::load(&dir)?;
            let Some(index) = state.clusters.iter().position(|c| c.name == context) else {
                anyhow::bail!(
                    "no context {context} in the lab at {}; hint: mesh-lab status --dir {}",
                    dir.display(),
                    dir.display()
                );
            };
            let bin_dir = bin_dir.unwrap_or_else(mesh_lab::default_bin_dir);
            let id = cluster_id.unwrap_or_else(|| context.clone());
            let c = state.clusters[index].clone();
            let (mut proc, info) = mesh_lab::istiod::spawn(
                &bin_dir,
                &state.kubeconfig,
                &c.dir,
                &c.name,
                index,
                &id,
                &[],
            )?;
            proc.detach();
            state.clusters[index]
                .processes
                .push(mesh_lab::state::ProcState {
                    name: proc.name.clone(),
                    pid: proc.pid,
                    log: proc.log.clone(),
                });
            state.save(&dir.canonicalize()?)?;
            eprintln!(
                "mesh-lab: istiod for {context} (cluster ID {id}) ready; log {}",
                info.log.display()
            );
            println!(
                "monitoring {}\nhttp {}\nxds-tls {}",
                info.monitoring, info.http, info.secure_grpc
            );
            println!(
                "verify: kubectl mesh-verify --istiod-address {id}={} …",
                info.monitoring
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Pods {
            cluster_dir,
            bin_dir,
            server,
            http_proxy_port,
        } => {
            let runner = mesh_lab::pods::Runner {
                cluster_dir,
                bin_dir,
                server,
                http_proxy_port,
            };
            runner.run()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { dir } => {
            let state = LabState::load(&dir)?;
            let stopped = state.stop_all();
            let _ = std::fs::remove_file(dir.join(mesh_lab::state::STATE_FILE));
            eprintln!(
                "mesh-lab: stopped {stopped} process(es) in {}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { dir, json } => {
            let state = LabState::load(&dir)?;
            let status = state.status();
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!(
                    "{:<8} {:<26} {:>8} {:<8} {:>8}",
                    "CLUSTER", "PROCESS", "PID", "STATE", "RSS"
                );
                for p in &status {
                    println!(
                        "{:<8} {:<26} {:>8} {:<8} {:>8}",
                        p.cluster,
                        p.name,
                        p.pid,
                        if p.running { "running" } else { "stopped" },
                        p.rss_kib
                            .map(|k| format!("{}Mi", k / 1024))
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
            Ok(if status.iter().all(|p| p.running) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
