//! TPM 2.0 measurements (issue 14) against a real TPM: swtpm, attached to
//! QEMU as a TIS device. hopboot boots a GRUB entry with two initrds; the
//! target's /init prints the SHA-256 PCRs 8 and 9 and the event log hopboot
//! added to its initramfs; the test recomputes both PCRs from the files on
//! the disk and the command line (GRUB's convention: docs/trust.md), and from
//! the log, and all must agree. A second test opens the rescue shell first:
//! its event is in the log and PCR 8 no longer has a normal boot's value.
//!
//! Needs `swtpm` (Debian package swtpm; `make test-trust`); skipped with a
//! message without it.

use hopboot_image_build::{cpio::Archive, Compression, Options};
use hopboot_qemu::disk::{build_disk, Fs, Partition, Table};
use hopboot_qemu::paths::musl_bin;
use hopboot_qemu::target::MARKER;
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use hopboot_tests::{busybox, custom_disk, run, setup, BOOT_TIMEOUT, HOST_FILE, KERNEL, MODULES};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel arguments of the entry (after the kernel's path).
const ARGS: &str = "console=ttyS0 panic=-1 hopboot.target.tpm";

/// A swtpm socket TPM for one VM, stopped when dropped.
struct Swtpm {
    child: Child,
    socket: PathBuf,
}

impl Swtpm {
    /// Starts swtpm with a fresh state in `dir`; `None` (and a message) without swtpm.
    fn start(dir: &Path) -> Option<Swtpm> {
        if Command::new("swtpm").arg("--version").output().is_err() {
            eprintln!("skipped: no swtpm (Debian package swtpm; scripts/install-deps.sh)");
            return None;
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("swtpm.sock");
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .arg("--log")
            .arg(format!("file={},level=1", dir.join("swtpm.log").display()))
            // Ends when QEMU closes its connection.
            .arg("--terminate")
            .stdin(Stdio::null())
            .spawn()
            .expect("starting swtpm");
        let t = Instant::now();
        while !socket.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "swtpm made no socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Swtpm { child, socket })
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

fn extend(pcr: &[u8], digest: &[u8]) -> Vec<u8> {
    sha256(&[pcr, digest].concat())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The disk: the Debian kernel, the target initramfs and a second small
/// initrd, and a grub.cfg entry that boots them. Returns the disk and the
/// bytes of the kernel and both initrds.
struct Disk {
    path: PathBuf,
    kernel: Vec<u8>,
    initrd: Vec<u8>,
    extra: Vec<u8>,
}

fn disk(name: &str) -> Disk {
    disk_with(name, "")
}

/// [`disk`] with `more` (grub.cfg entries) after its entry.
fn disk_with(name: &str, more: &str) -> Disk {
    disk_signed(name, more, None)
}

/// [`disk_with`], its entries signed with the secret key `key` when given
/// (`hopboot sign manifest`: /boot/hopboot.manifest and its .minisig).
fn disk_signed(name: &str, more: &str, key: Option<&Path>) -> Disk {
    let s = setup();
    let initrd_path = s.work.join(format!("{name}-initrd.img"));
    hopboot_qemu::target::target_initramfs(&initrd_path).unwrap();
    let mut a = Archive::new();
    a.add_dir("etc", 0o755);
    a.add_file("etc/hopboot-tpm-test", b"a second initrd\n".to_vec(), 0o644);
    let extra_path = s.work.join(format!("{name}-extra.cpio"));
    std::fs::write(&extra_path, a.to_newc(0)).unwrap();
    let grub = format!(
        "set timeout=5\nmenuentry 'TPM test' {{\n  linux /boot/vmlinuz {ARGS}\n  initrd /boot/initrd.img /boot/extra.img\n}}\n{more}"
    );
    let path = s.work.join(format!("{name}.img"));
    let files = [
        ("/boot/vmlinuz", KERNEL),
        ("/boot/initrd.img", &format!("{HOST_FILE}{}", initrd_path.display())),
        ("/boot/extra.img", &format!("{HOST_FILE}{}", extra_path.display())),
        ("/boot/grub/grub.cfg", &grub),
    ];
    let uuid = "8d7c1f1e-5a55-4d2e-9c3b-7d3a1c0e0f01";
    match key {
        None => custom_disk(&path, uuid, &files).unwrap(),
        Some(key) => {
            // The tree on the host, signed there, then the disk made from it.
            let tree = s.work.join(format!("{name}-tree"));
            let _ = std::fs::remove_dir_all(&tree);
            std::fs::create_dir_all(tree.join("boot/grub")).unwrap();
            std::fs::copy(&s.kernel.vmlinuz, tree.join("boot/vmlinuz")).unwrap();
            std::fs::copy(&initrd_path, tree.join("boot/initrd.img")).unwrap();
            std::fs::copy(&extra_path, tree.join("boot/extra.img")).unwrap();
            std::fs::write(tree.join("boot/grub/grub.cfg"), &grub).unwrap();
            run(Command::new(musl_bin("hopboot").unwrap())
                .args(["sign", "manifest", "--key"])
                .arg(key)
                .arg(&tree));
            let part = Partition::new(
                128,
                "8300",
                Fs::Ext4 {
                    uuid: Some(uuid.to_string()),
                },
            )
            .with_staging(&tree);
            build_disk(&path, Table::Gpt, &[part]).unwrap();
        }
    }
    Disk {
        path,
        kernel: std::fs::read(&s.kernel.vmlinuz).unwrap(),
        initrd: std::fs::read(&initrd_path).unwrap(),
        extra: std::fs::read(&extra_path).unwrap(),
    }
}

/// One record of the CEL-JSON log.
#[derive(Debug)]
struct Record {
    recnum: u64,
    pcr: u64,
    sha256: Vec<u8>,
    event_type: String,
    text: String,
}

/// Parses the JSON-SEQ log (RS before each record, LF after).
fn parse_log(log: &[u8]) -> Vec<Record> {
    let text = std::str::from_utf8(log).expect("the log is UTF-8");
    assert!(text.starts_with('\u{1e}'), "not JSON-SEQ: {text:?}");
    text.split('\u{1e}')
        .skip(1)
        .map(|r| {
            assert!(r.ends_with('\n'), "record without its LF: {r:?}");
            let v: serde_json::Value = serde_json::from_str(r).unwrap_or_else(|e| panic!("{e}: {r}"));
            assert_eq!(v["content_type"], "pcclient_std", "{r}");
            let digests = v["digests"].as_array().expect("digests");
            let sha256 = digests
                .iter()
                .find(|d| d["hashAlg"] == "sha256")
                .and_then(|d| d["digest"].as_str())
                .map(unhex)
                .expect("a sha256 digest");
            let data = unhex(v["content"]["event_data"].as_str().expect("event_data"));
            let (nul, text) = data.split_last().expect("event data");
            assert_eq!(*nul, 0, "event data ends with its NUL, as GRUB's");
            Record {
                recnum: v["recnum"].as_u64().expect("recnum"),
                pcr: v["pcr"].as_u64().expect("pcr"),
                sha256,
                event_type: v["content"]["event_type"].as_str().unwrap_or_default().to_string(),
                text: String::from_utf8(text.to_vec()).unwrap(),
            }
        })
        .collect()
}

/// What the target printed: PCRs 8 and 9, the log, its /proc/cmdline.
struct Seen {
    pcr8: Vec<u8>,
    pcr9: Vec<u8>,
    log: Vec<Record>,
    cmdline: String,
}

fn seen(vm: &mut Vm) -> Seen {
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    let _ = vm.wait_exit(Duration::from_secs(60));
    let lines = vm.lines();
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.text.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("no line {prefix:?}:\n{}", vm.transcript()))
    };
    let pcrs = find("HOPBOOT-TARGET-TPM ");
    let pcr = |n: &str| {
        let v = pcrs
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("pcr{n}=")))
            .unwrap_or_else(|| panic!("no pcr{n} in {pcrs:?}"));
        assert_ne!(v, "none", "the target has no TPM PCRs in sysfs");
        unhex(v)
    };
    let log = find("HOPBOOT-TARGET-TPMLOG ");
    assert_ne!(log, "none", "no event log in the target's initramfs");
    Seen {
        pcr8: pcr("8"),
        pcr9: pcr("9"),
        log: parse_log(&unhex(&log)),
        cmdline: find(&format!("{MARKER} cmdline=")),
    }
}

/// Replays the log's SHA-256 digests into PCRs 8 and 9 from zero.
fn replay(log: &[Record]) -> (Vec<u8>, Vec<u8>) {
    let (mut p8, mut p9) = (vec![0u8; 32], vec![0u8; 32]);
    for r in log {
        match r.pcr {
            8 => p8 = extend(&p8, &r.sha256),
            9 => p9 = extend(&p9, &r.sha256),
            other => panic!("a record for PCR {other}"),
        }
    }
    (p8, p9)
}

fn vm_config(initramfs: &Path, d: &Disk, tpm: &Swtpm, append: &str) -> VmConfig {
    let s = setup();
    let mut cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        initramfs,
        format!("console=ttyS0 panic=-1 hopboot.wait=20 {append}"),
    )
    .with_disk(DiskAttach::new(&d.path));
    cfg.tpm = Some(tpm.socket.clone());
    cfg
}

#[test]
fn pcrs_8_and_9_are_what_grub_would_measure_and_the_log_explains_them() {
    let s = setup();
    let Some(tpm) = Swtpm::start(&s.work.join("swtpm-measure")) else {
        return;
    };
    let d = disk("tpm-measure");
    let mut vm = Vm::spawn(&vm_config(&s.initramfs, &d, &tpm, "")).unwrap();
    let seen = seen(&mut vm);
    assert_grub_measurements(&seen, &d, &vm.transcript());
}

/// Under a signature policy the signature check hashes the kernel and the
/// initrds first, and the TPM's SHA-256 bank takes its digests instead of
/// hashing the bytes again: the PCRs and the log must be the same as
/// without a policy, and the signed entry boots.
#[test]
fn a_signed_entry_is_measured_as_an_unsigned_one() {
    let s = setup();
    let Some(tpm) = Swtpm::start(&s.work.join("swtpm-signed")) else {
        return;
    };
    let dir = s.work.join("tpm-signed-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let (secret, public) = (dir.join("k.key"), dir.join("k.pub"));
    run(Command::new(musl_bin("hopboot").unwrap())
        .args(["sign", "keygen"])
        .arg(&secret)
        .arg(&public));
    let d = disk_signed("tpm-signed", "", Some(&secret));
    let verify = dir.join("verify");
    std::fs::write(&verify, "enforce\n").unwrap();
    let initramfs = dir.join("hopboot-enforce.cpio.gz");
    hopboot_image_build::build(&Options {
        binary: musl_bin("hopboot").unwrap(),
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: MODULES.iter().map(|m| m.to_string()).collect(),
        filesystems: Vec::new(),
        extra: vec![
            (public.clone(), "etc/hopboot/trusted-keys/00-k.pub".into()),
            (verify, "etc/hopboot/verify".into()),
        ],
        compression: Compression::Gzip,
        mtime: 0,
        output: initramfs.clone(),
    })
    .unwrap();
    let mut vm = Vm::spawn(&vm_config(&initramfs, &d, &tpm, "")).unwrap();
    let seen = seen(&mut vm);
    let t = vm.transcript();
    assert!(t.contains("signature: 'TPM test' is signed by key"), "{t}");
    assert_grub_measurements(&seen, &d, &t);
}

/// The PCRs and the log of a boot of [`disk`]'s entry, as GRUB would measure it.
fn assert_grub_measurements(seen: &Seen, d: &Disk, transcript: &str) {
    // What the hashing cost in the guest (with --nocapture).
    for l in transcript.lines().filter(|l| l.contains("hopboot: hashed ")) {
        eprintln!("{}", l.trim());
    }
    // GRUB measures the arguments of `linux`, kernel path first, before it
    // puts BOOT_IMAGE= in front.
    let line = format!("/boot/vmlinuz {ARGS}");
    assert_eq!(seen.cmdline, format!("BOOT_IMAGE={line}"));
    let pcr8 = extend(&[0; 32], &sha256(line.as_bytes()));
    let mut pcr9 = vec![0u8; 32];
    for file in [&d.kernel, &d.initrd, &d.extra] {
        pcr9 = extend(&pcr9, &sha256(file));
    }
    assert_eq!(hex(&seen.pcr8), hex(&pcr8), "PCR 8: the command line");
    assert_eq!(hex(&seen.pcr9), hex(&pcr9), "PCR 9: kernel, then each initrd");

    // The log: GRUB's events, in GRUB's order, that replay to the PCRs.
    let got: Vec<(u64, u64, &str, &str)> = seen
        .log
        .iter()
        .map(|r| (r.recnum, r.pcr, r.event_type.as_str(), r.text.as_str()))
        .collect();
    let cmdline_event = format!("kernel_cmdline: {line}");
    assert_eq!(
        got,
        vec![
            (0, 9, "EV_IPL", "/boot/vmlinuz"),
            (1, 8, "EV_IPL", cmdline_event.as_str()),
            (2, 9, "EV_IPL", "/boot/initrd.img"),
            (3, 9, "EV_IPL", "/boot/extra.img"),
        ]
    );
    assert_eq!(seen.log[0].sha256, sha256(&d.kernel));
    assert_eq!(seen.log[1].sha256, sha256(line.as_bytes()));
    assert_eq!(seen.log[2].sha256, sha256(&d.initrd));
    assert_eq!(seen.log[3].sha256, sha256(&d.extra));
    let (r8, r9) = replay(&seen.log);
    assert_eq!((hex(&r8), hex(&r9)), (hex(&seen.pcr8), hex(&seen.pcr9)));
    assert!(
        transcript.contains("hopboot: measured 4 events into PCRs 8, 9"),
        "{transcript}"
    );
}

/// hopboot's initramfs with busybox as /bin/sh: the rescue shell.
/// PID 1 loads the default entry while the menu counts down; when another
/// entry is chosen instead, only that one is in the PCRs and the log: the
/// preload's hashes were never extended.
#[test]
fn a_preloaded_entry_that_is_not_booted_leaves_no_trace() {
    let s = setup();
    let Some(tpm) = Swtpm::start(&s.work.join("swtpm-preload")) else {
        return;
    };
    let second = format!("menuentry 'second' {{\n  linux /boot/vmlinuz {ARGS} second\n  initrd /boot/initrd.img\n}}\n");
    let d = disk_with("tpm-preload", &second);
    let mut vm = Vm::spawn(&vm_config(&s.initramfs, &d, &tpm, "hopboot.timeout=60")).unwrap();
    vm.wait_for("extended when this entry boots", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", vm.transcript()));
    vm.send(b"\x1b[B").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send(b"\r").unwrap();
    let seen = seen(&mut vm);
    let line = format!("/boot/vmlinuz {ARGS} second");
    assert_eq!(seen.cmdline, format!("BOOT_IMAGE={line}"));
    let pcr8 = extend(&[0; 32], &sha256(line.as_bytes()));
    let pcr9 = extend(&extend(&[0u8; 32], &sha256(&d.kernel)), &sha256(&d.initrd));
    assert_eq!(
        hex(&seen.pcr8),
        hex(&pcr8),
        "PCR 8: the second entry's command line only"
    );
    assert_eq!(hex(&seen.pcr9), hex(&pcr9), "PCR 9: its kernel and initrd only");
    let texts: Vec<&str> = seen.log.iter().map(|r| r.text.as_str()).collect();
    let cmdline_event = format!("kernel_cmdline: {line}");
    assert_eq!(texts, ["/boot/vmlinuz", cmdline_event.as_str(), "/boot/initrd.img"]);
}

fn initramfs_with_shell() -> PathBuf {
    let s = setup();
    let out = s.work.join("hopboot-initramfs-shell.cpio.gz");
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot").unwrap(),
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: hopboot_tests::MODULES.iter().map(|m| m.to_string()).collect(),
        filesystems: Vec::new(),
        extra: vec![(busybox().unwrap(), "bin/sh".to_string())],
        compression: Compression::Gzip,
        mtime: 0,
        output: out.clone(),
    })
    .unwrap();
    out
}

#[test]
fn the_rescue_shell_changes_pcr_8_and_the_log_says_so() {
    let s = setup();
    let Some(tpm) = Swtpm::start(&s.work.join("swtpm-shell")) else {
        return;
    };
    let d = disk("tpm-shell");
    let initramfs = initramfs_with_shell();
    let mut vm = Vm::spawn(&vm_config(&initramfs, &d, &tpm, "hopboot.timeout=60")).unwrap();
    vm.wait_for("(any key stops)", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"s").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    vm.send(b"echo SHELL-UP-$((6*7))\r").unwrap();
    vm.wait_for("SHELL-UP-42", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"exit\r").unwrap();
    // The menu again, without a countdown now that a key was pressed.
    vm.wait_for("rescue shell exited", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for("Enter boot", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    std::thread::sleep(Duration::from_millis(500));
    vm.send(b"\r").unwrap();
    let seen = seen(&mut vm);

    let line = format!("/boot/vmlinuz {ARGS}");
    let normal8 = extend(&[0; 32], &sha256(line.as_bytes()));
    assert_ne!(seen.pcr8, normal8, "PCR 8 has a normal boot's value after the shell");
    // The shell's events, in PCRs 8 and 9: the digest of the shell's path.
    let shell: Vec<&Record> = seen.log.iter().filter(|r| r.text == "hopboot_shell: /bin/sh").collect();
    assert_eq!(
        shell.iter().map(|r| r.pcr).collect::<Vec<_>>(),
        vec![8, 9],
        "{:?}",
        seen.log
    );
    assert!(shell.iter().all(|r| r.sha256 == sha256(b"/bin/sh")));
    // The entry was measured after the shell (again, if the countdown had
    // loaded it before), so the log's last records are the boot's.
    let n = seen.log.len();
    assert!(n >= 6, "{:?}", seen.log);
    let last: Vec<&str> = seen.log[n - 4..].iter().map(|r| r.text.as_str()).collect();
    let cmdline_event = format!("kernel_cmdline: {line}");
    assert_eq!(
        last,
        vec![
            "/boot/vmlinuz",
            cmdline_event.as_str(),
            "/boot/initrd.img",
            "/boot/extra.img"
        ]
    );
    // Record numbers count from 0 without a gap, and the log explains the PCRs.
    assert!(seen.log.iter().enumerate().all(|(i, r)| r.recnum == i as u64));
    let (r8, r9) = replay(&seen.log);
    assert_eq!((hex(&r8), hex(&r9)), (hex(&seen.pcr8), hex(&seen.pcr9)));
}

#[test]
fn without_a_tpm_it_boots_and_says_so_once() {
    let s = setup();
    let d = disk("tpm-none");
    let cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        &s.initramfs,
        "console=ttyS0 panic=-1 hopboot.wait=20".to_string(),
    )
    .with_disk(DiskAttach::new(&d.path));
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    let _ = vm.wait_exit(Duration::from_secs(60));
    let transcript = vm.transcript();
    assert_eq!(
        transcript
            .matches("hopboot: no TPM (/dev/tpmrm0, /dev/tpm0): booting without measurements")
            .count(),
        1,
        "{transcript}"
    );
    // No log archive either: the target finds none.
    assert!(
        transcript.contains("HOPBOOT-TARGET-TPM pcr8=none pcr9=none"),
        "{transcript}"
    );
    assert!(transcript.contains("HOPBOOT-TARGET-TPMLOG none"), "{transcript}");
}
