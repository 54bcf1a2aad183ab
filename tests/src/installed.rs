//! The installed Debian 12 system as a kexec test bed (`make test-distro`'s kexec
//! tests and `make soak`): a disk derived from the debootstrapped installation
//! ([`hopboot_qemu::distro::layout_disk`]) with the `.deb` that `make deb` built and a
//! driver (`tests/distro/kexec-driver.sh`) that systemd starts at every boot: each
//! boot is one step, and each step ends in `systemctl kexec`.

use anyhow::{Context, Result};
use hopboot_qemu::distro::{layout_disk, DistroDisk, Layout, LayoutDisk};
use hopboot_qemu::vm::Line;

/// The driver (one step per boot).
pub const KEXEC_DRIVER: &str = include_str!("../distro/kexec-driver.sh");
/// The prefix of the driver's lines on ttyS0.
pub const KT: &str = "HOPBOOT-KT ";
/// The driver's unit: started at every boot, after the boot transaction (so it can
/// wait for the boot to finish and read the failed units).
const KEXEC_DRIVER_UNIT: &str = "[Unit]
Description=hopboot distro test: one step of the kexec test
After=multi-user.target

[Service]
Type=exec
ExecStart=/usr/local/sbin/hopboot-kexec-driver

[Install]
WantedBy=multi-user.target
";

/// The package `make deb` built.
pub fn built_deb() -> Result<std::path::PathBuf> {
    let debs = hopboot_qemu::paths::target_dir()?.join("deb");
    std::fs::read_dir(&debs)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("no .deb in {}: run `make deb`", debs.display()))
}

/// `<target>/distro/NAME.img` from `base` in `layout`, with the package and the driver
/// (enabled in place of the distro test's marker unit). `soak`: the driver only
/// kexecs, that many times, after installing.
pub fn kexec_disk(name: &str, base: &DistroDisk, layout: Layout, soak: Option<u32>) -> Result<LayoutDisk> {
    let soak = soak.map(|n| ("/var/lib/hopboot-test/soak", format!("{n}\n").into_bytes(), 0o644));
    kexec_disk_with(name, base, layout, soak.as_slice())
}

/// [`kexec_disk`] with `extra` files in the installation (e.g. the driver's
/// `/var/lib/hopboot-test/bench`).
pub fn kexec_disk_with(
    name: &str,
    base: &DistroDisk,
    layout: Layout,
    extra: &[(&str, Vec<u8>, u32)],
) -> Result<LayoutDisk> {
    let deb = built_deb()?;
    let mut files: Vec<(&str, Vec<u8>, u32)> = vec![
        ("/root/hopboot.deb", std::fs::read(&deb)?, 0o644),
        (
            "/usr/local/sbin/hopboot-kexec-driver",
            KEXEC_DRIVER.as_bytes().to_vec(),
            0o755,
        ),
        (
            "/etc/systemd/system/hopboot-kexec-test.service",
            KEXEC_DRIVER_UNIT.as_bytes().to_vec(),
            0o644,
        ),
    ];
    // What the driver does differs by boot loader and by what it unmounts.
    let layout_name = match layout {
        Layout::RootBoot => "root-boot",
        Layout::SeparateBoot => "separate-boot",
        Layout::EspSystemdBoot => "esp-systemd-boot",
        Layout::EspGrub => "esp-grub",
    };
    files.push((
        "/var/lib/hopboot-test/layout",
        format!("{layout_name} {}\n", layout.boot_mount()).into_bytes(),
        0o644,
    ));
    files.extend(extra.iter().cloned());
    let links = [(
        "/etc/systemd/system/multi-user.target.wants/hopboot-kexec-test.service",
        "/etc/systemd/system/hopboot-kexec-test.service",
    )];
    let remove = ["/etc/systemd/system/multi-user.target.wants/hopboot-marker.service"];
    let out = hopboot_qemu::distro::distro_dir()?.join(format!("{name}.img"));
    layout_disk(&out, base, layout, &files, &links, &remove)
}

/// The `step=N up cmdline=[...] failed=[...] boot=[...] efi=[...]` line of step `n`:
/// the command line, the failed units, the boot filesystem's source (`root` when it is
/// /) and whether the kernel runs on UEFI (`yes`/`no`: /sys/firmware/efi).
pub fn step_up(lines: &[Line], n: u32) -> Option<Up> {
    let prefix = format!("{KT}step={n} up cmdline=[");
    let l = lines.iter().find(|l| l.text.contains(&prefix))?;
    let rest = &l.text[l.text.find(&prefix)? + prefix.len()..];
    let (cmdline, rest) = rest.split_once("] failed=[")?;
    let (failed, rest) = rest.split_once("] boot=[")?;
    let (boot, rest) = rest.split_once("] efi=[")?;
    Some(Up {
        cmdline: cmdline.to_owned(),
        failed: failed.trim().to_owned(),
        boot: boot.to_owned(),
        efi: rest.trim_end_matches(']') == "yes",
    })
}

/// One boot of the installed system, as its driver reported it ([`step_up`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Up {
    /// /proc/cmdline.
    pub cmdline: String,
    /// The failed units, space-separated; empty when none.
    pub failed: String,
    /// The boot filesystem's source (`findmnt`), `root` when it is /.
    pub boot: String,
    /// Whether /sys/firmware/efi exists.
    pub efi: bool,
}
