//! Boot-config formats: one module each, text in, entries out, no I/O of
//! their own (file access goes through a host trait).

pub mod bls;
pub mod extlinux;
pub mod grub;
pub mod scan;
pub mod uki;
