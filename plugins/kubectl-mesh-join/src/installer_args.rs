//! The flags that choose and drive the control plane's installer.

use clap::Args;
use mesh_core::app::join::Installer;
use mesh_core::app::join::install::InstallOptions;
use mesh_core::error::Error;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InstallerArgs {
    /// How the control plane is installed: Sail `Istio` resources, or istioctl / Helm run per
    /// cluster in the join's order (found on PATH, version checked against istio.version)
    #[arg(long, value_enum, default_value_t = Installer::Sail)]
    pub installer: Installer,

    /// With --installer istioctl|helm: print the IstioOperator or Helm values and leave the
    /// install to you (the other steps still run)
    #[arg(long)]
    pub render_only: bool,

    /// With --installer helm: a local directory holding Istio's base/ and istiod/ charts
    /// (default: Istio's chart repository at istio.version)
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
}

impl InstallerArgs {
    /// Refuses flags that do not go with the chosen installer.
    pub fn check(&self) -> Result<(), Error> {
        if self.render_only && self.installer == Installer::Sail {
            return Err(Error::input(
                "--render-only goes with --installer istioctl|helm (the Sail operator's Istio resources are applied)",
                "add --installer istioctl or --installer helm, or use --dry-run=server to see the plan",
            ));
        }
        if self.charts.is_some() && self.installer != Installer::Helm {
            return Err(Error::input(
                "--charts goes with --installer helm",
                "add --installer helm, or leave --charts out",
            ));
        }
        Ok(())
    }

    /// The options the join runs the installer with.
    pub fn options(&self) -> InstallOptions {
        InstallOptions {
            render_only: self.render_only,
            charts: self.charts.clone(),
            kubeconfig: None,
        }
    }
}
