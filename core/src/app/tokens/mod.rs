//! A source cluster's reader credential, shared by `mesh-join` (which embeds the current
//! token in remote secrets) and `rotate-credentials` (which replaces it).
//!
//! The record of which token is current is an annotation on the reader ServiceAccount
//! ([`record`], which says why there); the credential is a long-lived token Secret or, in
//! short-lived mode ([`mode`]), tokens bound to an anchor Secret ([`bound`]). What is read
//! from the clusters is in [`live`]; what a remote secret embeds is read back by
//! [`embedding`].

pub mod bound;
mod embedding;
mod live;
pub mod mode;
pub mod record;

pub use embedding::{Embedding, embedding};
pub use live::{read_record, read_token_named, wait_token_named};
