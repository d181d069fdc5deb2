//! helloworld as a real workload (the lab's [`mesh_lab::sample`]): a Deployment kwok runs,
//! behind a Service whose EndpointSlice the controller manager writes.

pub use mesh_lab::sample::{helloworld, ready_endpoint, service};
