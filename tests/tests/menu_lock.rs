//! The menu lock (docs/trust.md "Menu lock"): an image built with
//! `hopboot-image-build --password-hash` asks for the password before the
//! command-line editor and the rescue shell, on the menu and at the rescue
//! prompt. Part of `make test-trust` (and of `make qemu-test`).

use hopboot_qemu::demo::{demo_disk, Demo};
use hopboot_qemu::target::marker_line;
use hopboot_tests::{boot_hopboot_on, grub_disk, marker_after_exit, setup, BOOT_TIMEOUT};
use std::time::Duration;

/// The menu password of [`locked_initramfs`].
const PASSWORD: &str = "c0rrect-h0rse";
/// PBKDF2 iterations for the test image: the default (600,000) would take TCG
/// many seconds per try (docs/trust.md "Menu lock").
const TEST_ITERATIONS: u32 = 20_000;

/// hopboot's initramfs with busybox as the rescue shell and [`PASSWORD`] as the
/// menu password, as `hopboot-image-build --hash-password --iterations N` and
/// `--password-hash FILE` make it.
fn locked_initramfs() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let s = setup();
            let mut input = std::io::Cursor::new(format!("{PASSWORD}\n"));
            let hash =
                hopboot_image_build::hash_password(&mut input, &mut std::io::sink(), false, TEST_ITERATIONS).unwrap();
            let hash_file = s.work.join("menu-lock.hash");
            std::fs::write(&hash_file, format!("{hash}\n")).unwrap();
            let out = s.work.join("hopboot-locked.cpio.gz");
            hopboot_image_build::build(&hopboot_image_build::Options {
                binary: hopboot_qemu::paths::musl_bin("hopboot").unwrap(),
                modules_dir: Some(s.kernel.modules_dir.clone()),
                modules: hopboot_tests::MODULES.iter().map(|m| m.to_string()).collect(),
                filesystems: Vec::new(),
                extra: vec![
                    (hopboot_tests::busybox().unwrap(), "bin/sh".into()),
                    (hash_file, hopboot_image_build::PASSWORD_PATH.into()),
                ],
                compression: hopboot_image_build::Compression::Gzip,
                mtime: 0,
                output: out.clone(),
            })
            .unwrap();
            out
        })
        .clone()
}

/// The menu lock: with a password in the image, `s` and `e` ask for it; wrong
/// ones are refused (three, and the shell stays closed), the right one opens
/// the editor and, for the rest of the boot, the shell without asking again.
/// The password is never echoed.
#[test]
fn a_locked_menu_asks_for_the_password_before_the_shell_and_the_editor() {
    let d = grub_disk("menu-locked");
    let disk = hopboot_qemu::vm::DiskAttach::new(&d.disk);
    let mut vm = boot_hopboot_on(&locked_initramfs(), &[disk], "hopboot.wait=20 hopboot.timeout=60").unwrap();
    let short = Duration::from_secs(60);
    vm.wait_for("(any key stops)", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"s").unwrap();
    vm.wait_for("The rescue shell is locked by a password", short).unwrap();
    for n in 1..=3 {
        vm.wait_for("Password (Esc cancels): ", short).unwrap();
        vm.send(format!("wrong-{n}\r").as_bytes()).unwrap();
        vm.wait_for(&format!("Wrong password ({n} of 3)"), short).unwrap();
    }
    vm.wait_for("The rescue shell stays locked.", short).unwrap();
    vm.wait_for("locked: this image has a password", short).unwrap();
    vm.send(b"e").unwrap();
    vm.wait_for("The command-line editor is locked by a password", short)
        .unwrap();
    vm.send(b"c0rrect-horse\r").unwrap();
    vm.wait_for("Wrong password (1 of 3)", short).unwrap();
    vm.send(format!("{PASSWORD}\r").as_bytes()).unwrap();
    vm.wait_for("Unlocked for the rest of this boot.", short).unwrap();
    vm.wait_for("edit> ", short).unwrap();
    // Out of the editor and into the shell: no second question.
    vm.send(b"\x1b").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send(b"s").unwrap();
    vm.wait_for("/ # ", short).unwrap();
    vm.send(b"echo SHELL-$((40+2)); exit\r").unwrap();
    vm.wait_for("SHELL-42", short).unwrap();
    vm.wait_for("boot menu", short).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    vm.send(b"e").unwrap();
    vm.wait_for("edit> ", short).unwrap();
    let last = d.expected_cmdline.rsplit(' ').next().unwrap().len();
    vm.send(&vec![0x7f; last]).unwrap();
    vm.send(b"hopboot.edited=locked\r").unwrap();
    let m = marker_after_exit(&mut vm);
    let edited = format!(
        "{}hopboot.edited=locked",
        &d.expected_cmdline[..d.expected_cmdline.len() - last]
    );
    assert_eq!(m, marker_line(&format!("BOOT_IMAGE={} {edited}", d.expected_kernel)));
    let t = vm.transcript();
    assert!(
        !t.contains(PASSWORD) && !t.contains("wrong-1"),
        "a password was echoed:\n{t}"
    );
    assert_eq!(t.matches("is locked by a password").count(), 2, "{t}");
    // What a check costs under TCG, for the README.
    for l in vm.lines().iter().filter(|l| l.text.contains("password checked in")) {
        eprintln!("{}", l.text.trim());
    }
}

/// The rescue prompt (no entry anywhere) asks for the password before `sh`
/// too: the console stays usable whatever was typed.
#[test]
fn the_rescue_prompt_asks_for_the_password_before_the_shell() {
    let s = setup();
    let d = demo_disk(&s.work.join("menu-locked-empty.img"), &s.kernel, Demo::Empty).unwrap();
    let disk = hopboot_qemu::vm::DiskAttach::new(&d.disk);
    let mut vm = boot_hopboot_on(&locked_initramfs(), &[disk], "hopboot.wait=1").unwrap();
    let short = Duration::from_secs(60);
    vm.wait_for("hopboot>", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"sh\r").unwrap();
    vm.wait_for("The rescue shell is locked by a password", short).unwrap();
    vm.send(b"guess\r").unwrap();
    vm.wait_for("Wrong password (1 of 3)", short).unwrap();
    vm.send(b"\x1b").unwrap();
    vm.wait_for("Cancelled.", short).unwrap();
    vm.wait_for("hopboot>", short).unwrap();
    vm.send(b"sh\r").unwrap();
    vm.wait_for("Password (Esc cancels): ", short).unwrap();
    vm.send(format!("{PASSWORD}\r").as_bytes()).unwrap();
    vm.wait_for("/ # ", short).unwrap();
    vm.send(b"echo SHELL-$((40+2)); exit\r").unwrap();
    vm.wait_for("SHELL-42", short).unwrap();
    vm.wait_for("hopboot>", short).unwrap();
    vm.send(b"poweroff\r").unwrap();
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let t = vm.transcript();
    assert!(
        !t.contains(PASSWORD) && !t.contains("guess"),
        "a password was echoed:\n{t}"
    );
    for l in vm.lines().iter().filter(|l| l.text.contains("password checked in")) {
        eprintln!("{}", l.text.trim());
    }
}
