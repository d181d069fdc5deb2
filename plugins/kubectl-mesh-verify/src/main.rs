//! `kubectl mesh-verify`: prove an Istio multi-cluster mesh works — trust, control planes,
//! gateways, remote access and istiod's view. All logic lives in `mesh-core`.

mod args;
mod install_watch;

fn main() -> std::process::ExitCode {
    mesh_core::cluster::set_field_manager(mesh_core::cluster::VERIFY_FIELD_MANAGER);
    mesh_core::app::plugin_main(|cli: args::Cli, printer| cli.run(printer))
}
