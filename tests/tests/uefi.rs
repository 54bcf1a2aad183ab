//! End to end on a UEFI machine (OVMF, Debian's `ovmf` package): QEMU starts
//! the Debian kernel's EFI stub, hopboot sees `/sys/firmware/efi` and loads
//! the entry with `kexec_file_load` (the new kernel needs the EFI runtime map,
//! which only the kernel's own loader passes), and the kexec'd kernel must
//! come up as an EFI system again, with working runtime services.

use hopboot_qemu::demo::{demo_disk, Demo};
use hopboot_qemu::disk::{sha256_file, Fs, Partition};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::Line;
use hopboot_tests::{
    boot_hopboot_uefi, custom_disk_with, setup, BOOT_TIMEOUT, EFIVARS_LINE, EFI_LINE, KEXEC_LINE, UKI,
};
use std::path::Path;
use std::time::Duration;

/// Why hopboot must fall back to the kernel's loader here (loader/src/kexec.rs).
const UEFI_REASON: &str = "UEFI machine: the new kernel needs the EFI runtime map";

/// Boots `disk` through hopboot under OVMF until the target powers off;
/// checks everything a UEFI boot must show and returns the marker line.
fn boot_uefi(name: &str, disk: &Path) -> String {
    let before = sha256_file(disk).unwrap();
    let mut vm = boot_hopboot_uefi(
        name,
        &[disk.to_path_buf()],
        "hopboot.wait=20 hopboot.timeout=0 hopboot.debug",
    )
    .unwrap();
    // OVMF's start and the hashing in kexec_file_load add to a BIOS boot.
    vm.wait_for(MARKER, BOOT_TIMEOUT + Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let lines = vm.lines();
    let log = vm.transcript();
    assert_eq!(sha256_file(disk).unwrap(), before, "the disk image changed");
    assert!(!log.contains("Kernel panic"), "{log}");
    assert!(!log.contains("Attempted to kill init"), "{log}");

    let kexec = lines
        .iter()
        .position(|l| l.text.contains(KEXEC_LINE))
        .unwrap_or_else(|| panic!("no '{KEXEC_LINE}'\n{log}"));
    let (first, second) = lines.split_at(kexec);
    let find = |part: &[Line], needle: &str| part.iter().find(|l| l.text.contains(needle)).cloned();
    let has = |part: &[Line], needle: &str, what: &str| {
        find(part, needle).unwrap_or_else(|| panic!("{what}: no line containing '{needle}'\n{log}"))
    };

    // The firmware started the first kernel as an EFI system.
    has(first, EFI_LINE, "first kernel");
    has(first, EFIVARS_LINE, "first kernel");
    // hopboot saw UEFI and used the kernel's own loader for that reason.
    has(
        first,
        &format!("hopboot: kexec_file_load: {UEFI_REASON}"),
        "hopboot debug log",
    );
    let loaded = has(
        first,
        &format!("kexec_file_load ({UEFI_REASON}) took"),
        "hopboot info log",
    );
    assert!(
        !first.iter().any(|l| l.text.contains(", kexec_load took")),
        "hopboot used kexec_load on a UEFI machine\n{log}"
    );
    // The kexec'd kernel got the EFI system table and runtime map: it is an
    // EFI system again and its runtime services work.
    let second_start = has(second, "Linux version", "second kernel");
    has(second, EFI_LINE, "second kernel");
    has(second, EFIVARS_LINE, "second kernel");
    let marker = has(second, MARKER, "target");

    let t = |l: Option<Line>| l.map_or_else(|| "-".to_string(), |l| format!("{:.1}s", l.t.as_secs_f64()));
    eprintln!(
        "{name} timeline (OVMF, accel {}): first kernel {}, hopboot {}, kexec {}, second kernel {}, marker {}",
        hopboot_qemu::vm::accel(),
        t(find(first, "Linux version")),
        t(find(first, "hopboot: hopboot")),
        t(Some(lines[kexec].clone())),
        t(Some(second_start)),
        t(Some(marker.clone())),
    );
    eprintln!("{name}: {}", loaded.text.trim());
    marker.text.trim().to_string()
}

#[test]
fn grub_default_entry_boots_on_uefi_through_kexec_file_load() {
    let s = setup();
    let d = demo_disk(&s.work.join("uefi-grub.img"), &s.kernel, Demo::Grub).unwrap();
    let marker = boot_uefi("uefi-grub", &d.disk);
    // GRUB puts BOOT_IMAGE=<the linux argument> first; hopboot does the same.
    let expected = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    assert_eq!(marker, expected);
}

#[test]
fn unified_kernel_image_on_a_fat_esp_boots_on_uefi() {
    let disk = setup().work.join("uefi-uki.img");
    let esp = Partition::new(64, "ef00", Fs::Vfat).with_label("ESP");
    let uki = format!("{UKI}console=ttyS0 from=uki-uefi");
    custom_disk_with(&disk, esp, &[("/EFI/Linux/debian.efi", &uki)]).unwrap();
    let marker = boot_uefi("uefi-uki", &disk);
    // A UKI's command line is its .cmdline section; no BOOT_IMAGE=.
    assert_eq!(marker, marker_line("console=ttyS0 from=uki-uefi"));
}
