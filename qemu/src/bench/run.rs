//! The orchestration: building what is booted, booting QEMU one at a time (bootloader,
//! minimal reference and direct boots interleaved), the Enter runs and the memory search, and
//! writing the results.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use hopboot_image_build::{build, Compression, Options as ImageOptions};
use hopboot_qemu::demo::{self, Demo};
use hopboot_qemu::kernel;
use hopboot_qemu::paths;
use hopboot_qemu::target::{self, MARKER};
use hopboot_qemu::vm::{self, DiskAttach, Line, Vm, VmConfig};

use super::json;
use super::memory::{search_memory, MemorySearch};
use super::menu::{self, MenuKind, MenuRun, MenuTimeline, PayloadBench, PayloadInfo};
use super::summary::{ImageSize, Run, Sizes, Summary};
use super::timeline::{Kind, Timeline};
use super::{Options, MEMORY_FLOOR_MIB, MEMORY_PROBES, MODULES};
use crate::minimal;
use crate::svg;

/// A timed boot without serial output this long has hung (or waits at a menu). The longest
/// quiet stretch of a good boot under TCG is the kexec hand-over: 7-12 s on a busy 2-core host.
const RUN_SILENCE: Duration = Duration::from_secs(60);
/// The same for a memory probe, which is expected to fail now and then.
const PROBE_SILENCE: Duration = Duration::from_secs(30);
/// Lines after which the marker cannot come: stop waiting for it.
const FATAL: [&str; 3] = [
    "Kernel panic - not syncing",
    "hopboot: no entry could be booted",
    minimal::FAILED,
];

/// `2024-05-01T12:34:56Z` for a time since the Unix epoch.
pub fn iso8601(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (mut days, rem) = (secs / 86_400, secs % 86_400);
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Boots `cfg` until `marker`, a fatal line, QEMU's exit, `silence` without serial output
/// (a bootloader waiting at its menu after a failure) or `timeout`. Returns the serial lines
/// and, on failure, why.
pub(super) fn boot(
    cfg: &VmConfig,
    marker: &str,
    timeout: Duration,
    silence: Duration,
) -> Result<(Vec<Line>, Option<String>)> {
    let spawned = Instant::now();
    let mut vm = Vm::spawn(cfg)?;
    let deadline = spawned + timeout;
    let mut scanned = 0;
    let error = loop {
        if vm.wait_for(marker, Duration::from_millis(500)).is_ok() {
            break None;
        }
        let lines = vm.lines();
        if let Some(fatal) = lines
            .get(scanned..)
            .unwrap_or_default()
            .iter()
            .find(|l| FATAL.iter().any(|f| l.text.contains(f)))
        {
            break Some(format!("at {:.1}s: {}", fatal.t.as_secs_f64(), fatal.text.trim()));
        }
        scanned = lines.len();
        if vm.wait_exit(Duration::ZERO).is_ok() {
            // The reader may still hold the last lines: one more look once it reaches EOF.
            if vm.wait_for(marker, Duration::from_secs(5)).is_ok() {
                break None;
            }
            let status = vm.wait_exit(Duration::ZERO).map(|s| s.to_string()).unwrap_or_default();
            break Some(format!(
                "QEMU exited ({status}) after {} serial lines",
                vm.lines().len()
            ));
        }
        let last = lines
            .last()
            .cloned()
            .into_iter()
            .chain(vm.partial_line())
            .max_by_key(|l| l.t);
        if let Some(last) = last {
            let quiet = spawned.elapsed().saturating_sub(last.t);
            if quiet >= silence {
                let text: String = vm::strip_ansi(last.text.trim()).chars().take(120).collect();
                break Some(format!(
                    "no serial output for {:.0}s after {:.1}s: {text}",
                    quiet.as_secs_f64(),
                    last.t.as_secs_f64()
                ));
            }
        }
        if Instant::now() >= deadline {
            break Some(format!("no marker after {:.0}s", timeout.as_secs_f64()));
        }
    };
    if error.is_none() {
        // The target powers off right after the marker; give it a moment, then make sure.
        let _ = vm.wait_exit(Duration::from_secs(30));
    }
    vm.kill();
    Ok((vm.lines(), error))
}

/// The command line with `hopboot.timeout=0` replaced by a long countdown.
fn with_menu_countdown(append: &str) -> String {
    let mut words: Vec<&str> = append
        .split_whitespace()
        .filter(|w| !w.starts_with("hopboot.timeout="))
        .collect();
    words.push("hopboot.timeout=60");
    words.join(" ")
}

/// Boots to hopboot's menu, waits until the countdown has preloaded the default entry
/// (its `stage=kexec_loaded` line), presses Enter and returns the seconds from the key
/// to the kernel's "Starting new kernel" line.
fn enter_to_kexec(cfg: &VmConfig, timeout: Duration) -> Result<f64, String> {
    let spawned = Instant::now();
    let mut vm = Vm::spawn(cfg).map_err(|e| format!("{e:#}"))?;
    let result = (|| {
        vm.wait_for("stage=kexec_loaded", timeout)?;
        // The line is printed when the load returns; the menu then goes back to reading keys.
        std::thread::sleep(Duration::from_millis(200));
        vm.send(b"\r")?;
        let pressed = spawned.elapsed();
        let line = vm.wait_for("kexec_core: Starting new kernel", Duration::from_secs(60))?;
        anyhow::Ok(line.t.saturating_sub(pressed).as_secs_f64())
    })()
    .map_err(|e| format!("{e:#}"));
    vm.kill();
    result
}

/// A boot configuration for runs of one kind.
struct Setup {
    kind: Kind,
    cfg: VmConfig,
}

impl Setup {
    fn run(&self, index: u32, memory_mib: u32, out: &Path, timeout: Duration, silence: Duration) -> Result<Run> {
        let mut cfg = self.cfg.clone();
        cfg.memory_mib = memory_mib;
        let log = match self.kind {
            Kind::Bootloader if memory_mib == self.cfg.memory_mib => format!("run-{index:02}.log"),
            Kind::Bootloader => format!("memory-{memory_mib}.log"),
            Kind::Minimal => format!("minimal-{index:02}.log"),
            Kind::Direct if memory_mib == self.cfg.memory_mib => format!("direct-{index:02}.log"),
            Kind::Direct => format!("memory-direct-{memory_mib}.log"),
        };
        cfg.log = Some(out.join("logs").join(log));
        let (lines, error) = boot(&cfg, MARKER, timeout, silence)?;
        let timeline = Timeline::from_lines_of(&lines, self.kind);
        let error = error.or_else(|| timeline.total().is_none().then(|| "no marker line".to_owned()));
        Ok(Run {
            index,
            kind: self.kind,
            memory_mib,
            error,
            timeline,
        })
    }
}

/// The smallest memory that boots `setup`'s kind, bisected below the timed runs' memory;
/// `None` when no timed run of that kind reached the marker.
fn memory_floor(summary: &Summary, setup: &Setup, opts: &Options) -> Option<MemorySearch> {
    let what = match setup.kind {
        Kind::Direct => "direct boot ",
        _ => "",
    };
    let Some(total) = summary.total(setup.kind) else {
        eprintln!(
            "bench: no timed {} run reached the marker; skipping its memory search",
            setup.kind.name()
        );
        return None;
    };
    // A probe gets twice the slowest timed boot (at least a minute) before it counts as failed.
    let timeout = Duration::from_secs_f64((total.max * 2.0).max(60.0)).min(opts.timeout);
    Some(search_memory(
        MEMORY_FLOOR_MIB,
        opts.memory_mib,
        8,
        MEMORY_PROBES,
        |mib| {
            let result = match setup.run(0, mib, &opts.out, timeout, PROBE_SILENCE) {
                Ok(run) if run.ok() => Ok(()),
                Ok(run) => Err(run.error.unwrap_or_else(|| "no marker".into())),
                Err(e) => Err(format!("{e:#}")),
            };
            eprintln!(
                "bench: {what}memory {mib} MiB: {}",
                result
                    .as_ref()
                    .map_or_else(|e| format!("fails ({e})"), |()| "boots".into())
            );
            result
        },
    ))
}

/// Rounds of menu runs: the payload under SeaBIOS, then Debian's `kernel` with hopboot's
/// `initramfs`, both on `disk` with a menu countdown, QEMU killed once the menu is shown.
fn menu_runs(
    opts: &Options,
    payload: &Path,
    kernel: &Path,
    initramfs: &Path,
    disk: &DiskAttach,
) -> Result<PayloadBench> {
    let (info, breakdown) = PayloadInfo::read(payload)?;
    if !breakdown {
        eprintln!(
            "bench: {} has no size breakdown beside it ({}); only its size is reported",
            payload.display(),
            payload.with_extension("json").display()
        );
    }
    let (payload_append, debian_append) = menu::appends(&opts.append);
    let mut kinds = Vec::new();
    for (kind, cfg) in [
        (MenuKind::Payload, VmConfig::payload(payload, payload_append.as_str())),
        (
            MenuKind::Debian,
            VmConfig::new(kernel, initramfs, debian_append.as_str()),
        ),
    ] {
        let mut cfg = cfg.with_disk(disk.clone());
        cfg.memory_mib = opts.memory_mib;
        kinds.push((kind, cfg));
    }
    let mut bench = PayloadBench {
        file: payload.to_path_buf(),
        info,
        append: payload_append.clone(),
        debian_append: debian_append.clone(),
        runs: Vec::new(),
    };
    for i in 1..=opts.menu_runs {
        for (kind, cfg) in &kinds {
            let mut cfg = cfg.clone();
            cfg.log = Some(opts.out.join("logs").join(format!("menu-{}-{i:02}.log", kind.name())));
            let (lines, error) = menu::boot_to_menu(&cfg, opts.timeout, RUN_SILENCE)?;
            let timeline = MenuTimeline::from_lines(&lines);
            let error = error.or_else(|| timeline.menu().is_none().then(|| "no menu line".to_owned()));
            let phases: Vec<String> = menu::PHASES
                .iter()
                .zip(timeline.phases())
                .map(|(name, s)| format!("{name} {}", s.map_or("-".into(), |s| format!("{s:.2}"))))
                .collect();
            eprintln!(
                "bench: menu run {i}/{} ({}): menu shown at {} ({}){}",
                opts.menu_runs,
                kind.name(),
                timeline.menu().map_or("-".into(), |x| format!("{x:.2}s")),
                phases.join(", "),
                error.as_ref().map_or(String::new(), |e| format!(" FAILED: {e}"))
            );
            bench.runs.push(MenuRun {
                index: i,
                kind: *kind,
                error,
                timeline,
            });
        }
    }
    if bench.ok_runs(MenuKind::Payload).next().is_none() {
        bail!(
            "no menu run of the payload showed the menu (serial logs in {}/menu-payload-*.log)",
            opts.out.join("logs").display()
        );
    }
    Ok(bench)
}

/// Builds the standard hopboot initramfs with `compression`, with or without modules.
pub(super) fn build_image(
    binary: &Path,
    modules_dir: &Path,
    compression: Compression,
    modules: bool,
    out: &Path,
) -> Result<u64> {
    let report = build(&ImageOptions {
        binary: binary.to_path_buf(),
        modules_dir: Some(modules_dir.to_path_buf()),
        modules: if modules {
            MODULES.iter().map(|m| m.to_string()).collect()
        } else {
            Vec::new()
        },
        filesystems: Vec::new(),
        extra: Vec::new(),
        compression,
        mtime: 0,
        output: out.to_path_buf(),
    })
    .with_context(|| format!("building {}", out.display()))?;
    Ok(report.compressed_bytes)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Runs the whole benchmark and writes `summary.json`, `timeline.svg` (and `timeline.png` when
/// `rsvg-convert` is installed) to `opts.out`.
pub fn run(opts: &Options) -> Result<Summary> {
    ensure!(opts.runs >= 1, "--runs must be at least 1");
    ensure!(
        !opts.append.split_whitespace().any(|w| w == "quiet"),
        "the kernel command line contains `quiet`, which hides \"Run /init\" and \"Starting new kernel\""
    );
    let out = &opts.out;
    std::fs::create_dir_all(out.join("logs")).with_context(|| format!("creating {}", out.display()))?;
    let standard = opts.initramfs.is_none();
    // The minimal reference takes its modules from the Debian kernel tree.
    let needs_debian = opts.kernel.is_none() || standard || opts.disk.is_none() || opts.reference_minimal;
    let debian = if needs_debian {
        Some(kernel::debian_kernel()?)
    } else {
        None
    };
    let kernel_path = match (&opts.kernel, &debian) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.vmlinuz.clone(),
        (None, None) => bail!("no kernel"),
    };

    let mut sizes = None;
    let initramfs = match (&opts.initramfs, &debian) {
        (Some(i), _) => i.clone(),
        (None, Some(d)) => {
            let binary = paths::musl_bin("hopboot")?;
            let path = out.join("hopboot-initramfs.cpio.gz");
            eprintln!("bench: building {}", path.display());
            let with = build_image(&binary, &d.modules_dir, Compression::Gzip, true, &path)?;
            if opts.sizes {
                let mut images = Vec::new();
                for c in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
                    let dir = out.join("sizes");
                    let name = |m: &str| dir.join(format!("hopboot-initramfs-{m}.cpio.{}", c.name()));
                    let with_modules = match c {
                        Compression::Gzip => with,
                        _ => build_image(&binary, &d.modules_dir, c, true, &name("modules"))?,
                    };
                    let without_modules = build_image(&binary, &d.modules_dir, c, false, &name("bare"))?;
                    images.push(ImageSize {
                        compression: c,
                        with_modules,
                        without_modules,
                    });
                }
                let binary_bytes = std::fs::metadata(&binary)
                    .with_context(|| format!("reading {}", binary.display()))?
                    .len();
                sizes = Some(Sizes { binary_bytes, images });
            }
            path
        }
        (None, None) => bail!("no kernel modules for the standard initramfs"),
    };

    let mut direct_append = "console=ttyS0 panic=-1".to_owned();
    let disk = match (&opts.disk, &debian) {
        (Some(d), _) => d.clone(),
        (None, Some(k)) => {
            let path = out.join("demo-grub.img");
            eprintln!("bench: building {}", path.display());
            let info = demo::demo_disk(&path, k, Demo::Grub)?;
            // What the demo's grub.cfg gives the target kernel (plus panic=-1 so a failure ends QEMU).
            direct_append = format!("BOOT_IMAGE={} {} panic=-1", info.expected_kernel, info.expected_cmdline);
            info.disk
        }
        (None, None) => bail!("no kernel for the demo disk"),
    };

    // Every kind boots the same kernel and disk (read-only) with the same memory.
    let attach = DiskAttach::new(&disk).read_only();
    let setup = |kind, initramfs: &Path, append: &str| {
        let mut cfg = VmConfig::new(&kernel_path, initramfs, append).with_disk(attach.clone());
        cfg.memory_mib = opts.memory_mib;
        Setup { kind, cfg }
    };
    let bootloader = setup(Kind::Bootloader, &initramfs, &opts.append);
    let mut minimal_image = None;
    let reference = match (opts.reference_minimal, &debian) {
        (true, Some(d)) => {
            eprintln!("bench: building the minimal-kexec reference from {}", minimal::SOURCE);
            let image = minimal::build(out, &d.modules_dir)?;
            eprintln!(
                "bench: {} ({} bytes; modules {})",
                image.initramfs.display(),
                image.initramfs_bytes,
                image.modules.join(" ")
            );
            // The same kernel, command line, disk and memory as the bootloader under test.
            let minimal = setup(Kind::Minimal, &image.initramfs, &opts.append);
            minimal_image = Some(image);
            Some(minimal)
        }
        (true, None) => bail!("--reference-minimal needs the Debian kernel's modules"),
        (false, _) => None,
    };
    let direct = if opts.baseline_direct {
        let target = out.join("target-initramfs.cpio.gz");
        target::target_initramfs(&target)?;
        Some(setup(Kind::Direct, &target, &direct_append))
    } else {
        None
    };

    let label = opts.label.clone().unwrap_or_else(|| match &opts.initramfs {
        None => "hopboot".to_owned(),
        Some(p) => file_name(p),
    });
    let mut summary = Summary {
        label,
        date: iso8601(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()),
        accel: vm::accel().to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_mib: opts.memory_mib,
        append: opts.append.clone(),
        standard_build: standard,
        runs: Vec::new(),
        sizes,
        memory: None,
        minimal: minimal_image,
        enter: Vec::new(),
        memory_direct: None,
        payload: None,
    };

    // One QEMU at a time: under TCG each takes a whole core. Interleaved, so that a slow phase
    // of the host hits every kind alike: bootloader, minimal, direct, bootloader, …
    for i in 1..=opts.runs {
        for setup in std::iter::once(&bootloader)
            .chain(reference.as_ref())
            .chain(direct.as_ref())
        {
            let run = setup.run(i, opts.memory_mib, out, opts.timeout, RUN_SILENCE)?;
            let t = &run.timeline;
            eprintln!(
                "bench: {} run {i}/{}: total {}, decision window {}{}",
                run.kind.name(),
                opts.runs,
                t.total().map_or("-".into(), |x| format!("{x:.2}s")),
                t.decision_window().map_or("-".into(), |x| format!("{x:.2}s")),
                run.error.as_ref().map_or(String::new(), |e| format!(" FAILED: {e}"))
            );
            summary.runs.push(run);
        }
    }

    for i in 1..=opts.enter_runs {
        let mut cfg = bootloader.cfg.clone();
        cfg.append = with_menu_countdown(&cfg.append);
        cfg.log = Some(out.join("logs").join(format!("enter-{i:02}.log")));
        let r = enter_to_kexec(&cfg, opts.timeout);
        eprintln!(
            "bench: enter run {i}/{}: {}",
            opts.enter_runs,
            match &r {
                Ok(s) => format!("Enter → Starting new kernel {:.0} ms", s * 1000.0),
                Err(e) => format!("FAILED: {e}"),
            }
        );
        summary.enter.push(r);
    }

    if let Some(payload) = &opts.payload {
        summary.payload = Some(menu_runs(opts, payload, &kernel_path, &initramfs, &attach)?);
    }

    if opts.memory_search {
        summary.memory = memory_floor(&summary, &bootloader, opts);
        if let Some(direct) = &direct {
            summary.memory_direct = memory_floor(&summary, direct, opts);
        }
    }

    let json_path = out.join("summary.json");
    std::fs::write(
        &json_path,
        json::render(&summary.json()).context("serializing the summary")?,
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = out.join("timeline.svg");
    std::fs::write(&svg_path, svg::render(&summary.chart()))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let png = out.join("timeline.png");
    let converted = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&svg_path)
        .output()
        .is_ok_and(|o| o.status.success());
    eprintln!(
        "bench: wrote {}, {}{}",
        json_path.display(),
        svg_path.display(),
        if converted {
            format!(", {}", png.display())
        } else {
            String::new()
        }
    );
    if summary.ok_runs(Kind::Bootloader).next().is_none() {
        print!("{}", summary.table());
        bail!(
            "no run reached the target marker (serial logs in {})",
            out.join("logs").display()
        );
    }
    if reference.is_some() && summary.ok_runs(Kind::Minimal).next().is_none() {
        print!("{}", summary.table());
        bail!(
            "no run of the minimal reference reached the target marker (serial logs in {}/minimal-*.log)",
            out.join("logs").display()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_countdown_replaces_hopboot_timeout() {
        assert_eq!(
            with_menu_countdown("console=ttyS0 hopboot.timeout=0 x"),
            "console=ttyS0 x hopboot.timeout=60"
        );
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(Duration::from_secs(1_735_689_599)), "2024-12-31T23:59:59Z");
    }
}
