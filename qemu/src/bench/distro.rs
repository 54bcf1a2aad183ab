//! `hopboot-qemu bench --distro` (`make bench-distro`): the smallest guest memory that boots the
//! real Debian 12 install of `make test-distro` to its systemd marker, through hopboot and
//! directly.
//!
//! - **Through hopboot**: Debian's kernel with hopboot's standard initramfs, which kexecs the
//!   installed kernel and its own ~30 MB initramfs-tools initrd with GRUB's command line.
//! - **Directly**: QEMU `-kernel` the installed kernel, `-initrd` its initrd, `-append` the
//!   command line GRUB gives it (`BOOT_IMAGE=… root=UUID=… ro console=ttyS0`): what the
//!   machine needs without a bootloader. The files are read out of the disk image with
//!   `debugfs` (read-only).
//!
//! Both boot the disk with `-snapshot` (the installed system writes to its root filesystem;
//! the image stays as built), one QEMU at a time. Each kind first boots at `--memory` (which
//! must work), then the same bisection as the demo's memory search runs below it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use hopboot_image_build::Compression;
use hopboot_qemu::distro;
use hopboot_qemu::kernel;
use hopboot_qemu::paths;
use hopboot_qemu::vm::{self, DiskAttach, VmConfig};
use serde::Serialize;

use super::json::{self, Milli};
use super::memory::{search_memory, MemorySearch, Probe};
use super::run::{boot, build_image, iso8601};
use super::{Options, MEMORY_FLOOR_MIB, MEMORY_PROBES};

/// The installed system's line once multi-user.target is reached (scripts/build-distro-rootfs.sh).
pub const DISTRO_MARKER: &str = "HOPBOOT-DISTRO-MARKER";
/// hopboot's command line: no menu, boot the default.
const HOPBOOT_APPEND: &str = "console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0";
/// A probe without serial output this long has hung: the installed system's initrd and
/// systemd print steadily, and the kexec hand-over is the longest quiet stretch (about 10 s).
const SILENCE: Duration = Duration::from_secs(60);

/// GRUB's default entry: the first top-level `menuentry`'s `linux` and `initrd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEntry {
    /// `/boot/vmlinuz-…`, as written.
    pub kernel: String,
    /// `/boot/initrd.img-…`.
    pub initrd: String,
    /// The command line GRUB gives the kernel: `BOOT_IMAGE=<kernel> <arguments>`.
    pub cmdline: String,
}

/// Reads the first top-level `menuentry` of a grub.cfg written by Debian's grub-mkconfig
/// (plain `linux`/`initrd` words, no variables or quoting).
pub fn grub_entry(cfg: &str) -> Result<GrubEntry> {
    let mut lines = cfg.lines().skip_while(|l| !l.starts_with("menuentry "));
    lines.next().context("grub.cfg has no top-level menuentry")?;
    let (mut kernel, mut args, mut initrd) = (None, None, None);
    for line in lines.take_while(|l| l.trim_end() != "}") {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["linux", k, rest @ ..] => {
                kernel = Some((*k).to_owned());
                args = Some(rest.join(" "));
            }
            ["initrd", i] => initrd = Some((*i).to_owned()),
            ["initrd", ..] => bail!("the default entry has more than one initrd: {line:?}"),
            _ => {}
        }
    }
    let kernel: String = kernel.context("the default entry has no linux line")?;
    let args = args.unwrap_or_default();
    ensure!(
        !kernel.contains('$') && !args.contains(['$', '\'', '"', '\\']),
        "the default entry uses GRUB variables or quoting: linux {kernel} {args}"
    );
    Ok(GrubEntry {
        cmdline: format!("BOOT_IMAGE={kernel} {args}").trim_end().to_owned(),
        kernel,
        initrd: initrd.context("the default entry has no initrd line")?,
    })
}

/// Byte offset of the first partition of a GPT disk image (512-byte sectors).
pub fn first_partition_offset(image: &[u8]) -> Result<u64> {
    let header = image.get(512..604).context("the disk is too short for a GPT header")?;
    ensure!(&header[..8] == b"EFI PART", "the disk has no GPT header");
    let u64_at = |b: &[u8], at: usize| -> u64 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(x)
    };
    let entries = usize::try_from(u64_at(header, 72)).context("partition entries out of range")?;
    let at = entries.checked_mul(512).context("partition entries out of range")?;
    let entry = image
        .get(at..at + 128)
        .context("the disk is too short for its partition entries")?;
    ensure!(entry[..16].iter().any(|b| *b != 0), "the first GPT entry is unused");
    Ok(u64_at(entry, 32) * 512)
}

/// Copies `path` out of the ext4 filesystem at `offset` in `disk` to `out` with `debugfs`
/// (read-only: no `-w`).
fn debugfs_dump(disk: &Path, offset: u64, path: &str, out: &Path) -> Result<()> {
    let _ = std::fs::remove_file(out);
    let fs = format!("{}?offset={offset}", disk.display());
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("dump {path} {}", out.display()))
        .arg(&fs)
        .output()
        .context("running debugfs (Debian package e2fsprogs)")?;
    ensure!(
        o.status.success() && out.is_file(),
        "debugfs could not read {path} from {fs}: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(())
}

/// One kind's boots: the reference boot at `--memory` and the bisection.
#[derive(Debug, Serialize)]
pub struct Floor {
    /// `-kernel`, `-initrd`, `-append`.
    pub kernel: String,
    pub initrd: String,
    pub append: String,
    /// Seconds from QEMU start to the marker at `--memory`.
    pub reference_boot_s: Option<Milli>,
    pub min_memory_mib: Option<u32>,
    pub max_fail_mib: u32,
    pub probes: Vec<Probe>,
}

impl Floor {
    fn new(cfg: &VmConfig, reference: Option<f64>, search: MemorySearch) -> Floor {
        let show = |p: &Option<PathBuf>| p.as_ref().map_or(String::new(), |p| p.display().to_string());
        Floor {
            kernel: show(&cfg.kernel),
            initrd: show(&cfg.initrd),
            append: cfg.append.clone(),
            reference_boot_s: reference.map(Milli),
            min_memory_mib: search.min_ok_mib,
            max_fail_mib: search.max_fail_mib,
            probes: search.probes,
        }
    }
}

/// `summary.json` of `bench --distro`.
#[derive(Debug, Serialize)]
pub struct DistroSummary {
    pub date: String,
    pub accel: String,
    pub cpus: usize,
    pub disk: String,
    pub memory_mib: u32,
    pub floor_mib: u32,
    pub kernel_bytes: u64,
    pub initrd_bytes: u64,
    pub hopboot: Floor,
    pub direct: Floor,
    /// `hopboot.min_memory_mib - direct.min_memory_mib`.
    pub memory_overhead_mib: Option<i64>,
}

impl DistroSummary {
    /// The lines printed at the end.
    pub fn table(&self) -> String {
        let mut s = format!(
            "Debian 12 install {} ({}, {} host CPUs): kernel {} bytes, initrd {} bytes\n",
            self.disk, self.accel, self.cpus, self.kernel_bytes, self.initrd_bytes
        );
        for (name, f) in [("through hopboot", &self.hopboot), ("direct", &self.direct)] {
            let probes: Vec<String> = f
                .probes
                .iter()
                .map(|p| format!("{}{}", p.mib, if p.ok { "✓" } else { "✗" }))
                .collect();
            s.push_str(&format!(
                "{name:<16} {} MiB boots, {} MiB does not (probes: {}); {} MiB boot: {}\n",
                f.min_memory_mib.map_or("-".into(), |m| m.to_string()),
                f.max_fail_mib,
                probes.join(" "),
                self.memory_mib,
                f.reference_boot_s.map_or("-".into(), |t| format!("{:.1} s", t.0))
            ));
        }
        if let Some(d) = self.memory_overhead_mib {
            s.push_str(&format!("hopboot − direct: {d:+} MiB\n"));
        }
        s
    }
}

/// Runs `bench --distro`: writes `OUT/summary.json` and the serial logs to `OUT/logs`.
pub fn run(opts: &Options) -> Result<DistroSummary> {
    let out = &opts.out;
    std::fs::create_dir_all(out.join("logs")).with_context(|| format!("creating {}", out.display()))?;
    let disk = match &opts.disk {
        Some(d) => d.clone(),
        None => {
            let path = distro::distro_dir()?.join("debian12.img");
            if !path.is_file() {
                eprintln!("bench: building {} (make test-distro's disk; root)", path.display());
                distro::distro_disk(&path)?;
            }
            path
        }
    };
    let head = {
        use std::io::Read;
        let mut f = std::fs::File::open(&disk).with_context(|| format!("opening {}", disk.display()))?;
        let mut b = vec![0u8; 64 * 1024];
        f.read_exact(&mut b)
            .with_context(|| format!("reading {}", disk.display()))?;
        b
    };
    let offset = first_partition_offset(&head).with_context(|| format!("reading {}", disk.display()))?;
    let files = out.join("distro-boot");
    std::fs::create_dir_all(&files)?;
    let grub_cfg = files.join("grub.cfg");
    debugfs_dump(&disk, offset, "/boot/grub/grub.cfg", &grub_cfg)?;
    let entry = grub_entry(&std::fs::read_to_string(&grub_cfg)?)?;
    let (vmlinuz, initrd) = (files.join("vmlinuz"), files.join("initrd.img"));
    debugfs_dump(&disk, offset, &entry.kernel, &vmlinuz)?;
    debugfs_dump(&disk, offset, &entry.initrd, &initrd)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "bench: {}: {} ({} bytes), {} ({} bytes), command line {:?}",
        disk.display(),
        entry.kernel,
        size(&vmlinuz),
        entry.initrd,
        size(&initrd),
        entry.cmdline
    );

    let debian = kernel::debian_kernel()?;
    let initramfs = out.join("hopboot-initramfs.cpio.gz");
    build_image(
        &paths::musl_bin("hopboot")?,
        &debian.modules_dir,
        Compression::Gzip,
        true,
        &initramfs,
    )?;

    let attach = DiskAttach::new(&disk);
    let with_disk = |mut cfg: VmConfig| {
        cfg.disks.push(attach.clone());
        cfg.extra_args = vec!["-snapshot".into()];
        cfg.memory_mib = opts.memory_mib;
        cfg
    };
    let kinds = [
        (
            "hopboot",
            with_disk(VmConfig::new(&debian.vmlinuz, &initramfs, HOPBOOT_APPEND)),
        ),
        (
            "direct",
            with_disk(VmConfig::new(&vmlinuz, &initrd, entry.cmdline.as_str())),
        ),
    ];
    let mut floors = Vec::new();
    for (name, cfg) in &kinds {
        let probe = |mib: u32, timeout: Duration| -> Result<f64, String> {
            let mut cfg = cfg.clone();
            cfg.memory_mib = mib;
            cfg.log = Some(out.join("logs").join(format!("distro-{name}-{mib}.log")));
            let started = Instant::now();
            let result = match boot(&cfg, DISTRO_MARKER, timeout, SILENCE) {
                Ok((lines, None)) => Ok(lines
                    .iter()
                    .find(|l| l.text.contains(DISTRO_MARKER))
                    .map_or(started.elapsed().as_secs_f64(), |l| l.t.as_secs_f64())),
                Ok((_, Some(e))) => Err(e),
                Err(e) => Err(format!("{e:#}")),
            };
            eprintln!(
                "bench: distro {name} {mib} MiB: {}",
                match &result {
                    Ok(t) => format!("boots ({t:.1} s)"),
                    Err(e) => format!("fails ({e})"),
                }
            );
            result
        };
        let reference = match probe(opts.memory_mib, opts.timeout) {
            Ok(t) => t,
            Err(e) => bail!(
                "the Debian install does not boot {name} with {} MiB ({e}); see {}",
                opts.memory_mib,
                out.join("logs").display()
            ),
        };
        let timeout = Duration::from_secs_f64((reference * 2.0).max(120.0)).min(opts.timeout);
        let search = search_memory(MEMORY_FLOOR_MIB, opts.memory_mib, 8, MEMORY_PROBES, |mib| {
            probe(mib, timeout).map(|_| ())
        });
        floors.push(Floor::new(cfg, Some(reference), search));
    }
    let direct = floors.pop().context("no direct floor")?;
    let hopboot = floors.pop().context("no hopboot floor")?;
    let overhead = hopboot
        .min_memory_mib
        .zip(direct.min_memory_mib)
        .map(|(h, d)| i64::from(h) - i64::from(d));
    let summary = DistroSummary {
        date: iso8601(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()),
        accel: vm::accel().to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        disk: disk.display().to_string(),
        memory_mib: opts.memory_mib,
        floor_mib: MEMORY_FLOOR_MIB,
        kernel_bytes: size(&vmlinuz),
        initrd_bytes: size(&initrd),
        hopboot,
        direct,
        memory_overhead_mib: overhead,
    };
    let path = out.join("summary.json");
    std::fs::write(&path, json::render(&summary).context("serializing the summary")?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("bench: wrote {}", path.display());
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_mkconfig_default_entry() {
        let cfg = "\
set default=\"0\"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-5d1a' {
\tload_video
\tinsmod gzio
\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\techo\t'Loading Linux 6.1.0-50-amd64 ...'
\tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=5d1a ro  console=ttyS0,115200
\techo\t'Loading initial ramdisk ...'
\tinitrd\t/boot/initrd.img-6.1.0-50-amd64
}
submenu 'Advanced options for Debian GNU/Linux' {
\tmenuentry 'other' {
\t\tlinux /other
\t\tinitrd /o
\t}
}
";
        let e = grub_entry(cfg).unwrap();
        assert_eq!(e.kernel, "/boot/vmlinuz-6.1.0-50-amd64");
        assert_eq!(e.initrd, "/boot/initrd.img-6.1.0-50-amd64");
        assert_eq!(
            e.cmdline,
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=5d1a ro console=ttyS0,115200"
        );
        assert!(grub_entry("menuentry 'a' {\n\tlinux /k $x\n\tinitrd /i\n}\n").is_err());
        assert!(grub_entry("menuentry 'a' {\n\tlinux /k\n}\n").is_err());
        assert!(grub_entry("menuentry 'a' {\n\tlinux /k\n\tinitrd /a /b\n}\n").is_err());
        assert!(grub_entry("set default=0\n").is_err());
    }

    #[test]
    fn gpt_first_partition() {
        let mut image = vec![0u8; 64 * 1024];
        image[512..520].copy_from_slice(b"EFI PART");
        image[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
        image[1024] = 0xaf; // a partition type GUID
        image[1024 + 32..1024 + 40].copy_from_slice(&2048u64.to_le_bytes());
        assert_eq!(first_partition_offset(&image).unwrap(), 1024 * 1024);
        image[1024] = 0;
        assert!(first_partition_offset(&image).is_err(), "unused entry");
        image[512] = b'X';
        assert!(first_partition_offset(&image).is_err(), "no GPT");
        assert!(first_partition_offset(&image[..100]).is_err());
    }
}
