//! The `cacerts` Secret (built by the mesh-certs apply work).
