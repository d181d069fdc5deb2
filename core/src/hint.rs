//! Errors that know the user's next step.
//!
//! Every error a user can fix carries a hint — the next command to run — kept beside the
//! message as data ([`Hinted::hint`]) and printed after it as `hint: …` by the
//! [`crate::render::Printer`]. This module depends on nothing else in the crate, so every
//! area (the certificate authority, the mesh file, names, kubeconfig, rendering) can implement
//! or read hints without reaching the crate-wide [`crate::error::Error`].

/// An error that may know the user's next step.
pub trait Hinted {
    /// The next step, phrased as advice (`run … to …`), if there is one.
    fn hint(&self) -> Option<String>;
}
