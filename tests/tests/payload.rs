//! The firmware payload (`make payload`: one bzImage from Debian's linux-source-6.1
//! with hopboot built in) started the two ways firmware starts it:
//!
//! 1. SeaBIOS with `-kernel payload` and no initrd: the coreboot/LinuxBoot shape;
//! 2. OVMF starting `\EFI\BOOT\BOOTX64.EFI` from an ESP by itself: the UEFI
//!    application shape (no `-kernel`; the command line is the built-in one).
//!
//! Both boot the GRUB demo disk and a UKI to the target, and the screen works after
//! the jump: the target draws solid blocks on its virtual terminal and a QMP
//! screendump must show them (a black screen fails). One PNG per firmware is kept in
//! target/payload/ for people to look at.
//!
//! The payload must have been built (`make payload`, which `make qemu-test` runs).

use hopboot_qemu::demo::{demo_disk, Demo};
use hopboot_qemu::disk::{sha256_file, Fs, Partition};
use hopboot_qemu::qmp::{Ppm, Qmp};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Firmware, Line, Vm, VmConfig};
use hopboot_tests::{
    custom_disk, custom_disk_with, setup, BOOT_TIMEOUT, EFIVARS_LINE, EFI_LINE, HOST_FILE, KERNEL, KEXEC_LINE,
    TARGET_INITRD, UKI,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MENU_LINE: &str = "menu shown (stage=menu";
const CHOSEN_LINE: &str = "(stage=chosen";
const SCREEN_DRAWN: &str = "HOPBOOT-TARGET-SCREEN drawn";

/// Held by the tests that run `make` in the cached kernel tree, one at a time.
static KERNEL_TREE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The payload `make payload` built.
fn payload() -> PathBuf {
    let p = hopboot_qemu::paths::target_dir()
        .unwrap()
        .join("payload/hopboot-payload.bzImage");
    assert!(p.is_file(), "{} does not exist: run `make payload` first", p.display());
    p
}

/// How the firmware starts the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// SeaBIOS, `-kernel payload`, hopboot options on `-append`.
    Seabios,
    /// OVMF, the payload as `\EFI\BOOT\BOOTX64.EFI` on its own ESP disk (the
    /// first disk); `extra_esp` files go on that ESP too.
    Ovmf,
}

/// Starts the payload the `shape` way with `disks`; `screen` adds a VGA card and a
/// QMP socket.
fn start(name: &str, shape: Shape, disks: &[PathBuf], extra_esp: &[(&str, &str)], screen: bool) -> (Vm, PathBuf) {
    let s = setup();
    let qmp = s.work.join(format!("{name}.qmp"));
    let _ = std::fs::remove_file(&qmp);
    let payload = payload();
    let mut cfg = match shape {
        Shape::Seabios => VmConfig::payload(&payload, "hopboot.timeout=0 hopboot.wait=20"),
        Shape::Ovmf => {
            let esp = s.work.join(format!("{name}-esp.img"));
            let boot = format!("{HOST_FILE}{}", payload.display());
            let mut files = vec![("/EFI/BOOT/BOOTX64.EFI", boot.as_str())];
            files.extend_from_slice(extra_esp);
            custom_disk_with(&esp, Partition::new(64, "ef00", Fs::Vfat).with_label("ESP"), &files).unwrap();
            VmConfig::firmware_boot()
                .with_firmware(Firmware::uefi(s.work.join(format!("{name}.OVMF_VARS.fd"))).unwrap())
                .with_disk(DiskAttach::new(&esp).read_only())
        }
    };
    for d in disks {
        cfg = cfg.with_disk(DiskAttach::new(d));
    }
    if screen {
        cfg.vga = true;
        cfg.qmp = Some(qmp.clone());
    }
    (Vm::spawn(&cfg).unwrap(), qmp)
}

/// What a boot through the payload showed.
struct Boot {
    lines: Vec<Line>,
    log: String,
    marker: String,
}

/// Waits for the target's marker (taking a screendump first when `screen`), then for
/// the power-off; checks what every payload boot must show.
fn finish(mut vm: Vm, name: &str, shape: Shape, screen: Option<&Path>) -> Boot {
    // Under OVMF the built-in command line has no hopboot.timeout: the menu counts down.
    if shape == Shape::Ovmf {
        vm.wait_for(MENU_LINE, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
        vm.send(b"\r").unwrap();
    }
    let marker = vm
        .wait_for_line(MARKER, BOOT_TIMEOUT + Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    if let Some(qmp_path) = screen {
        vm.wait_for(SCREEN_DRAWN, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e:#}"));
        check_screen(name, qmp_path);
        vm.send(b"\n").unwrap();
    }
    vm.wait_exit(Duration::from_secs(90)).unwrap();
    let lines = vm.lines();
    let log = vm.transcript();
    assert!(!log.contains("Kernel panic"), "{log}");
    assert!(!log.contains("Attempted to kill init"), "{log}");
    // The payload's own kernel ran hopboot from its built-in initramfs.
    let kexec = lines
        .iter()
        .position(|l| l.text.contains(KEXEC_LINE))
        .unwrap_or_else(|| panic!("no '{KEXEC_LINE}'\n{log}"));
    let first = &lines[..kexec];
    let banner = first
        .iter()
        .find(|l| l.text.contains("Linux version"))
        .unwrap_or_else(|| panic!("no kernel banner\n{log}"));
    assert!(
        banner.text.contains("hopboot@hopboot"),
        "not the payload kernel: {}",
        banner.text
    );
    // With hopboot.timeout=0 (SeaBIOS) hopboot boots the default without drawing the menu.
    let decided = if shape == Shape::Ovmf { MENU_LINE } else { CHOSEN_LINE };
    let menu = first
        .iter()
        .find(|l| l.text.contains(decided))
        .unwrap_or_else(|| panic!("no '{decided}'\n{log}"));
    eprintln!(
        "{name} ({shape:?}, accel {}): {decided} at {:.1}s, kexec at {:.1}s, marker at {:.1}s",
        hopboot_qemu::vm::accel(),
        menu.t.as_secs_f64(),
        lines[kexec].t.as_secs_f64(),
        marker.t.as_secs_f64()
    );
    Boot {
        lines,
        log,
        marker: marker.text.trim().to_string(),
    }
}

/// Takes a screendump through QMP and checks that the target's blocks are on it;
/// keeps a PNG in target/payload/.
fn check_screen(name: &str, qmp_path: &Path) {
    let s = setup();
    let mut qmp = Qmp::connect(qmp_path, Duration::from_secs(10)).unwrap();
    let ppm_path = s.work.join(format!("{name}.ppm"));
    qmp.screendump(&ppm_path, "ppm").unwrap();
    let keep = hopboot_qemu::paths::target_dir()
        .unwrap()
        .join(format!("payload/screen-{name}.png"));
    qmp.screendump(&keep, "png").unwrap();
    let ppm = Ppm::parse(&std::fs::read(&ppm_path).unwrap()).unwrap();
    // The target drew 12 rows of 60 solid blocks at the top left: with 8x16 cells,
    // 480x192 pixels. Check the inner 400x160: nearly all lit on a working screen,
    // nothing on a black one, and far from full on a screen of ordinary text.
    let blocks = ppm.lit_share(8, 8, 400, 160, 96);
    let whole = ppm.lit_share(0, 0, ppm.width, ppm.height, 96);
    eprintln!(
        "{name}: screen {}x{}, blocks area {:.0}% lit, whole screen {:.0}% (kept {})",
        ppm.width,
        ppm.height,
        blocks * 100.0,
        whole * 100.0,
        keep.display()
    );
    assert!(
        blocks > 0.9,
        "the target's blocks are not on the screen after kexec: {:.0}% of their area lit (see {})",
        blocks * 100.0,
        keep.display()
    );
}

fn grub_demo(name: &str) -> hopboot_qemu::demo::DemoInfo {
    let s = setup();
    demo_disk(&s.work.join(format!("{name}.img")), &s.kernel, Demo::Grub).unwrap()
}

fn check_grub_demo(name: &str, shape: Shape) -> Boot {
    let d = grub_demo(name);
    let before = sha256_file(&d.disk).unwrap();
    let (vm, _) = start(name, shape, std::slice::from_ref(&d.disk), &[], false);
    let boot = finish(vm, name, shape, None);
    assert_eq!(sha256_file(&d.disk).unwrap(), before, "the disk image changed");
    let expected = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    assert_eq!(boot.marker, expected);
    boot
}

/// On OVMF the second kernel must come up as an EFI system with runtime services.
fn check_efi_after_kexec(boot: &Boot) {
    let kexec = boot.lines.iter().position(|l| l.text.contains(KEXEC_LINE)).unwrap();
    let (first, second) = boot.lines.split_at(kexec);
    for (part, what) in [(first, "the payload kernel"), (second, "the target kernel")] {
        for needle in [EFI_LINE, EFIVARS_LINE] {
            assert!(
                part.iter().any(|l| l.text.contains(needle)),
                "{what}: no '{needle}'\n{}",
                boot.log
            );
        }
    }
}

#[test]
fn seabios_payload_boots_the_grub_demo() {
    check_grub_demo("payload-bios-grub", Shape::Seabios);
}

#[test]
fn ovmf_starts_the_payload_from_the_esp_and_it_boots_the_grub_demo() {
    let boot = check_grub_demo("payload-uefi-grub", Shape::Ovmf);
    check_efi_after_kexec(&boot);
}

#[test]
fn seabios_payload_boots_a_uki() {
    let disk = setup().work.join("payload-bios-uki.img");
    let esp = Partition::new(64, "ef00", Fs::Vfat).with_label("ESP");
    let uki = format!("{UKI}console=ttyS0 from=uki-payload-bios");
    custom_disk_with(&disk, esp, &[("/EFI/Linux/debian.efi", &uki)]).unwrap();
    let (vm, _) = start("payload-bios-uki", Shape::Seabios, &[disk], &[], false);
    let boot = finish(vm, "payload-bios-uki", Shape::Seabios, None);
    assert_eq!(boot.marker, marker_line("console=ttyS0 from=uki-payload-bios"));
}

#[test]
fn ovmf_payload_boots_a_uki_from_its_own_esp() {
    let uki = format!("{UKI}console=ttyS0 from=uki-payload-uefi");
    let (vm, _) = start(
        "payload-uefi-uki",
        Shape::Ovmf,
        &[],
        &[("/EFI/Linux/debian.efi", &uki)],
        false,
    );
    let boot = finish(vm, "payload-uefi-uki", Shape::Ovmf, None);
    assert_eq!(boot.marker, marker_line("console=ttyS0 from=uki-payload-uefi"));
    check_efi_after_kexec(&boot);
}

/// A disk whose one entry asks the target to draw on its screen.
fn screen_disk(name: &str) -> PathBuf {
    let disk = setup().work.join(format!("{name}.img"));
    let cfg = "set timeout=0\nmenuentry 'screen' {\n  linux /boot/vmlinuz console=ttyS0 hopboot.target.screen\n  initrd /boot/initrd.img\n}\n";
    custom_disk(
        &disk,
        "5a6e1c3e-0b7d-4f51-9a51-52c9a1d0e7a1",
        &[
            ("/boot/grub/grub.cfg", cfg),
            ("/boot/vmlinuz", KERNEL),
            ("/boot/initrd.img", TARGET_INITRD),
        ],
    )
    .unwrap();
    disk
}

#[test]
fn the_screen_works_after_kexec_under_seabios_vga() {
    let name = "payload-bios-screen";
    let (vm, qmp) = start(name, Shape::Seabios, &[screen_disk(name)], &[], true);
    let boot = finish(vm, name, Shape::Seabios, Some(&qmp));
    assert!(boot.marker.contains("hopboot.target.screen"), "{}", boot.marker);
}

#[test]
fn the_screen_works_after_kexec_under_ovmf() {
    let name = "payload-uefi-screen";
    let (vm, qmp) = start(name, Shape::Ovmf, &[screen_disk(name)], &[], true);
    let boot = finish(vm, name, Shape::Ovmf, Some(&qmp));
    assert!(boot.marker.contains("hopboot.target.screen"), "{}", boot.marker);
    check_efi_after_kexec(&boot);
}

/// Runs `hopboot-payload` on `make payload`'s initramfs and cached tree, writing `output`.
fn rebuild(output: &Path, extra: &[&str]) -> std::process::Output {
    let target = hopboot_qemu::paths::target_dir().unwrap();
    let dir = target.join("payload");
    std::process::Command::new(target.join("debug/hopboot-payload"))
        .arg("--initramfs")
        .arg(dir.join("initramfs.cpio"))
        .arg("--output")
        .arg(output)
        .arg("--work")
        .arg(&dir)
        .arg("--fragment")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../payload/kernel.config"))
        .args(extra)
        .output()
        .unwrap()
}

/// Two builds give the same bytes. The cached kernel tree is made to redo every step
/// where a build could pick up the time, the user, the host or a build counter: the
/// version stamp (`init/version.o`, `compile.h`, `.version`), the built-in initramfs,
/// the link of vmlinux and the compressed image. (A build from an empty tree was
/// compared once by hand: see docs/payload.md.)
#[test]
fn the_payload_build_is_reproducible() {
    let _tree = KERNEL_TREE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = hopboot_qemu::paths::target_dir().unwrap();
    let dir = target.join("payload");
    let first = std::fs::read(payload()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("hopboot-payload.json")).unwrap()).unwrap();
    let key = json["key"].as_str().expect("hopboot-payload.json has a key");
    let build = dir.join(format!("build-{key}"));
    assert!(build.is_dir(), "{} does not exist", build.display());
    for f in [
        ".version",
        "include/generated/compile.h",
        "include/generated/utsversion.h",
        "init/version.o",
        "usr/initramfs_data.o",
        "vmlinux",
        "arch/x86/boot/compressed/vmlinux",
        "arch/x86/boot/compressed/vmlinux.bin",
        "arch/x86/boot/compressed/piggy.o",
        "arch/x86/boot/bzImage",
    ] {
        let _ = std::fs::remove_file(build.join(f));
    }
    let again = dir.join("reproduced.bzImage");
    let out = rebuild(&again, &[]);
    assert!(
        out.status.success(),
        "hopboot-payload failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let second = std::fs::read(&again).unwrap();
    assert_eq!(first.len(), second.len(), "the two builds differ in size");
    let differ = first.iter().zip(&second).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "the two builds differ in {differ} bytes");
}

/// Over its budget, `hopboot-payload` fails and prints the breakdown (on the cached
/// tree: nothing is rebuilt).
#[test]
fn a_payload_over_its_budget_is_refused_with_the_breakdown() {
    let _tree = KERNEL_TREE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = payload().parent().unwrap().to_path_buf();
    let out = rebuild(&dir.join("over-budget.bzImage"), &["--budget", "2000000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a 2,000,000-byte budget was accepted\n{err}");
    assert!(err.contains("over its budget of 2000000 bytes"), "{err}");
    assert!(
        err.contains("kernel share") && err.contains("hopboot initramfs share"),
        "{err}"
    );
    assert!(
        !dir.join("over-budget.bzImage").exists(),
        "an over-budget payload was written"
    );
}
