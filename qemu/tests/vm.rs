//! QEMU end to end: the Debian kernel boots the target initramfs directly.
//!
//! Needs the musl build of hopboot-target-init (`make build`); without it these tests
//! fail and say so (`cargo test` must not run cargo itself, so it cannot build it).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hopboot_qemu::kernel;
use hopboot_qemu::paths;
use hopboot_qemu::target::{self, TARGET_INIT_BIN};
use hopboot_qemu::vm::{self, DiskAttach, DiskInterface, Vm, VmConfig};

fn scratch(name: &str) -> PathBuf {
    let dir = paths::target_dir()
        .unwrap()
        .join("qemu-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn have_target_init() -> bool {
    match paths::musl_bin(TARGET_INIT_BIN) {
        Ok(_) => true,
        Err(err) => {
            panic!("{err:#} (the Makefile builds it before the tests)")
        }
    }
}

#[test]
fn direct_boot_prints_marker_and_powers_off() {
    if !have_target_init() {
        return;
    }
    let dir = scratch("direct-boot");
    let k = kernel::debian_kernel().unwrap();
    let initrd = dir.join("target.img");
    target::target_initramfs(&initrd).unwrap();

    let append = "console=ttyS0 hopboot.x=1";
    let mut cfg = VmConfig::new(&k.vmlinuz, &initrd, append);
    cfg.log = Some(dir.join("serial.log"));
    let started = Instant::now();
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for("Run /init as init process", Duration::from_secs(240))
        .unwrap();
    let line = vm
        .wait_for(&target::marker_line(append), Duration::from_secs(60))
        .unwrap();
    eprintln!(
        "marker after {:.1}s (accel {}), kernel {}",
        line.t.as_secs_f64(),
        vm::accel(),
        k.version
    );
    assert_eq!(line.text, target::marker_line(append));

    let status = vm.wait_exit(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "QEMU exited with {status}");
    eprintln!("QEMU powered off after {:.1}s", started.elapsed().as_secs_f64());

    // Lines are consumed in order: the marker is not found twice, and a closed
    // console fails at once with the tail of the log.
    let err = format!(
        "{:#}",
        vm.wait_for("HOPBOOT-TARGET-MARKER", Duration::from_secs(30))
            .unwrap_err()
    );
    assert!(err.contains("closed its console"), "{err}");
    assert!(err.contains("reboot: Power down"), "{err}");
    assert!(vm.transcript().contains("Linux version"));

    let log = fs::read_to_string(dir.join("serial.log")).unwrap();
    assert!(log.contains(&target::marker_line(append)), "{log}");
    drop(vm);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn qemu_accepts_every_disk_interface() {
    let k = kernel::debian_kernel().unwrap();
    let dir = scratch("interfaces");
    let initrd = dir.join("initrd");
    fs::write(&initrd, b"").unwrap();
    let mut cfg = VmConfig::new(&k.vmlinuz, &initrd, "console=ttyS0");
    for (n, interface) in DiskInterface::ALL.into_iter().chain(DiskInterface::ALL).enumerate() {
        let img = dir.join(format!("disk{n}.img"));
        fs::File::create(&img).unwrap().set_len(1 << 20).unwrap();
        let disk = DiskAttach::new(img).with_interface(interface);
        cfg.disks.push(if n % 2 == 0 { disk.read_only() } else { disk });
    }
    // Paused: QEMU builds every device but runs no guest code.
    cfg.extra_args.push("-S".into());
    let mut vm = Vm::spawn(&cfg).unwrap();
    let running = vm.wait_exit(Duration::from_secs(3));
    assert!(
        running.is_err(),
        "QEMU exited early ({running:?}); stderr: {:?}",
        vm.stderr_lines()
    );
    assert_eq!(vm.stderr_lines(), Vec::<String>::new());
    vm.kill();
    drop(vm);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_files_are_clear_errors() {
    let cfg = VmConfig::new("/nonexistent/vmlinuz", "/nonexistent/initrd", "");
    let err = format!("{:#}", Vm::spawn(&cfg).unwrap_err());
    assert!(err.contains("/nonexistent/vmlinuz"), "{err}");
}
