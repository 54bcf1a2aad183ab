//! hopboot's library: block devices and partition tables, filesystem readers,
//! boot-config parsers, the boot-entry model, module loading and kexec.
//!
//! Parsers are pure functions over file contents; everything that touches the
//! machine goes through [`sys`] (the only `unsafe` in the workspace), nix, or std.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod block;
pub mod bzimage;
pub mod cmdline;
pub mod discover;
pub mod format;
pub mod fs;
pub mod glob;
pub mod json;
pub mod kexec;
pub mod kmod;
mod le;
pub mod model;
pub mod net;
pub mod source;
#[allow(unsafe_code)]
pub mod sys;
pub mod tpm;
pub mod trust;
pub mod version;
