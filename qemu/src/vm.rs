//! QEMU runs read over the serial console.
//!
//! [`Vm::spawn`] starts `qemu-system-x86_64` with the first serial port on the child's
//! stdin/stdout pipes. A reader thread splits the output into [`Line`]s stamped with
//! the time since spawn; [`Vm::wait_for`] blocks until a line (or the unfinished
//! last line, e.g. a prompt) contains a string. Dropping a [`Vm`] kills its QEMU by
//! the pid it spawned.
//!
//! QEMU runs under TCG unless `HOPBOOT_QEMU_ACCEL=kvm` asks for KVM (`auto` probes
//! it). KVM is not trusted by default: on these sandboxes `/dev/kvm` can fail on the
//! first vCPU, or (seen 2026-12-03) start a VM that runs SeaBIOS and then hangs the
//! Linux kernel when it leaves real mode, with no error anywhere: every QEMU test
//! timed out with an empty serial console.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// Env var: `1` tees every serial line to stderr as `[  12.345] text`.
pub const VERBOSE_ENV: &str = "HOPBOOT_QEMU_VERBOSE";
/// Env var: `kvm` forces KVM, `auto` uses it when a probe VM starts with it; TCG otherwise.
pub const ACCEL_ENV: &str = "HOPBOOT_QEMU_ACCEL";
/// How many serial lines error messages quote.
pub const TAIL_LINES: usize = 40;

/// How a disk is attached to the guest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiskInterface {
    /// `virtio-blk-pci` (`/dev/vda`).
    #[default]
    VirtioBlk,
    /// `scsi-hd` on a `virtio-scsi-pci` controller (`/dev/sda`).
    VirtioScsi,
    /// `ide-hd` on an `ich9-ahci` controller (`/dev/sda`).
    Ahci,
    /// An `nvme` controller per disk (`/dev/nvme0n1`).
    Nvme,
    /// `usb-storage` on a `qemu-xhci` controller (`/dev/sda`).
    Usb,
}

impl DiskInterface {
    /// All interfaces.
    pub const ALL: [DiskInterface; 5] = [
        DiskInterface::VirtioBlk,
        DiskInterface::VirtioScsi,
        DiskInterface::Ahci,
        DiskInterface::Nvme,
        DiskInterface::Usb,
    ];

    /// Name on the command line: `virtio-blk`, `virtio-scsi`, `ahci`, `nvme`, `usb`.
    pub fn name(self) -> &'static str {
        match self {
            DiskInterface::VirtioBlk => "virtio-blk",
            DiskInterface::VirtioScsi => "virtio-scsi",
            DiskInterface::Ahci => "ahci",
            DiskInterface::Nvme => "nvme",
            DiskInterface::Usb => "usb",
        }
    }
}

impl fmt::Display for DiskInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DiskInterface {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match DiskInterface::ALL.into_iter().find(|i| i.name() == s) {
            Some(i) => Ok(i),
            None => bail!("unknown disk interface {s:?} (expected virtio-blk, virtio-scsi, ahci, nvme or usb)"),
        }
    }
}

/// A raw disk image attached to the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskAttach {
    /// The image file (raw format).
    pub path: PathBuf,
    /// Controller type.
    pub interface: DiskInterface,
    /// Attach read-only (several VMs may then share the image). AHCI disks cannot be
    /// read-only in QEMU; they get `snapshot=on` instead (the guest can write, the
    /// image is not changed).
    pub readonly: bool,
    /// Logical and physical block size the guest sees (`None`: QEMU's 512).
    /// virtio-blk, virtio-scsi and NVMe take 4096; AHCI and USB storage are
    /// refused (QEMU's ide-hd and usb-storage only do 512).
    pub block_size: Option<u32>,
    /// Faults QEMU's block layer injects between the image and the guest.
    pub faults: Vec<Fault>,
}

/// A fault QEMU's own block layer injects into a disk's reads: the guest
/// sees a failing or stalling device, the image is untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Reads that touch any of these 512-byte sectors fail with EIO: a
    /// `blkdebug` filter with an `inject-error` rule per sector, active
    /// from the start (event `none`, which blkdebug raises when it opens).
    ReadErrors(Vec<u64>),
    /// A `throttle` filter: after a burst of `burst` requests, one request
    /// per second. The burst lets the kernel's own partition scan (which
    /// runs inside the driver's probe, so inside module loading) pass.
    OnePerSecond {
        /// Requests answered at once.
        burst: u64,
    },
    /// A `throttle` filter: after a burst of `burst` bytes, one byte per
    /// second: the next request waits for hours, so the disk stops
    /// answering in the middle of whatever it was asked.
    StopAfter {
        /// Bytes answered before it stops.
        burst: u64,
    },
}

impl DiskAttach {
    /// A writable virtio-blk disk.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DiskAttach {
            path: path.into(),
            interface: DiskInterface::default(),
            readonly: false,
            block_size: None,
            faults: Vec::new(),
        }
    }

    /// Injects `fault` into the disk's reads (several faults stack, the
    /// first nearest the guest).
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Shows the disk to the guest with `bytes`-byte logical and physical sectors.
    pub fn with_block_size(mut self, bytes: u32) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// Uses `interface` instead of virtio-blk.
    pub fn with_interface(mut self, interface: DiskInterface) -> Self {
        self.interface = interface;
        self
    }

    /// Attaches read-only.
    pub fn read_only(mut self) -> Self {
        self.readonly = true;
        self
    }
}

/// What to boot and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// bzImage passed with `-kernel`; `None`: the firmware boots from the disks.
    pub kernel: Option<PathBuf>,
    /// Initramfs passed with `-initrd`; `None` for a kernel with its initramfs built in.
    pub initrd: Option<PathBuf>,
    /// Kernel command line (`-append`; empty without a kernel).
    pub append: String,
    /// Disks, attached in order.
    pub disks: Vec<DiskAttach>,
    /// Guest memory in MiB (default 512).
    pub memory_mib: u32,
    /// vCPUs (default 1).
    pub cpus: u32,
    /// Extra QEMU arguments, appended last.
    pub extra_args: Vec<String>,
    /// Also write every serial line, timestamped, to this file.
    pub log: Option<PathBuf>,
    /// Tee serial lines to stderr (also enabled by `HOPBOOT_QEMU_VERBOSE=1`).
    pub verbose: bool,
    /// The firmware (default: SeaBIOS).
    pub firmware: Firmware,
    /// A standard VGA card (`-vga std`), for screen tests; none by default.
    pub vga: bool,
    /// A QMP monitor on this Unix socket (see [`crate::qmp::Qmp`]).
    pub qmp: Option<PathBuf>,
    /// A guest reboot resets the machine (firmware again) instead of ending QEMU
    /// (`-no-reboot`, the default): for firmware reboots of an installed system.
    pub reboot: bool,
    /// Network cards, each on a tap device of [`VmConfig::netns`] (none by default).
    pub nics: Vec<Nic>,
    /// Run QEMU inside this network namespace (`ip netns exec`), where its
    /// tap devices are.
    pub netns: Option<String>,
    /// A TPM 2.0 on the TIS interface, backed by the swtpm listening on this
    /// Unix socket (`swtpm socket --tpm2 --ctrl type=unixio,path=…`; the caller
    /// runs it).
    pub tpm: Option<PathBuf>,
}

/// A network card on an existing tap device (`-netdev tap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The tap device (made by the caller, e.g. `ip tuntap add NAME mode tap`).
    pub tap: String,
    /// The card's MAC address (`52:54:00:…`).
    pub mac: String,
    /// QEMU's device model: `virtio-net-pci`, `e1000`, `e1000e`.
    pub model: String,
}

/// OVMF's code, from Debian's `ovmf` package (the pair its QEMU firmware
/// descriptor `60-edk2-x86_64.json` names: no Secure Boot, no SMM).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// The empty variable store that goes with [`OVMF_CODE`].
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// The firmware the VM starts. Either way QEMU loads `-kernel`/`-initrd`
/// itself (fw_cfg): SeaBIOS through its Linux boot option ROM, OVMF by
/// starting the kernel's EFI stub.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Firmware {
    /// QEMU's default, SeaBIOS.
    #[default]
    Bios,
    /// UEFI: [`OVMF_CODE`] as read-only pflash and `vars`, this VM's own
    /// writable copy of [`OVMF_VARS`] ([`Firmware::uefi`] makes it).
    Uefi {
        /// The VM's variable store.
        vars: PathBuf,
    },
}

impl Firmware {
    /// OVMF with a fresh copy of [`OVMF_VARS`] at `vars` (replaced if it exists).
    pub fn uefi(vars: impl Into<PathBuf>) -> Result<Firmware> {
        let vars = vars.into();
        std::fs::copy(OVMF_VARS, &vars).with_context(|| {
            format!(
                "copying {OVMF_VARS} to {} (Debian package ovmf, see scripts/install-deps.sh)",
                vars.display()
            )
        })?;
        Ok(Firmware::Uefi { vars })
    }
}

impl VmConfig {
    /// A config with 512 MiB, 1 vCPU, no disks.
    pub fn new(kernel: impl Into<PathBuf>, initrd: impl Into<PathBuf>, append: impl Into<String>) -> Self {
        VmConfig {
            kernel: Some(kernel.into()),
            initrd: Some(initrd.into()),
            append: append.into(),
            disks: Vec::new(),
            memory_mib: 512,
            cpus: 1,
            extra_args: Vec::new(),
            log: None,
            verbose: false,
            firmware: Firmware::Bios,
            vga: false,
            qmp: None,
            reboot: false,
            nics: Vec::new(),
            netns: None,
            tpm: None,
        }
    }

    /// A kernel that carries its own initramfs (the firmware payload), passed with
    /// `-kernel` and no `-initrd`; `append` is added to its built-in command line.
    pub fn payload(kernel: impl Into<PathBuf>, append: impl Into<String>) -> Self {
        VmConfig {
            initrd: None,
            ..VmConfig::new(kernel, PathBuf::new(), append)
        }
    }

    /// No `-kernel`: the firmware boots what it finds on the disks (a UEFI
    /// application on an ESP, a BIOS boot sector).
    pub fn firmware_boot() -> Self {
        VmConfig {
            kernel: None,
            initrd: None,
            ..VmConfig::new(PathBuf::new(), PathBuf::new(), "")
        }
    }

    /// Starts the VM with `firmware` instead of SeaBIOS.
    pub fn with_firmware(mut self, firmware: Firmware) -> Self {
        self.firmware = firmware;
        self
    }

    /// Adds a disk.
    pub fn with_disk(mut self, disk: DiskAttach) -> Self {
        self.disks.push(disk);
        self
    }

    /// The QEMU arguments (without the binary). `interactive` multiplexes the
    /// monitor onto a terminal on stdio; otherwise the serial port alone is on the
    /// stdin/stdout pipes and there is no monitor.
    pub fn qemu_args(&self, interactive: bool) -> Result<Vec<OsString>> {
        for (what, path) in [("kernel", &self.kernel), ("initrd", &self.initrd)] {
            if let Some(path) = path {
                ensure!(path.is_file(), "{what} {} does not exist", path.display());
            }
        }
        ensure!(
            self.kernel.is_some() || (self.initrd.is_none() && self.append.is_empty()),
            "an initrd or a command line needs a kernel (-kernel)"
        );
        ensure!(
            !self.append.contains('\0'),
            "the kernel command line contains a NUL byte"
        );
        ensure!(
            self.memory_mib >= 64,
            "memory_mib {} is too small (at least 64)",
            self.memory_mib
        );
        ensure!(self.cpus >= 1, "cpus must be at least 1");

        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
        push(&["-machine", "q35", "-accel", accel(), "-cpu", "max"]);
        push(&["-m", &self.memory_mib.to_string(), "-smp", &self.cpus.to_string()]);
        push(&["-nodefaults", "-no-user-config", "-display", "none"]);
        if self.nics.is_empty() {
            push(&["-nic", "none"]);
        }
        for (i, n) in self.nics.iter().enumerate() {
            let netdev = format!("tap,id=net{i},ifname={},script=no,downscript=no", n.tap);
            let device = format!("{},netdev=net{i},mac={}", n.model, n.mac);
            push(&["-netdev", &netdev, "-device", &device]);
        }
        if !self.reboot {
            push(&["-no-reboot"]);
        }
        if self.vga {
            push(&["-vga", "std"]);
        }
        if let Some(sock) = &self.qmp {
            let sock = sock
                .to_str()
                .with_context(|| format!("QMP socket path {} is not UTF-8", sock.display()))?
                .replace(',', ",,");
            push(&["-qmp", &format!("unix:{sock},server=on,wait=off")]);
        }
        if let Some(sock) = &self.tpm {
            let sock = sock
                .to_str()
                .with_context(|| format!("TPM socket path {} is not UTF-8", sock.display()))?
                .replace(',', ",,");
            push(&["-chardev", &format!("socket,id=chrtpm,path={sock}")]);
            push(&[
                "-tpmdev",
                "emulator,id=tpm0,chardev=chrtpm",
                "-device",
                "tpm-tis,tpmdev=tpm0",
            ]);
        }
        if interactive {
            push(&["-serial", "mon:stdio"]);
        } else {
            push(&[
                "-chardev",
                "stdio,id=ser0,signal=off",
                "-serial",
                "chardev:ser0",
                "-monitor",
                "none",
            ]);
        }
        if let Firmware::Uefi { vars } = &self.firmware {
            ensure!(
                Path::new(OVMF_CODE).is_file(),
                "{OVMF_CODE} missing (Debian package ovmf, see scripts/install-deps.sh)"
            );
            ensure!(vars.is_file(), "OVMF variable store {} does not exist", vars.display());
            let vars = vars
                .to_str()
                .with_context(|| format!("variable store path {} is not UTF-8", vars.display()))?
                .replace(',', ",,");
            push(&[
                "-drive",
                &format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
            ]);
            push(&["-drive", &format!("if=pflash,format=raw,unit=1,file={vars}")]);
        }
        if let Some(kernel) = &self.kernel {
            args.extend(["-kernel".into(), kernel.clone().into_os_string()]);
            if let Some(initrd) = &self.initrd {
                args.extend(["-initrd".into(), initrd.clone().into_os_string()]);
            }
            args.extend(["-append".into(), OsString::from(&self.append)]);
        }
        args.extend(disk_args(&self.disks)?);
        args.extend(self.extra_args.iter().map(OsString::from));
        Ok(args)
    }
}

/// `-drive`/`-device` arguments for `disks`, adding each controller once.
fn disk_args(disks: &[DiskAttach]) -> Result<Vec<OsString>> {
    let mut args: Vec<OsString> = Vec::new();
    let (mut scsi, mut ahci, mut usb) = (false, 0u32, false);
    for (n, disk) in disks.iter().enumerate() {
        ensure!(disk.path.is_file(), "disk {} does not exist", disk.path.display());
        let file = disk
            .path
            .to_str()
            .with_context(|| format!("disk path {} is not UTF-8", disk.path.display()))?;
        // In QEMU option strings a literal comma is written twice.
        let file = file.replace(',', ",,");
        // ide-hd refuses read-only drives: there `readonly` becomes `snapshot=on`
        // (guest writes go to a temporary overlay, the image stays untouched).
        let protect = match (disk.readonly, disk.interface) {
            (false, _) => "readonly=off",
            (true, DiskInterface::Ahci) => "snapshot=on",
            (true, _) => "readonly=on",
        };
        let id = format!("disk{n}");
        let sizes = match (disk.block_size, disk.interface) {
            (None, _) => String::new(),
            (Some(b), DiskInterface::VirtioBlk | DiskInterface::VirtioScsi | DiskInterface::Nvme) => {
                ensure!(
                    b.is_power_of_two() && (512..=65536).contains(&b),
                    "disk {}: block size {b} is not a power of two from 512 to 65536",
                    disk.path.display()
                );
                format!(",logical_block_size={b},physical_block_size={b}")
            }
            (Some(b), i) => bail!(
                "disk {}: {i} disks cannot have {b}-byte sectors in QEMU (use virtio-blk, virtio-scsi or nvme)",
                disk.path.display()
            ),
        };
        if disk.faults.is_empty() {
            args.push("-drive".into());
            args.push(format!("file={file},format=raw,if=none,id={id},{protect}").into());
        } else {
            args.extend(fault_chain(&id, &file, disk)?);
        }
        let mut device = |s: String| {
            args.push("-device".into());
            args.push(s.into());
        };
        match disk.interface {
            DiskInterface::VirtioBlk => device(format!("virtio-blk-pci,drive={id}{sizes}")),
            DiskInterface::VirtioScsi => {
                if !scsi {
                    device("virtio-scsi-pci,id=scsi0".into());
                    scsi = true;
                }
                device(format!("scsi-hd,drive={id},bus=scsi0.0{sizes}"));
            }
            DiskInterface::Ahci => {
                // An ich9-ahci controller has 6 ports.
                if ahci % 6 == 0 {
                    device(format!("ich9-ahci,id=ahci{}", ahci / 6));
                }
                device(format!("ide-hd,drive={id},bus=ahci{}.{}", ahci / 6, ahci % 6));
                ahci += 1;
            }
            DiskInterface::Nvme => device(format!("nvme,drive={id},serial=hopboot{n}{sizes}")),
            DiskInterface::Usb => {
                if !usb {
                    device("qemu-xhci,id=xhci0".into());
                    usb = true;
                }
                device(format!("usb-storage,drive={id},bus=xhci0.0"));
            }
        }
    }
    Ok(args)
}

/// `-blockdev` (and `-object throttle-group`) arguments for a disk with
/// faults: the image (`file`, then `raw`) under one filter per fault, the
/// last of them named `id` for the device.
fn fault_chain(id: &str, file: &str, disk: &DiskAttach) -> Result<Vec<OsString>> {
    ensure!(
        !(disk.readonly && disk.interface == DiskInterface::Ahci),
        "disk {}: an AHCI disk cannot be read-only, and faults need -blockdev (no snapshot=on)",
        disk.path.display()
    );
    let ro = if disk.readonly { "on" } else { "off" };
    let mut args: Vec<OsString> = Vec::new();
    let mut blockdev = |s: String| {
        args.push("-blockdev".into());
        args.push(s.into());
    };
    blockdev(format!(
        "driver=file,node-name={id}-file,filename={file},read-only={ro}"
    ));
    blockdev(format!("driver=raw,node-name={id}-raw,file={id}-file,read-only={ro}"));
    let mut below = format!("{id}-raw");
    let mut groups = Vec::new();
    for (n, fault) in disk.faults.iter().enumerate().rev() {
        let node = if n == 0 { id.to_string() } else { format!("{id}-f{n}") };
        match fault {
            Fault::ReadErrors(sectors) => {
                ensure!(
                    !sectors.is_empty(),
                    "disk {}: ReadErrors without sectors",
                    disk.path.display()
                );
                let rules: String = sectors
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        format!(
                            ",inject-error.{i}.event=none,inject-error.{i}.iotype=read,\
                             inject-error.{i}.errno=5,inject-error.{i}.sector={s}"
                        )
                    })
                    .collect();
                blockdev(format!(
                    "driver=blkdebug,node-name={node},image={below},read-only={ro}{rules}"
                ));
            }
            Fault::OnePerSecond { burst } | Fault::StopAfter { burst } => {
                let limits = match fault {
                    Fault::OnePerSecond { .. } => format!("x-iops-total=1,x-iops-total-max={}", burst.max(&1)),
                    _ => format!("x-bps-total=1,x-bps-total-max={}", burst.max(&1)),
                };
                let group = format!("{node}-group");
                groups.push(format!("throttle-group,id={group},{limits}"));
                blockdev(format!(
                    "driver=throttle,node-name={node},throttle-group={group},file={below},read-only={ro}"
                ));
            }
        }
        below = node;
    }
    let mut out: Vec<OsString> = Vec::new();
    for g in groups {
        out.push("-object".into());
        out.push(g.into());
    }
    out.extend(args);
    Ok(out)
}

/// The accelerator QEMU runs with: `tcg`, unless [`ACCEL_ENV`] asks for `kvm` (or
/// `auto` and the probe passes); decided once per process.
pub fn accel() -> &'static str {
    static ACCEL: OnceLock<&'static str> = OnceLock::new();
    ACCEL.get_or_init(|| match std::env::var(ACCEL_ENV).as_deref() {
        Ok("kvm") => "kvm",
        Ok("auto") if kvm_works() => "kvm",
        _ => "tcg",
    })
}

/// Starts a paused KVM machine and quits it through the monitor: where KVM is
/// unusable QEMU fails while creating the vCPU, long before running guest code.
/// It does not catch a KVM that runs real-mode code and hangs later, hence opt-in.
fn kvm_works() -> bool {
    if !Path::new("/dev/kvm").exists() {
        return false;
    }
    let spawned = Command::new(QEMU)
        .args(["-accel", "kvm", "-machine", "q35", "-cpu", "max", "-display", "none"])
        .args(["-nodefaults", "-no-user-config", "-S", "-monitor", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = spawned else { return false };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"quit\n");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// One line of serial output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Host time since QEMU was spawned, when the line was completed (for an
    /// unfinished line: when its last byte arrived).
    pub t: Duration,
    /// The text without `\n`/`\r` (invalid UTF-8 replaced, ANSI escapes kept; see
    /// [`strip_ansi`]).
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>9.3}] {}", self.t.as_secs_f64(), self.text)
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL/ST` and
/// two-byte `ESC x`) from `s`.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    /// Bytes of the line being received.
    partial: Vec<u8>,
    partial_t: Duration,
    /// QEMU closed its stdout (it exited).
    eof: bool,
    stderr: Vec<String>,
}

impl State {
    fn partial_line(&self) -> Option<Line> {
        (!self.partial.is_empty()).then(|| Line {
            t: self.partial_t,
            text: String::from_utf8_lossy(&self.partial).into_owned(),
        })
    }

    /// The last `n` lines (and the unfinished one) and QEMU's stderr, for errors.
    fn tail(&self, n: usize) -> String {
        let mut s = String::new();
        let start = self.lines.len().saturating_sub(n);
        s.push_str(&format!("\n--- last {} serial lines ---", self.lines.len() - start));
        for line in &self.lines[start..] {
            s.push_str(&format!("\n{line}"));
        }
        if let Some(line) = self.partial_line() {
            s.push_str(&format!("\n{line}  <- no newline yet"));
        }
        if !self.stderr.is_empty() {
            s.push_str("\n--- qemu stderr ---");
            for line in &self.stderr {
                s.push_str(&format!("\n{line}"));
            }
        }
        s
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running QEMU whose serial console is being read.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Index of the first line [`Vm::wait_for`] has not consumed; one past
    /// `lines.len()` when the unfinished line matched.
    cursor: usize,
    status: Option<ExitStatus>,
}

impl Vm {
    /// Starts QEMU for `cfg` with the serial console on pipes.
    pub fn spawn(cfg: &VmConfig) -> Result<Vm> {
        let args = cfg.qemu_args(false)?;
        let log = match &cfg.log {
            Some(path) => Some(File::create(path).with_context(|| format!("creating log {}", path.display()))?),
            None => None,
        };
        let verbose = cfg.verbose || std::env::var_os(VERBOSE_ENV).is_some_and(|v| v == "1");
        let mut command = match &cfg.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, QEMU]);
                c
            }
            None => Command::new(QEMU),
        };
        command.args(&args);
        Vm::spawn_command(command, Tee { verbose, log })
    }

    /// Runs `command` with its stdout read as the serial console.
    fn spawn_command(mut command: Command, tee: Tee) -> Result<Vm> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| {
            format!(
                "cannot start {} (see scripts/install-deps.sh): {}",
                command.get_program().to_string_lossy(),
                crate::cmd::describe(&command)
            )
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let mut threads = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let shared = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || read_serial(stdout, &shared, started, tee)));
        }
        if let Some(stderr) = child.stderr.take() {
            let shared = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || read_stderr(stderr, &shared)));
        }
        Ok(Vm {
            stdin: child.stdin.take(),
            child,
            shared,
            threads,
            cursor: 0,
            status: None,
        })
    }

    /// The QEMU process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a serial line not consumed by an earlier `wait_for` contains
    /// `needle`, and returns it. The unfinished last line (a prompt without newline)
    /// is searched too. Successive calls therefore match in output order.
    ///
    /// Fails on timeout or when QEMU exits first; the error quotes the last
    /// [`TAIL_LINES`] serial lines and QEMU's stderr.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<Line> {
        self.wait_matching(needle, timeout, true)
    }

    /// Like [`Vm::wait_for`], but only a finished line (its newline received)
    /// matches, so the returned text is the whole line. For assertions on what a
    /// line says after the needle: the serial port delivers a line in pieces.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<Line> {
        self.wait_matching(needle, timeout, false)
    }

    fn wait_matching(&mut self, needle: &str, timeout: Duration, partial: bool) -> Result<Line> {
        let deadline = Instant::now() + timeout;
        let mut scanned = self.cursor;
        let mut state = self.shared.lock();
        loop {
            if let Some(lines) = state.lines.get(scanned..) {
                if let Some(i) = lines.iter().position(|l| l.text.contains(needle)) {
                    let line = lines[i].clone();
                    self.cursor = scanned + i + 1;
                    return Ok(line);
                }
                scanned = state.lines.len();
                if let Some(line) = state.partial_line().filter(|l| partial && l.text.contains(needle)) {
                    self.cursor = state.lines.len() + 1;
                    return Ok(line);
                }
            }
            if state.eof {
                let tail = state.tail(TAIL_LINES);
                drop(state);
                let status = self.reap(Duration::from_secs(5));
                let status = status.map_or_else(|| "still running".to_owned(), |s| s.to_string());
                bail!("QEMU closed its console ({status}) before printing {needle:?}{tail}");
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "timed out after {:.1}s waiting for {needle:?} on the serial console{}",
                    timeout.as_secs_f64(),
                    state.tail(TAIL_LINES)
                );
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writes `bytes` to the serial console's input (e.g. `b"1\n"` at a menu).
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("QEMU's stdin is closed")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .context("writing to QEMU's serial console")
    }

    /// All complete serial lines so far.
    pub fn lines(&self) -> Vec<Line> {
        self.shared.lock().lines.clone()
    }

    /// The line being received (no newline yet), if any.
    pub fn partial_line(&self) -> Option<Line> {
        self.shared.lock().partial_line()
    }

    /// The whole serial output so far as text, lines joined with `\n`.
    pub fn transcript(&self) -> String {
        let state = self.shared.lock();
        let mut text: Vec<&str> = state.lines.iter().map(|l| l.text.as_str()).collect();
        let partial = state.partial_line();
        if let Some(p) = &partial {
            text.push(&p.text);
        }
        text.join("\n")
    }

    /// QEMU's stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.shared.lock().stderr.clone()
    }

    /// Waits for QEMU to exit (the guest powered off, or with `-no-reboot` rebooted
    /// or panicked with `panic=-1`). On timeout QEMU keeps running and the error
    /// quotes the last serial lines.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        match self.reap(timeout) {
            Some(status) => Ok(status),
            None => bail!(
                "QEMU still running after {:.1}s{}",
                timeout.as_secs_f64(),
                self.shared.lock().tail(TAIL_LINES)
            ),
        }
    }

    fn reap(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status.is_some() {
                return self.status;
            }
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Kills QEMU (the process this `Vm` spawned) if it is still running, and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        self.stdin = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("pid", &self.child.id())
            .field("status", &self.status)
            .finish()
    }
}

/// Where finished lines are copied besides the shared buffer.
struct Tee {
    verbose: bool,
    log: Option<File>,
}

impl Tee {
    fn line(&mut self, line: &Line) {
        if self.verbose {
            eprintln!("{line}");
        }
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{line}");
        }
    }
}

fn read_serial(mut out: impl Read, shared: &Shared, started: Instant, mut tee: Tee) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let t = started.elapsed();
        let mut finished = Vec::new();
        {
            let mut state = shared.lock();
            for &b in &buf[..n] {
                match b {
                    b'\n' => {
                        let text = String::from_utf8_lossy(&state.partial).into_owned();
                        state.partial.clear();
                        let line = Line { t, text };
                        finished.push(line.clone());
                        state.lines.push(line);
                    }
                    b'\r' => {}
                    _ => state.partial.push(b),
                }
            }
            state.partial_t = t;
        }
        // Tee first, so a waiter that reacts to a line prints after it.
        for line in &finished {
            tee.line(line);
        }
        shared.changed.notify_all();
    }
    let mut state = shared.lock();
    if let Some(line) = state.partial_line() {
        state.partial.clear();
        tee.line(&line);
        state.lines.push(line);
    }
    state.eof = true;
    drop(state);
    shared.changed.notify_all();
}

fn read_stderr(err: impl Read, shared: &Shared) {
    for line in BufReader::new(err).lines() {
        let Ok(line) = line else { break };
        eprintln!("qemu: {line}");
        shared.lock().stderr.push(line);
    }
}

/// Runs QEMU on the terminal (`-serial mon:stdio`) until it exits: for `make qemu`.
pub fn run_interactive(cfg: &VmConfig) -> Result<ExitStatus> {
    let args = cfg.qemu_args(true)?;
    eprintln!("hopboot-qemu: serial console on this terminal; Ctrl-A X quits QEMU, Ctrl-A C toggles its monitor");
    let mut command = Command::new(QEMU);
    command.args(&args);
    command
        .status()
        .with_context(|| format!("cannot start {QEMU}: {}", crate::cmd::describe(&command)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The QEMU arguments for `disks`, as one string.
    fn joined_disk_args(disks: &[DiskAttach]) -> String {
        let args: Vec<String> = disk_args(disks)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        args.join(" ")
    }

    /// A "console" that sends one line in two pieces, a second apart.
    fn split_line_console() -> Vm {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "printf '  device   vda1 (ext4 UUID='; sleep 1; printf '1234 PARTUUID=5\\n'",
        ]);
        Vm::spawn_command(
            command,
            Tee {
                verbose: false,
                log: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn wait_for_matches_the_unfinished_line_and_wait_for_line_waits_for_its_end() {
        let mut vm = split_line_console();
        let early = vm.wait_for("(ext4 UUID=", Duration::from_secs(10)).unwrap();
        assert_eq!(early.text, "  device   vda1 (ext4 UUID=");

        let mut vm = split_line_console();
        let whole = vm.wait_for_line("(ext4 UUID=", Duration::from_secs(10)).unwrap();
        assert_eq!(whole.text, "  device   vda1 (ext4 UUID=1234 PARTUUID=5");
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(strip_ansi("\x1b[1;32mOK\x1b[0m done"), "OK done");
        assert_eq!(strip_ansi("\x1b]0;title\x07x\x1b]2;t\x1b\\y"), "xy");
        assert_eq!(strip_ansi("a\x1bcb"), "ab");
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("cut\x1b["), "cut");
    }

    #[test]
    fn disk_args_add_controllers_once() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("vm-args"), "t").unwrap();
        let img = dir.path().join("a,b.img");
        std::fs::write(&img, b"").unwrap();
        let disks = [
            DiskAttach::new(&img),
            DiskAttach::new(&img)
                .with_interface(DiskInterface::VirtioScsi)
                .read_only(),
            DiskAttach::new(&img).with_interface(DiskInterface::VirtioScsi),
            DiskAttach::new(&img).with_interface(DiskInterface::Usb),
            DiskAttach::new(&img).with_interface(DiskInterface::Nvme),
            DiskAttach::new(&img).with_interface(DiskInterface::Ahci),
        ];
        let joined = joined_disk_args(&disks);
        assert_eq!(joined.matches("virtio-scsi-pci").count(), 1, "{joined}");
        assert_eq!(joined.matches("qemu-xhci").count(), 1, "{joined}");
        assert!(
            joined.contains("a,,b.img,format=raw,if=none,id=disk1,readonly=on"),
            "{joined}"
        );
        assert!(joined.contains("virtio-blk-pci,drive=disk0"), "{joined}");
        assert!(joined.contains("ide-hd,drive=disk5,bus=ahci0.0"), "{joined}");
        assert!(joined.contains("nvme,drive=disk4,serial=hopboot4"), "{joined}");

        let err = disk_args(&[DiskAttach::new(dir.path().join("missing.img"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.img"), "{err}");
    }

    #[test]
    fn faults_become_filters_between_the_image_and_the_device() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("vm-faults"), "t").unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, b"").unwrap();
        let f = img.display().to_string();
        let disks = [
            DiskAttach::new(&img),
            DiskAttach::new(&img)
                .read_only()
                .with_fault(Fault::ReadErrors(vec![1, 2050])),
            DiskAttach::new(&img)
                .read_only()
                .with_fault(Fault::OnePerSecond { burst: 10 })
                .with_fault(Fault::StopAfter { burst: 65536 }),
        ];
        let joined = joined_disk_args(&disks);
        let want = [
            format!("-drive file={f},format=raw,if=none,id=disk0,readonly=off"),
            format!("-blockdev driver=file,node-name=disk1-file,filename={f},read-only=on"),
            "-blockdev driver=raw,node-name=disk1-raw,file=disk1-file,read-only=on".into(),
            "-blockdev driver=blkdebug,node-name=disk1,image=disk1-raw,read-only=on,\
             inject-error.0.event=none,inject-error.0.iotype=read,inject-error.0.errno=5,inject-error.0.sector=1,\
             inject-error.1.event=none,inject-error.1.iotype=read,inject-error.1.errno=5,inject-error.1.sector=2050"
                .into(),
            "-device virtio-blk-pci,drive=disk1".into(),
            // The last fault is nearest the image, the first nearest the guest.
            "-object throttle-group,id=disk2-f1-group,x-bps-total=1,x-bps-total-max=65536 \
             -object throttle-group,id=disk2-group,x-iops-total=1,x-iops-total-max=10"
                .into(),
            "-blockdev driver=throttle,node-name=disk2-f1,throttle-group=disk2-f1-group,file=disk2-raw,read-only=on \
             -blockdev driver=throttle,node-name=disk2,throttle-group=disk2-group,file=disk2-f1,read-only=on \
             -device virtio-blk-pci,drive=disk2"
                .into(),
        ];
        for w in want {
            assert!(joined.contains(&w), "{w}\nnot in\n{joined}");
        }
        let ahci = DiskAttach::new(&img)
            .read_only()
            .with_interface(DiskInterface::Ahci)
            .with_fault(Fault::ReadErrors(vec![1]));
        assert!(disk_args(&[ahci]).is_err());
    }

    #[test]
    fn block_sizes_reach_the_device() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("vm-bs"), "t").unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, b"").unwrap();
        let disks = [
            DiskAttach::new(&img).with_block_size(4096),
            DiskAttach::new(&img)
                .with_interface(DiskInterface::Nvme)
                .with_block_size(4096),
            DiskAttach::new(&img).with_interface(DiskInterface::VirtioScsi),
        ];
        let joined = joined_disk_args(&disks);
        assert!(
            joined.contains("virtio-blk-pci,drive=disk0,logical_block_size=4096,physical_block_size=4096"),
            "{joined}"
        );
        assert!(
            joined.contains("nvme,drive=disk1,serial=hopboot1,logical_block_size=4096,physical_block_size=4096"),
            "{joined}"
        );
        assert!(
            joined.contains("scsi-hd,drive=disk2,bus=scsi0.0 ") || joined.ends_with("scsi-hd,drive=disk2,bus=scsi0.0"),
            "{joined}"
        );
        for i in [DiskInterface::Ahci, DiskInterface::Usb] {
            let err = disk_args(&[DiskAttach::new(&img).with_interface(i).with_block_size(4096)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("4096-byte sectors"), "{err}");
        }
        let err = disk_args(&[DiskAttach::new(&img).with_block_size(1000)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("power of two"), "{err}");
    }

    #[test]
    fn uefi_firmware_adds_pflash_and_bios_stays_default() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("vm-fw"), "t").unwrap();
        let (k, i) = (dir.path().join("k"), dir.path().join("i"));
        std::fs::write(&k, b"").unwrap();
        std::fs::write(&i, b"").unwrap();
        let cfg = VmConfig::new(&k, &i, "console=ttyS0");
        assert_eq!(cfg.firmware, Firmware::Bios);
        let joined = |cfg: &VmConfig| {
            let args = cfg.qemu_args(false).unwrap();
            args.iter().map(|a| a.to_str().unwrap()).collect::<Vec<_>>().join(" ")
        };
        assert!(!joined(&cfg).contains("pflash"));
        // The real firmware files come with Debian's ovmf package.
        if !Path::new(OVMF_VARS).is_file() {
            return;
        }
        let vars = dir.path().join("v,ars.fd");
        let cfg = cfg.with_firmware(Firmware::uefi(&vars).unwrap());
        assert_eq!(std::fs::read(&vars).unwrap(), std::fs::read(OVMF_VARS).unwrap());
        let args = joined(&cfg);
        assert!(
            args.contains(&format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}")),
            "{args}"
        );
        assert!(args.contains("if=pflash,format=raw,unit=1,file="), "{args}");
        assert!(args.contains("v,,ars.fd -kernel"), "{args}");
    }

    #[test]
    fn interface_names_round_trip() {
        for i in DiskInterface::ALL {
            assert_eq!(i.name().parse::<DiskInterface>().unwrap(), i);
        }
        assert!("scsi".parse::<DiskInterface>().is_err());
    }

    #[test]
    fn serial_reader_splits_lines_and_keeps_partial() {
        let shared = Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        };
        let input: &[u8] = b"one\r\ntwo\n\xffthree\r\nprompt> ";
        read_serial(
            input,
            &shared,
            Instant::now(),
            Tee {
                verbose: false,
                log: None,
            },
        );
        let state = shared.lock();
        let texts: Vec<&str> = state.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "\u{fffd}three", "prompt> "]);
        assert!(state.eof);
    }
}
