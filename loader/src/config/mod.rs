//! GRUB's interpreter (moving to `format::grub`).

pub mod blscfg;
pub mod grub;
pub mod grub_script;
