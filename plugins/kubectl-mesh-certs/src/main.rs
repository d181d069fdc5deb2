//! `kubectl mesh-certs`: the mesh's trust — one root CA, one intermediate per cluster, the
//! `cacerts` Secret, inventory, expiry and rotation. All logic lives in `mesh-core`.

mod args;

fn main() -> std::process::ExitCode {
    mesh_core::cluster::set_field_manager(mesh_core::cluster::CERTS_FIELD_MANAGER);
    mesh_core::app::plugin_main(|cli: args::Cli, printer| cli.run(printer))
}
