//! GRUB (temporary shim while the interpreter moves here).
pub use crate::config::grub::*;
mod volumes;
pub use volumes::{configs, Grub, GRUB_PATHS};
