//! Shared setup for the end-to-end tests: the Debian kernel, the hopboot
//! initramfs built for it, and a QEMU run of both with a disk.
//!
//! The musl binaries must be built first (`make build`); the tests never run
//! cargo themselves.

use anyhow::{Context, Result};
use hopboot_image_build::{compress, Compression, Options, Profile};
use hopboot_qemu::kernel::Kernel;
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub mod distro;
pub mod installed;
pub mod netlab;

/// Kernel modules the demo needs: virtio disks over PCI. ext4 is read in
/// userspace, so no filesystem modules.
pub const MODULES: &[&str] = &["virtio_blk", "virtio_pci"];

/// The first kernel's line when it jumps to the kexec'd one.
pub const KEXEC_LINE: &str = "kexec_core: Starting new kernel";
/// A kernel's first EFI line (`efi: EFI v2.70 by EDK II` with Debian's OVMF).
pub const EFI_LINE: &str = "efi: EFI v2";
/// Printed only when EFI runtime services are usable (after kexec: the runtime map arrived).
pub const EFIVARS_LINE: &str = "Registered efivars operations";

/// Generous limit for one boot through hopboot to the target under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// The kernel and the hopboot initramfs built for it, made once per test binary.
pub struct Setup {
    /// The Debian kernel.
    pub kernel: Kernel,
    /// hopboot's initramfs with the virtio modules.
    pub initramfs: PathBuf,
    /// A scratch directory under target/ for this test binary.
    pub work: PathBuf,
}

static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();

/// Returns the shared setup (fetching the kernel and building the initramfs on first use).
pub fn setup() -> &'static Setup {
    let r = SETUP.get_or_init(|| build_setup().map_err(|e| format!("{e:#}")));
    match r {
        Ok(s) => s,
        Err(e) => panic!("test setup failed: {e}"),
    }
}

fn build_setup() -> Result<Setup> {
    let kernel = hopboot_qemu::kernel::debian_kernel().context("fetching the Debian kernel")?;
    let work = hopboot_qemu::paths::target_dir()?
        .join("e2e")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&work)?;
    let initramfs = work.join("hopboot-initramfs.cpio.gz");
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot")?,
        modules_dir: Some(kernel.modules_dir.clone()),
        modules: MODULES.iter().map(|s| s.to_string()).collect(),
        filesystems: Vec::new(),
        extra: Vec::new(),
        compression: Compression::Gzip,
        mtime: 0,
        output: initramfs.clone(),
    })
    .context("building the hopboot initramfs")?;
    Ok(Setup {
        kernel,
        initramfs,
        work,
    })
}

/// Starts QEMU with the Debian kernel, hopboot's initramfs, `disks` and
/// hopboot's kernel command line `append` (after `console=ttyS0 panic=-1`).
pub fn boot_hopboot(disks: &[PathBuf], append: &str) -> Result<Vm> {
    let s = setup();
    let mut cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        &s.initramfs,
        format!("console=ttyS0 panic=-1 {append}"),
    );
    for d in disks {
        cfg = cfg.with_disk(DiskAttach::new(d));
    }
    Vm::spawn(&cfg)
}

/// hopboot's initramfs with the storage modules of `profile` and no module
/// list (hopboot coldplugs what the VM's devices need), built once per test
/// binary next to [`setup`]'s.
pub fn profile_initramfs(profile: Profile) -> &'static std::path::Path {
    static BUILT: [OnceLock<Result<PathBuf, String>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = Profile::ALL.iter().position(|p| *p == profile).unwrap_or(0);
    let r = BUILT[i].get_or_init(|| build_profile_initramfs(profile).map_err(|e| format!("{e:#}")));
    match r {
        Ok(p) => p,
        Err(e) => panic!("building the {profile} initramfs failed: {e}"),
    }
}

fn build_profile_initramfs(profile: Profile) -> Result<PathBuf> {
    let s = setup();
    let out = s.work.join(format!("hopboot-initramfs-{profile}.cpio.gz"));
    let opts = Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot")?,
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: Vec::new(),
        filesystems: Vec::new(),
        extra: Vec::new(),
        compression: Compression::Gzip,
        mtime: 0,
        output: out.clone(),
    };
    hopboot_image_build::build_with_profile(&opts, Some(profile))
        .with_context(|| format!("building the {profile} initramfs"))?;
    Ok(out)
}

/// Like [`boot_hopboot`] with another initramfs and disks on any interface.
pub fn boot_hopboot_on(initramfs: &std::path::Path, disks: &[DiskAttach], append: &str) -> Result<Vm> {
    let s = setup();
    let mut cfg = VmConfig::new(&s.kernel.vmlinuz, initramfs, format!("console=ttyS0 panic=-1 {append}"));
    for d in disks {
        cfg = cfg.with_disk(d.clone());
    }
    Vm::spawn(&cfg)
}

/// Builds a one-partition GPT/ext4 disk at `out` from `files` (path inside the
/// filesystem → contents). `KERNEL` and `TARGET_INITRD` as contents stand for
/// the Debian kernel and the target initramfs.
pub fn custom_disk(out: &std::path::Path, uuid: &str, files: &[(&str, &str)]) -> Result<()> {
    use hopboot_qemu::disk::{Fs, Partition};
    let part = Partition::new(
        128,
        "8300",
        Fs::Ext4 {
            uuid: Some(uuid.to_string()),
        },
    );
    custom_disk_with(out, part, files)
}

/// Like [`custom_disk`] with a given partition (type, filesystem); `UKI:cmdline`
/// as contents builds a Unified Kernel Image of the Debian kernel and the
/// target initramfs with that embedded command line, [`HOST_FILE`]`path` copies
/// a host file.
pub fn custom_disk_with(
    out: &std::path::Path,
    part: hopboot_qemu::disk::Partition,
    files: &[(&str, &str)],
) -> Result<()> {
    use hopboot_qemu::disk::{build_disk, Table};
    let s = setup();
    let staging = out.with_extension("staging");
    let _ = std::fs::remove_dir_all(&staging);
    for (path, content) in files {
        let p = staging.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().context("path without parent")?)?;
        match *content {
            KERNEL => {
                std::fs::copy(&s.kernel.vmlinuz, &p)?;
            }
            TARGET_INITRD => hopboot_qemu::target::target_initramfs(&p)?,
            text if text.starts_with(UKI) => build_uki(&p, text.trim_start_matches(UKI))?,
            text if text.starts_with(HOST_FILE) => {
                let from = text.trim_start_matches(HOST_FILE);
                std::fs::copy(from, &p).with_context(|| format!("copying {from}"))?;
            }
            text => std::fs::write(&p, text)?,
        }
    }
    let part = part.with_staging(&staging);
    build_disk(out, Table::Gpt, &[part])?;
    std::fs::remove_dir_all(&staging)?;
    Ok(())
}

/// Placeholder content for [`custom_disk`]: the Debian kernel.
pub const KERNEL: &str = "\u{0}KERNEL";
/// Placeholder content for [`custom_disk`]: the target initramfs.
pub const TARGET_INITRD: &str = "\u{0}TARGET_INITRD";
/// Placeholder prefix for [`custom_disk`]: a copy of the host file whose path follows.
pub const HOST_FILE: &str = "\u{0}FILE:";

/// Runs `c`, which must succeed (else the test fails with its output); returns
/// its standard output.
pub fn run(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian's static busybox (`apt-get download busybox-static`), unpacked
/// under target/busybox: the shell of the "running system" in the live test.
pub fn busybox() -> Result<PathBuf> {
    let dir = hopboot_qemu::paths::target_dir()?.join("busybox");
    let bin = dir.join("bin/busybox");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir)?;
    let st = std::process::Command::new("apt-get")
        .args(["download", "busybox-static"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running apt-get download busybox-static")?;
    anyhow::ensure!(st.success(), "apt-get download busybox-static failed");
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("no busybox-static .deb downloaded")?;
    let st = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&dir)
        .status()?;
    anyhow::ensure!(st.success(), "dpkg-deb -x {} failed", deb.display());
    anyhow::ensure!(bin.is_file(), "{} missing after unpacking", bin.display());
    Ok(bin)
}

/// Placeholder prefix for [`custom_disk_with`]: a UKI with this command line.
pub const UKI: &str = "\u{0}UKI:";

/// Builds a UKI at `out` the way ukify does: systemd's stub plus `.osrel`,
/// `.cmdline`, `.uname`, `.initrd` (the target) and `.linux` (the Debian kernel).
pub fn build_uki(out: &std::path::Path, cmdline: &str) -> Result<()> {
    let s = setup();
    let dir = out.with_extension("parts");
    std::fs::create_dir_all(&dir)?;
    let osrel =
        "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm) UKI\"\n";
    let initrd = dir.join("initrd");
    hopboot_qemu::target::target_initramfs(&initrd)?;
    let parts: Vec<(&str, PathBuf)> = vec![
        (".osrel", write_tmp(&dir, "osrel", osrel.as_bytes())?),
        (".cmdline", write_tmp(&dir, "cmdline", cmdline.as_bytes())?),
        (".uname", write_tmp(&dir, "uname", s.kernel.version.as_bytes())?),
        (".initrd", initrd),
        (".linux", s.kernel.vmlinuz.clone()),
    ];
    hopboot_qemu::uki::build(out, &parts)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn write_tmp(dir: &std::path::Path, name: &str, data: &[u8]) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, data)?;
    Ok(p)
}

/// The [`hopboot_qemu::demo::Demo::Grub`] disk's files (Debian-style
/// grub.cfg, the Debian kernel, the target initrd, same filesystem UUID) on a
/// one-partition disk with an MBR partition table instead of GPT.
pub fn grub_disk_mbr(out: &std::path::Path) -> Result<hopboot_qemu::demo::DemoInfo> {
    grub_disk_with(out, hopboot_qemu::disk::Table::Mbr, hopboot_qemu::disk::SECTOR)
}

/// The [`hopboot_qemu::demo::Demo::Grub`] disk's files on a one-partition
/// disk with `table` counted in `sector`-byte sectors (4096: a 4Kn disk, to
/// be attached with that logical block size).
pub fn grub_disk_with(
    out: &std::path::Path,
    table: hopboot_qemu::disk::Table,
    sector: u64,
) -> Result<hopboot_qemu::demo::DemoInfo> {
    use hopboot_qemu::demo::{grub_cfg, Demo, DemoInfo, PARTITION_MIB};
    use hopboot_qemu::disk::{build_disk_with, Fs, Partition};
    let s = setup();
    let (uuid, ver) = (Demo::Grub.fs_uuid(), &s.kernel.version);
    let staging = out.with_extension("staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("boot/grub"))?;
    std::fs::copy(&s.kernel.vmlinuz, staging.join(format!("boot/vmlinuz-{ver}")))?;
    hopboot_qemu::target::target_initramfs(&staging.join(format!("boot/initrd.img-{ver}")))?;
    let cfg = grub_cfg(uuid, ver);
    std::fs::write(staging.join("boot/grub/grub.cfg"), &cfg)?;
    // The default entry's command line as demo.rs writes it; checked against the config.
    let expected_cmdline = format!("root=UUID={uuid} ro console=ttyS0 hopboot.demo=grub-default");
    anyhow::ensure!(
        cfg.contains(&expected_cmdline),
        "grub_cfg changed: update grub_disk_mbr"
    );
    let part = Partition::new(
        PARTITION_MIB,
        "8300",
        Fs::Ext4 {
            uuid: Some(uuid.to_string()),
        },
    )
    .with_staging(&staging);
    build_disk_with(out, table, &[part], sector)?;
    std::fs::remove_dir_all(&staging)?;
    let kernel = format!("/boot/vmlinuz-{ver}");
    Ok(DemoInfo {
        disk: out.to_path_buf(),
        fs_uuid: uuid.to_string(),
        expected_cmdline,
        expected_kernel: kernel.clone(),
        kernels: vec![kernel],
    })
}

/// hopboot's initramfs (gzip) at `out` with `modules` (and their
/// dependencies) loaded at every boot, as `hopboot-image-build --module`.
pub fn hopboot_initramfs_with(out: &std::path::Path, modules: &[&str]) -> Result<()> {
    let s = setup();
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot")?,
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        filesystems: Vec::new(),
        extra: Vec::new(),
        compression: Compression::Gzip,
        mtime: 0,
        output: out.to_path_buf(),
    })
    .with_context(|| format!("building {}", out.display()))?;
    Ok(())
}

/// A staging tree for a boot filesystem: the Debian kernel as
/// `/boot/vmlinuz-VERSION`, the target initramfs as `/boot/initrd.img-VERSION`
/// and `grub_cfg` as `/boot/grub/grub.cfg`; any old tree at `dir` is replaced.
pub fn boot_tree(dir: &std::path::Path, grub_cfg: &str) -> Result<()> {
    let s = setup();
    let v = &s.kernel.version;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("boot/grub"))?;
    std::fs::copy(&s.kernel.vmlinuz, dir.join(format!("boot/vmlinuz-{v}")))?;
    hopboot_qemu::target::target_initramfs(&dir.join(format!("boot/initrd.img-{v}")))?;
    std::fs::write(dir.join("boot/grub/grub.cfg"), grub_cfg)?;
    Ok(())
}

/// An XFS filesystem image of `mib` MiB (xfsprogs wants at least 300) at
/// `out` holding the files of `tree`, made by `mkfs.xfs -p` with a prototype
/// file listing them; UUID and label fixed.
pub fn xfs_image(out: &std::path::Path, tree: &std::path::Path, uuid: &str, label: &str, mib: u64) -> Result<()> {
    use std::fmt::Write as _;
    fn walk(dir: &std::path::Path, depth: usize, proto: &mut String) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
        names.sort_by_key(|e| e.file_name());
        let pad = " ".repeat(depth);
        for e in names {
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| anyhow::anyhow!("{n:?} is not UTF-8"))?;
            let path = e.path();
            let host = path.to_str().context("path is not UTF-8")?;
            anyhow::ensure!(
                !name.contains(char::is_whitespace) && !host.contains(char::is_whitespace),
                "{host}: mkfs.xfs prototype files cannot name paths with spaces"
            );
            if e.file_type()?.is_dir() {
                writeln!(proto, "{pad}{name} d--755 0 0")?;
                walk(&path, depth + 1, proto)?;
                writeln!(proto, "{pad}$")?;
            } else {
                writeln!(proto, "{pad}{name} ---644 0 0 {host}")?;
            }
        }
        Ok(())
    }
    // Boot block name (unused), block/inode counts (unused), root directory.
    let mut proto = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(tree, 1, &mut proto)?;
    proto.push_str("$\n");
    let proto_file = out.with_extension("proto");
    std::fs::write(&proto_file, proto)?;
    let _ = std::fs::remove_file(out);
    std::fs::File::create(out)?.set_len(mib << 20)?;
    let st = std::process::Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", &format!("uuid={uuid}"), "-L", label, "-p"])
        .arg(&proto_file)
        .arg(out)
        .status()
        .context("running mkfs.xfs (xfsprogs, installed by scripts/install-deps.sh)")?;
    anyhow::ensure!(st.success(), "mkfs.xfs failed for {}", out.display());
    std::fs::remove_file(&proto_file)?;
    Ok(())
}

/// Boots a small Linux system (the Debian kernel, busybox as the shell) with
/// `disk` as a writable /dev/vda and `modules` loaded, runs `script` (busybox
/// sh, all applets on PATH), and as soon as the script prints `done` kills
/// QEMU: a power cut, nothing is unmounted or flushed beyond what the script
/// did. Used to leave a filesystem with a log that needs recovery. The script
/// can call `fail WHY` (prints it and powers off, failing this function).
pub fn run_then_cut_power(disk: &std::path::Path, modules: &[&str], script: &str, done: &str) -> Result<()> {
    let s = setup();
    let dir = s.work.join("power-cut");
    std::fs::create_dir_all(&dir)?;
    let init = dir.join("init");
    std::fs::write(
        &init,
        format!(
            "#!/bin/busybox sh\n\
             /bin/busybox --install -s /bin\n\
             export PATH=/bin\n\
             fail() {{ echo POWER-CUT-FAILED: \"$@\"; poweroff -f; }}\n\
             mount -t proc proc /proc\n\
             mount -t devtmpfs dev /dev\n\
             cd /lib/modules/*/ || fail no modules\n\
             for m in $(cat modules.order); do insmod $m || fail insmod $m; done\n\
             cd /\n\
             mkdir -p /mnt\n\
             {script}\n\
             sleep 600\n"
        ),
    )?;
    let initramfs = dir.join("power-cut.cpio.gz");
    hopboot_image_build::build(&Options {
        binary: init,
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        filesystems: Vec::new(),
        extra: vec![(busybox()?, "bin/busybox".to_string())],
        compression: Compression::Gzip,
        mtime: 0,
        output: initramfs.clone(),
    })?;
    let cfg = VmConfig::new(&s.kernel.vmlinuz, &initramfs, "console=ttyS0 panic=-1").with_disk(DiskAttach::new(disk));
    let mut vm = Vm::spawn(&cfg)?;
    let r = vm.wait_for(done, BOOT_TIMEOUT);
    vm.kill();
    r?;
    let t = vm.transcript();
    anyhow::ensure!(
        !t.contains("POWER-CUT-FAILED"),
        "the power-cut system failed before cutting the power:\n{t}"
    );
    Ok(())
}

/// Like [`boot_hopboot`] on a UEFI machine: OVMF (Debian's `ovmf` package)
/// with its own variable store `<work>/<name>.OVMF_VARS.fd`. QEMU starts the
/// kernel's EFI stub from fw_cfg (which appends `initrd=initrd` to the first
/// kernel's command line).
pub fn boot_hopboot_uefi(name: &str, disks: &[PathBuf], append: &str) -> Result<Vm> {
    use hopboot_qemu::vm::Firmware;
    let s = setup();
    let firmware = Firmware::uefi(s.work.join(format!("{name}.OVMF_VARS.fd")))?;
    let mut cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        &s.initramfs,
        format!("console=ttyS0 panic=-1 {append}"),
    )
    .with_firmware(firmware);
    for d in disks {
        cfg = cfg.with_disk(DiskAttach::new(d));
    }
    Vm::spawn(&cfg)
}

/// hopboot's initramfs at `out` with busybox as `/bin/sh` (the rescue shell)
/// and `modules` besides [`MODULES`], all loaded at every boot.
pub fn shell_initramfs(out: &std::path::Path, modules: &[&str]) -> Result<()> {
    let s = setup();
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot")?,
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: MODULES.iter().chain(modules).map(|m| m.to_string()).collect(),
        filesystems: Vec::new(),
        extra: vec![(busybox()?, "bin/sh".into())],
        compression: Compression::Gzip,
        mtime: 0,
        output: out.to_path_buf(),
    })
    .with_context(|| format!("building {}", out.display()))?;
    Ok(())
}

/// A small running Linux system for the CLI's live-system tests, as a gzip
/// newc cpio at `out`: `init` (a busybox shell script) as /init, busybox with
/// `applets`, hopboot as /bin/hopboot, and a /boot holding the test kernel, the
/// target initramfs and `grub_cfg` as /boot/grub/grub.cfg (`{v}` in it is the
/// kernel version).
pub fn live_system(out: &std::path::Path, init: &str, applets: &[&str], grub_cfg: &str) -> Result<()> {
    use hopboot_image_build::cpio::Archive;
    let s = setup();
    let v = &s.kernel.version;
    let mut a = Archive::new();
    a.add_file("init", init.as_bytes().to_vec(), 0o755);
    a.add_file("bin/busybox", std::fs::read(busybox()?)?, 0o755);
    for applet in applets {
        a.add_symlink(&format!("bin/{applet}"), "busybox");
    }
    let hopboot = hopboot_qemu::paths::musl_bin("hopboot")?;
    a.add_file("bin/hopboot", std::fs::read(hopboot)?, 0o755);
    a.add_char_dev("dev/console", 0o600, 5, 1);
    for d in ["proc", "sys", "run"] {
        a.add_dir(d, 0o755);
    }
    a.add_file(&format!("boot/vmlinuz-{v}"), std::fs::read(&s.kernel.vmlinuz)?, 0o644);
    a.add_file(
        &format!("boot/initrd.img-{v}"),
        hopboot_qemu::target::target_initramfs_bytes()?,
        0o644,
    );
    a.add_file("boot/grub/grub.cfg", grub_cfg.replace("{v}", v).into_bytes(), 0o644);
    std::fs::write(out, compress(&a.to_newc(0), Compression::Gzip)?)?;
    Ok(())
}

/// The demo's GRUB disk at `<work>/NAME.img` (menu tests).
pub fn grub_disk(name: &str) -> hopboot_qemu::demo::DemoInfo {
    let s = setup();
    hopboot_qemu::demo::demo_disk(
        &s.work.join(format!("{name}.img")),
        &s.kernel,
        hopboot_qemu::demo::Demo::Grub,
    )
    .unwrap()
}

/// The complete marker line of the target, after it powered off.
pub fn marker_after_exit(vm: &mut Vm) -> String {
    use hopboot_qemu::target::MARKER;
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    vm.lines()
        .into_iter()
        .find(|l| l.text.contains(MARKER))
        .expect("marker line")
        .text
        .trim()
        .to_string()
}
