//! hopboot's QEMU test harness.
//!
//! Everything the end-to-end tests need to boot hopboot under QEMU without root,
//! loop devices or network access beyond Debian's apt mirror:
//!
//! - [`paths`]: where the workspace, its target dir and the musl binaries are;
//! - [`kernel`]: a real Debian kernel from `apt-get download`, cached under `target/kernel/`;
//! - [`disk`]: GPT/MBR disk images with ext4/vfat/raw partitions, built from staging dirs;
//! - [`distro`]: a real Debian 12 installation on a disk (debootstrap; `make test-distro`);
//! - [`target`]: the "target" initramfs hopboot kexecs into (prints a marker, powers off);
//! - [`demo`]: ready-made test disks (GRUB config, kernel scan, nothing bootable);
//! - [`uki`]: Unified Kernel Images built from systemd's stub with objcopy;
//! - [`vm`]: QEMU runs whose serial console is read line by line with timestamps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cmd;
pub mod demo;
pub mod disk;
pub mod distro;
pub mod kernel;
pub mod paths;
pub mod qmp;
pub mod target;
mod tmp;
pub mod uki;
pub mod version;
pub mod vm;
