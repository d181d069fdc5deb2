//! `kubectl mesh-join`: join clusters into one Istio mesh in any of the four topologies, and
//! leave it. All logic lives in `mesh-core`.

mod args;
mod installer_args;
mod mesh_args;

fn main() -> std::process::ExitCode {
    mesh_core::cluster::set_field_manager(mesh_core::cluster::JOIN_FIELD_MANAGER);
    mesh_core::app::plugin_main(|cli: args::Cli, printer| cli.run(printer))
}
