//! `hopboot-qemu`: the Makefile's entry point to the QEMU harness.

mod bench;
mod minimal;
mod svg;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use hopboot_qemu::demo::{self, Demo};
use hopboot_qemu::kernel;
use hopboot_qemu::target;
use hopboot_qemu::vm::{self, DiskAttach, DiskInterface, Vm, VmConfig};

const USAGE: &str = "\
usage:
  hopboot-qemu kernel
      Fetch (once) and cache the Debian kernel; print version=, vmlinuz=, modules_dir=.
  hopboot-qemu target-initramfs OUT
      Write the target initramfs (its /init prints HOPBOOT-TARGET-MARKER and powers off).
  hopboot-qemu demo-disk --variant grub|scan|empty OUT
      Build a demo disk image; print disk=, fs_uuid=, expected_cmdline=, expected_kernel=.
  hopboot-qemu distro-disk [OUT]
      As root: build a real Debian 12 installation (debootstrap, cached in
      target/distro/cache) on a GPT disk (default target/distro/debian12.img) with
      scripts/build-distro-rootfs.sh; print disk=, fs_uuid=, part_uuid=, kernel_version=.
      Its systemd prints HOPBOOT-DISTRO-MARKER and powers off; boot it with `run` on a
      copy (the installed system writes to its root filesystem).
  hopboot-qemu run (--initrd FILE | --no-initrd) [options]
      Boot QEMU. Options:
        --kernel FILE          bzImage (default: the Debian kernel)
        --no-initrd            no -initrd: the kernel carries its own (make payload)
        --vga                  a standard VGA card (the screen stays off: -display none)
        --uefi                 OVMF instead of SeaBIOS
        --disk FILE            attach a raw disk (repeatable)
        --disk-interface IF    for the following --disk: virtio-blk (default), virtio-scsi,
                               ahci, nvme, usb
        --append STR           kernel command line (default: \"console=ttyS0 panic=-1\")
        --memory MIB           guest memory (default 512)
        --cpus N               vCPUs (default 1)
        --log FILE             also write the timestamped serial log to FILE
        --interactive          serial console and QEMU monitor on this terminal
        --timeout SECS         give up after SECS (default 600); exit 1
        --expect STR           exit 0 (and kill QEMU) once a serial line contains STR
      Without --interactive, serial lines are printed to stderr with timestamps; without
      --expect the exit code is QEMU's.
  hopboot-qemu bench [options]
      Time boots through a bootloader initramfs (one QEMU at a time) and measure sizes and
      the smallest memory that boots; write OUT/summary.json and OUT/timeline.svg. Options:
        --initramfs FILE       the bootloader initramfs (default: build hopboot's, gzip,
                               virtio_blk,virtio_pci); any loader that kexecs the disk works
        --disk FILE            disk to boot (default: build the grub demo disk)
        --kernel FILE          first kernel (default: the Debian kernel)
        --runs N               timed boots (default 5)
        --append STR           first kernel's command line (default:
                               \"console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0\")
        --out DIR              output directory (default: target/bench)
        --memory MIB           guest memory of the timed boots (default 512)
        --no-memory-search     skip the smallest-memory bisection (up to 6 more boots)
        --no-sizes             skip the binary/initramfs size table
        --label NAME           name in the summary (default: hopboot or the initramfs name)
        --baseline-direct      also boot the target kernel + target initramfs directly
                               (no bootloader), interleaved, for ratios
        --reference-minimal    also boot bench/minimal-kexec (a minimal C tool: insmod,
                               mount ext4, first grub.cfg entry, kexec), interleaved, and
                               report the decision-window ratio to it
        --enter-runs N         also boot N times to the menu (60 s countdown), press Enter
                               once the default entry is preloaded, and time Enter →
                               Starting new kernel
        --timeout SECS         give up on one boot after SECS (default 300)
        --payload FILE         the firmware payload (make payload): report its sizes (from
                               FILE's .json beside it) and time QEMU start → hopboot's menu
                               for it (SeaBIOS, -kernel) and for Debian's kernel + hopboot's
                               initramfs, interleaved, in phases (firmware, decompression,
                               kernel init, hopboot)
        --menu-runs N          rounds of those menu runs (default 5)
        --distro               instead: the smallest memory that boots the Debian 12 install
                               of make test-distro (--disk, default target/distro/debian12.img,
                               built as root when missing) to its systemd marker, through
                               hopboot and directly (its kernel, initrd and GRUB's command
                               line), bisected below --memory; writes OUT/summary.json

environment:
  HOPBOOT_KERNEL_DIR       unpacked kernel tree (boot/vmlinuz-*, lib/modules/*) instead of Debian's
  HOPBOOT_KERNEL_REFRESH=1 ask apt for a newer Debian kernel even when one is cached
  HOPBOOT_QEMU_ACCEL       kvm (or auto: use /dev/kvm when a probe VM starts); TCG otherwise
  HOPBOOT_QEMU_VERBOSE=1   tee serial lines to stderr in library users (tests)
  CARGO_TARGET_DIR         where target/ (and the kernel cache, musl binaries) live
";

/// A command-line mistake: print usage, exit 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    match run(&args) {
        Ok(code) => code,
        Err(err) if err.is::<Usage>() => {
            eprintln!("hopboot-qemu: {err}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("hopboot-qemu: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let (command, rest) = args.split_first().ok_or_else(|| usage("missing command"))?;
    match command.as_str() {
        "kernel" => {
            no_more(rest)?;
            let k = kernel::debian_kernel()?;
            println!("version={}", k.version);
            println!("vmlinuz={}", k.vmlinuz.display());
            println!("modules_dir={}", k.modules_dir.display());
            Ok(ExitCode::SUCCESS)
        }
        "target-initramfs" => {
            let [out] = rest else {
                return Err(usage("target-initramfs takes exactly one argument: OUT"));
            };
            target::target_initramfs(&PathBuf::from(out))?;
            Ok(ExitCode::SUCCESS)
        }
        "demo-disk" => demo_disk(rest),
        "distro-disk" => distro_disk(rest),
        "run" => run_vm(rest),
        "bench" => bench_cmd(rest),
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

fn no_more(rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(arg) => Err(usage(format!("unexpected argument {arg:?}"))),
        None => Ok(()),
    }
}

/// Pops the value of option `name` from `it`.
fn value<'a>(name: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a str> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| usage(format!("{name} needs a value")))
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| usage(format!("{name}: {text:?} is not a valid number")))
}

fn demo_disk(rest: &[String]) -> Result<ExitCode> {
    let (mut variant, mut out) = (None, None);
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--variant" => {
                let name = value(arg, &mut it)?;
                variant = Some(name.parse::<Demo>().map_err(|e| usage(e.to_string()))?);
            }
            s if s.starts_with('-') => return Err(usage(format!("unknown option {s:?}"))),
            s if out.is_none() => out = Some(PathBuf::from(s)),
            s => return Err(usage(format!("unexpected argument {s:?}"))),
        }
    }
    let variant = variant.ok_or_else(|| usage("demo-disk needs --variant grub|scan|empty"))?;
    let out = out.ok_or_else(|| usage("demo-disk needs an output path"))?;
    let k = kernel::debian_kernel()?;
    let info = demo::demo_disk(&out, &k, variant)?;
    println!("disk={}", info.disk.display());
    println!("fs_uuid={}", info.fs_uuid);
    println!("expected_cmdline={}", info.expected_cmdline);
    println!("expected_kernel={}", info.expected_kernel);
    Ok(ExitCode::SUCCESS)
}

fn distro_disk(rest: &[String]) -> Result<ExitCode> {
    let out = match rest {
        [] => hopboot_qemu::distro::distro_dir()?.join("debian12.img"),
        [out] if !out.starts_with('-') => PathBuf::from(out),
        _ => return Err(usage("distro-disk takes at most one argument: OUT")),
    };
    let d = hopboot_qemu::distro::distro_disk(&out)?;
    println!("disk={}", d.disk.display());
    println!("fs_uuid={}", d.fs_uuid);
    println!("part_uuid={}", d.part_uuid);
    println!("kernel_version={}", d.kernel_version);
    eprintln!(
        "hopboot-qemu: root filesystem {:.0}s, image {:.0}s, partition {} MiB, initrd {} bytes",
        d.rootfs_time.as_secs_f64(),
        d.image_time.as_secs_f64(),
        d.partition_mib,
        d.initrd_bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn run_vm(rest: &[String]) -> Result<ExitCode> {
    let (mut kernel_path, mut initrd, mut log) = (None, None, None);
    let mut append = String::from("console=ttyS0 panic=-1");
    let (mut memory, mut cpus) = (512u32, 1u32);
    let (mut interactive, mut timeout, mut expect) = (false, 600u64, None);
    let (mut no_initrd, mut vga, mut uefi) = (false, false, false);
    let mut interface = DiskInterface::default();
    let mut disks = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => kernel_path = Some(PathBuf::from(value(arg, &mut it)?)),
            "--initrd" => initrd = Some(PathBuf::from(value(arg, &mut it)?)),
            "--no-initrd" => no_initrd = true,
            "--vga" => vga = true,
            "--uefi" => uefi = true,
            "--disk" => disks.push(DiskAttach::new(value(arg, &mut it)?).with_interface(interface)),
            "--disk-interface" => {
                interface = value(arg, &mut it)?
                    .parse()
                    .map_err(|e: anyhow::Error| usage(e.to_string()))?
            }
            "--append" => append = value(arg, &mut it)?.to_owned(),
            "--memory" => memory = number(arg, value(arg, &mut it)?)?,
            "--cpus" => cpus = number(arg, value(arg, &mut it)?)?,
            "--log" => log = Some(PathBuf::from(value(arg, &mut it)?)),
            "--interactive" => interactive = true,
            "--timeout" => timeout = number(arg, value(arg, &mut it)?)?,
            "--expect" => expect = Some(value(arg, &mut it)?.to_owned()),
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    let kernel_path = match kernel_path {
        Some(path) => path,
        None => kernel::debian_kernel()?.vmlinuz,
    };
    let mut cfg = match (initrd, no_initrd) {
        (Some(_), true) => return Err(usage("--initrd and --no-initrd exclude each other")),
        (None, false) => return Err(usage("run needs --initrd FILE (or --no-initrd)")),
        (Some(initrd), false) => VmConfig::new(kernel_path, initrd, append),
        (None, true) => VmConfig::payload(kernel_path, append),
    };
    cfg.vga = vga;
    if uefi {
        let vars = std::env::temp_dir().join(format!("hopboot-qemu-vars-{}.fd", std::process::id()));
        cfg.firmware = hopboot_qemu::vm::Firmware::uefi(vars)?;
    }
    cfg.disks = disks;
    cfg.memory_mib = memory;
    cfg.cpus = cpus;
    cfg.log = log;
    cfg.verbose = true;

    if interactive {
        let status = vm::run_interactive(&cfg)?;
        return Ok(exit_code(status.code()));
    }
    let mut vm = Vm::spawn(&cfg)?;
    eprintln!(
        "hopboot-qemu: QEMU pid {} (accel {}), timeout {timeout}s",
        vm.pid(),
        vm::accel()
    );
    let timeout = Duration::from_secs(timeout);
    match expect {
        Some(needle) => match vm.wait_for(&needle, timeout) {
            Ok(line) => {
                eprintln!("hopboot-qemu: saw {needle:?} after {:.1}s", line.t.as_secs_f64());
                vm.kill();
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("hopboot-qemu: {err:#}");
                Ok(ExitCode::FAILURE)
            }
        },
        None => {
            let status = vm.wait_exit(timeout).context("waiting for QEMU to exit")?;
            eprintln!("hopboot-qemu: QEMU exited: {status}");
            Ok(exit_code(status.code()))
        }
    }
}

fn bench_cmd(rest: &[String]) -> Result<ExitCode> {
    let mut opts = bench::Options::new(hopboot_qemu::paths::target_dir()?.join("bench"));
    let mut distro = false;
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--initramfs" => opts.initramfs = Some(PathBuf::from(value(arg, &mut it)?)),
            "--disk" => opts.disk = Some(PathBuf::from(value(arg, &mut it)?)),
            "--kernel" => opts.kernel = Some(PathBuf::from(value(arg, &mut it)?)),
            "--runs" => opts.runs = number(arg, value(arg, &mut it)?)?,
            "--append" => opts.append = value(arg, &mut it)?.to_owned(),
            "--out" => opts.out = PathBuf::from(value(arg, &mut it)?),
            "--memory" => opts.memory_mib = number(arg, value(arg, &mut it)?)?,
            "--no-memory-search" => opts.memory_search = false,
            "--no-sizes" => opts.sizes = false,
            "--label" => opts.label = Some(value(arg, &mut it)?.to_owned()),
            "--baseline-direct" => opts.baseline_direct = true,
            "--reference-minimal" => opts.reference_minimal = true,
            "--enter-runs" => opts.enter_runs = number(arg, value(arg, &mut it)?)?,
            "--timeout" => opts.timeout = Duration::from_secs(number(arg, value(arg, &mut it)?)?),
            "--payload" => opts.payload = Some(PathBuf::from(value(arg, &mut it)?)),
            "--menu-runs" => opts.menu_runs = number(arg, value(arg, &mut it)?)?,
            "--distro" => distro = true,
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    if opts.runs == 0 {
        return Err(usage("--runs must be at least 1"));
    }
    if distro {
        if !rest.iter().any(|a| a == "--out") {
            opts.out = hopboot_qemu::paths::target_dir()?.join("bench-distro");
        }
        let summary = bench::run_distro(&opts)?;
        print!("{}", summary.table());
        return Ok(ExitCode::SUCCESS);
    }
    let summary = bench::run(&opts)?;
    print!("{}", summary.table());
    Ok(ExitCode::SUCCESS)
}

fn exit_code(code: Option<i32>) -> ExitCode {
    match code {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}
