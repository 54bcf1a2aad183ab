//! PID 1 under stress, in one boot (issue 16): a 1,000-entry menu next to a
//! config that uses up the GRUB interpreter's work budget, control keys at
//! the menu, a console that disappears (a virtio console unplugged through
//! QEMU's monitor), and a rescue shell that is interrupted, killed with
//! SIGKILL after leaving the terminal raw, and stopped. After all that the
//! menu still boots entry 999. (The rescue prompt's side is in boot.rs.)

use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use hopboot_tests::{custom_disk, setup, shell_initramfs, BOOT_TIMEOUT, KERNEL, TARGET_INITRD};
use std::io::Write;
use std::time::{Duration, Instant};

const ENTRIES: usize = 1000;
/// GRUB doubles a string until the interpreter's 16 MiB work budget stops it.
const BUDGET_HOG: &str = "set a=0123456789abcdef\nwhile true; do set a=\"$a$a\"; done\n\
                          menuentry 'never reached' { linux /boot/vmlinuz }\n";
const SHORT: Duration = Duration::from_secs(30);

/// Waits until the console has been silent for 400 ms; returns its length.
fn quiet(vm: &Vm) -> usize {
    let end = Instant::now() + SHORT;
    let mut len = vm.transcript().len();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(400));
        let now = vm.transcript().len();
        if now == len {
            break;
        }
        len = now;
    }
    len
}

/// Bytes (about: without `\r`) the console printed for `keys`.
fn bytes_for(vm: &mut Vm, keys: &[u8]) -> usize {
    let before = quiet(vm);
    vm.send(keys).unwrap();
    quiet(vm) - before
}

/// The fraction of `span` QEMU's threads spent running or waiting to run:
/// about 1 for a guest that spins, whatever else loads the host.
fn busy(pid: u32, span: Duration) -> f64 {
    let total = || -> u64 {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .map(|s| {
                s.split_whitespace()
                    .take(2)
                    .map(|v| v.parse::<u64>().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum()
    };
    let (t0, b0) = (Instant::now(), total());
    std::thread::sleep(span);
    (total() - b0) as f64 / t0.elapsed().as_nanos() as f64
}

/// What the last menu screen on the console shows.
fn screen(vm: &Vm) -> String {
    let t = vm.transcript();
    let start = t.rfind("boot menu").unwrap_or(0);
    t[start..].to_string()
}

#[test]
fn the_menu_survives_keys_a_vanishing_console_and_a_dying_shell() {
    let s = setup();
    let v = &s.kernel.version;
    let mut cfg = String::from("set default=0\n");
    for i in 1..=ENTRIES {
        cfg.push_str(&format!(
            "menuentry 'Entry {i}' {{\n  linux /boot/vmlinuz-{v} console=ttyS0 entry={i}\n  initrd /boot/initrd.img-{v}\n}}\n"
        ));
    }
    let (big, hog) = (s.work.join("stress-1000.img"), s.work.join("stress-hog.img"));
    custom_disk(
        &big,
        "4b0b0057-0000-4000-8000-000000001000",
        &[
            ("/boot/grub/grub.cfg", &cfg),
            (&format!("/boot/vmlinuz-{v}"), KERNEL),
            (&format!("/boot/initrd.img-{v}"), TARGET_INITRD),
        ],
    )
    .unwrap();
    custom_disk(
        &hog,
        "4b0b0057-0000-4000-8000-00000000b0d6",
        &[("/boot/grub/grub.cfg", BUDGET_HOG)],
    )
    .unwrap();
    let initramfs = s.work.join("stress.cpio.gz");
    shell_initramfs(&initramfs, &["virtio_console"]).unwrap();
    let monitor = s.work.join("stress-monitor.sock");
    let _ = std::fs::remove_file(&monitor);
    let mut vm_cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        &initramfs,
        "console=ttyS0 panic=-1 console=hvc0 hopboot.wait=20 hopboot.timeout=60",
    )
    .with_disk(DiskAttach::new(&big))
    .with_disk(DiskAttach::new(&hog));
    vm_cfg.extra_args = [
        "-device",
        "virtio-serial-pci,id=vser0",
        "-chardev",
        "null,id=hvc",
        "-device",
        "virtconsole,chardev=hvc,id=con1",
        "-chardev",
        &format!("socket,id=mon,path={},server=on,wait=off", monitor.display()),
        "-mon",
        "chardev=mon,mode=readline",
    ]
    .map(String::from)
    .to_vec();
    let mut vm = Vm::spawn(&vm_cfg).unwrap();

    // A window of the 1,000 entries, and the budget named on the menu.
    vm.wait_for("(any key stops)", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let menu = screen(&vm);
    assert!(menu.contains("(entries 1-16 of 1000)"), "{menu}");
    assert!(menu.contains("stopped after 16 MiB of work"), "{menu}");

    // Control keys are keys: the countdown stops, PID 1 lives on.
    for key in [b"\x03", b"\x1a", b"\x1c"] {
        vm.send(key).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }

    // Scrolling costs the same whatever the menu's length.
    let down = bytes_for(&mut vm, b"\x1b[B");
    let page = bytes_for(&mut vm, b"\x1b[6~");
    assert!(screen(&vm).contains("(entries 17-32 of 1000)"), "{}", screen(&vm));
    eprintln!("console bytes for Down: {down}, for PgDn: {page}");
    assert!(down < 600 && page < 4000, "a key wrote {down} and {page} bytes");

    // hvc0 disappears: the menu goes on on ttyS0 and does not spin.
    let mut mon = std::os::unix::net::UnixStream::connect(&monitor).unwrap();
    mon.write_all(b"device_del con1\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let load = busy(vm.pid(), Duration::from_secs(3));
    eprintln!("QEMU busy {:.0}% with hvc0 gone", load * 100.0);
    assert!(
        load < 0.6,
        "QEMU busy {:.0}% of the time with the console gone",
        load * 100.0
    );
    vm.wait_for("console /dev/hvc0: ", SHORT).unwrap();
    vm.send(b"\x1b[F").unwrap();
    vm.wait_for("(entries 985-1000 of 1000)", SHORT).unwrap();

    // The rescue shell has job control: Ctrl-C interrupts what it runs.
    vm.send(b"s").unwrap();
    vm.wait_for("/ # ", SHORT).unwrap();
    assert!(!vm.transcript().contains("job control turned off"));
    vm.send(b"sleep 1000\r").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    vm.send(b"\x03").unwrap();
    vm.send(b"echo A-$((6*7))\r").unwrap();
    vm.wait_for("A-42", SHORT).unwrap();
    // Killed with the terminal left raw: back to the menu, which answers.
    vm.send(b"stty raw -echo; kill -9 $$\r").unwrap();
    vm.wait_for("rescue shell killed by SIGKILL", SHORT).unwrap();
    vm.wait_for("boot menu", SHORT).unwrap();
    // Stopped: nobody could continue it; PID 1 ends it.
    vm.send(b"s").unwrap();
    vm.wait_for("/ # ", SHORT).unwrap();
    vm.send(b"kill -STOP $$\r").unwrap();
    vm.wait_for("rescue shell was stopped by SIGSTOP", SHORT).unwrap();
    vm.wait_for("boot menu", SHORT).unwrap();

    // Entry 999: the last page, one up, Enter.
    vm.send(b"\x03\x1a\x1c").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.send(b"\x1b[F").unwrap();
    vm.wait_for("(entries 985-1000 of 1000)", SHORT).unwrap();
    vm.send(b"\x1b[A").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.send(b"\r").unwrap();
    let marker = vm
        .wait_for_line(MARKER, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        marker.text.trim(),
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} console=ttyS0 entry=999"))
    );
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    assert!(!vm.transcript().contains("Attempted to kill init"));
}
