//! Issue 13: the real Debian 12 installation of `make test-distro`, booted from
//! the network. Its own kernel and 30 MB initramfs-tools initrd are served by nginx
//! in the lab's network namespace (`hopboot_tests::netlab`), named by an iPXE script
//! that DHCP (dnsmasq) gives as the boot file; the entry's command line is the one
//! the installation's grub.cfg gives its default entry (`root=UUID=… ro
//! console=ttyS0,115200n8`) plus `hopboot.test=netboot`. The installed disk is
//! attached too (its initrd must find its root there), so its own GRUB entries are
//! on hopboot's menu; `hopboot.net=first` makes the network's entry the default.
//!
//! What it proves: hopboot (PID 1, Debian's kernel, server-profile initramfs) gets
//! a lease, runs the script, downloads the kernel and initrd (39 MB) over HTTP into
//! memory and kexecs them; the installed kernel's initrd finds, fscks and mounts the root by UUID, and
//! systemd reaches multi-user.target, where the marker unit prints `uname -r` and
//! `/proc/cmdline`: exactly the network entry's. Before the kexec QEMU counted no
//! write to the disk, and fewer bytes read from it than the initrd's size (the
//! files came from the network, the disk was only looked at).
//!
//! Ignored by default, like tests/tests/distro.rs (root, the Debian mirror, and the
//! disk's build: minutes): run by `make test-distro` (so by `make test` as root) and
//! `make test-netboot`. Without root, dnsmasq or nginx it says why it is skipped
//! and passes.

use super::{find, hopboot_lines};
use hopboot_qemu::distro::distro_dir;
use hopboot_qemu::qmp::Qmp;
use hopboot_qemu::vm::{strip_ansi, Vm};
use hopboot_tests::distro::{disk, disk_stats, grub_default_entry, FAILED_LINE, MARKER, MEMORY_MIB, ROOT_LINE};
use hopboot_tests::netlab::{skipped, Lab, HTTP, MAC0};
use hopboot_tests::KEXEC_LINE;
use std::time::{Duration, Instant};

/// hopboot's command line: the network's entry is the default, booted without a menu.
const APPEND: &str = "hopboot.net=first hopboot.timeout=0 hopboot.wait=20";

/// The last `N.N MiB/s` of a progress line (`… 30.7 MiB of 30.7 MiB, 12.3 MiB/s`).
fn rate_mib_s(line: &str) -> Option<f64> {
    let before = line.trim_end().strip_suffix(" MiB/s")?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The number before ` ms` after `key` (`read kernel and initrds in 3120 ms` → 3120).
fn ms_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro, make test-netboot"]
fn debian12_served_over_http_boots_to_its_systemd() {
    if skipped("netboot_distro") {
        return;
    }
    let started = Instant::now();
    let d = disk();
    eprintln!(
        "netboot_distro: disk built in {:.0} s; kernel {}, initrd {:.1} MB",
        started.elapsed().as_secs_f64(),
        d.kernel_version,
        d.initrd_bytes as f64 / 1e6
    );
    let entry = grub_default_entry(&d.grub_cfg).unwrap_or_else(|e| panic!("{e:#}\n{}", d.grub_cfg));
    let v = &d.kernel_version;
    assert_eq!(entry.kernel, format!("/boot/vmlinuz-{v}"));
    assert_eq!(entry.initrd, format!("/boot/initrd.img-{v}"));
    assert!(
        entry.args.contains(&format!("root=UUID={}", d.fs_uuid)),
        "grub.cfg's entry: {entry:?}"
    );
    let cmdline = format!("{} hopboot.test=netboot", entry.args);

    // ---- the boot server: the installation's own kernel and initrd (the files of
    // the tree its disk image was made from), an iPXE script, DHCP
    let mut lab = Lab::new("distro");
    for (from, to) in [
        (&entry.kernel, format!("vmlinuz-{v}")),
        (&entry.initrd, format!("initrd.img-{v}")),
    ] {
        let src = d.rootfs.join(from.trim_start_matches('/'));
        std::fs::create_dir_all(lab.path("www/debian12")).unwrap();
        std::fs::copy(&src, lab.path(&format!("www/debian12/{to}")))
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    }
    let kernel_url = format!("http://{HTTP}/debian12/vmlinuz-{v}");
    let initrd_url = format!("http://{HTTP}/debian12/initrd.img-{v}");
    lab.file(
        "www/boot.ipxe",
        &format!("#!ipxe\n# Debian 12, installed on the local disk\nkernel {kernel_url} {cmdline}\ninitrd {initrd_url}\nboot\n"),
    );
    lab.nginx();
    lab.dnsmasq(&[&format!("--dhcp-boot=http://{HTTP}/boot.ipxe")]);

    // ---- the VM: one card on the lab's bridge, the installed disk (vda, QMP's
    // disk0). The installed system mounts its root read-write, so -snapshot keeps
    // its writes off the image; QEMU's counters still count them.
    let mut cfg = lab.vm_config(&[MAC0], std::slice::from_ref(&d.disk), APPEND);
    cfg.memory_mib = MEMORY_MIB;
    let dir = distro_dir().unwrap();
    let serial_log = dir.join("netboot.log");
    cfg.log = Some(serial_log.clone());
    let qmp_path = lab.path("qmp.sock");
    let _ = std::fs::remove_file(&qmp_path);
    cfg.qmp = Some(qmp_path.clone());
    cfg.extra_args = vec!["-snapshot".into()];
    let booted_at = Instant::now();
    let mut vm = Vm::spawn(&cfg).unwrap();
    let mut qmp = Qmp::connect(&qmp_path, Duration::from_secs(30)).unwrap();
    let wait = |vm: &mut Vm, needle: &str, secs: u64| {
        if let Err(e) = vm.wait_for(needle, Duration::from_secs(secs)) {
            vm.kill();
            panic!("{e:#}\n(full serial log: {})", serial_log.display());
        }
    };
    wait(&mut vm, KEXEC_LINE, 300);
    let at_kexec = disk_stats(&mut qmp, "disk0").unwrap();
    wait(&mut vm, ROOT_LINE, 900);
    let in_system = disk_stats(&mut qmp, "disk0").unwrap();
    wait(&mut vm, MARKER, 120);
    let status = vm.wait_exit(Duration::from_secs(180)).unwrap();
    let lines = vm.lines();
    let transcript = vm.transcript();

    // ---- hopboot's part: the network's entry, chosen over the disk's GRUB entries
    hopboot_lines(&lines, "netboot_distro");
    let booting = find(&lines, "hopboot: booting ").expect("hopboot's booting line");
    assert!(
        booting.text.contains("' from eth0 192.0.2.") && booting.text.contains(&format!(": {kernel_url} {cmdline} (")),
        "{}\nexpected the network's entry: {kernel_url} {cmdline}",
        booting.text
    );
    // The installed disk's own GRUB entries were on the menu, and lost to it.
    let found = find(&lines, "hopboot: found ").expect("hopboot's discovery line");
    let local = found
        .text
        .split_once("hopboot: found ")
        .and_then(|(_, r)| r.split_whitespace().next()?.parse::<u32>().ok());
    assert!(
        local.is_some_and(|n| n > 0),
        "no entries from the installed disk: {}",
        found.text
    );
    assert_eq!(
        lines.iter().filter(|l| l.text.contains(KEXEC_LINE)).count(),
        1,
        "one kexec, from hopboot into the installed kernel"
    );

    // ---- the disk: not written before the kexec, and not where the files came from
    eprintln!("netboot_distro: disk I/O when hopboot kexecs: {at_kexec:?}");
    eprintln!("netboot_distro: disk I/O once the installed system runs: {in_system:?}");
    assert_eq!(
        (at_kexec.wr_operations, at_kexec.wr_bytes, at_kexec.unmap_operations),
        (0, 0, 0),
        "writes or discards reached the disk before the installed kernel started"
    );
    assert!(
        at_kexec.rd_bytes < d.initrd_bytes,
        "hopboot read {} bytes of the disk, more than the initrd ({}): were the files read from it?",
        at_kexec.rd_bytes,
        d.initrd_bytes
    );
    assert!(
        in_system.wr_operations > 0,
        "the installed system runs read-write, yet QEMU counted no writes: the counter proves nothing"
    );

    // ---- the server: both files sent whole, once
    let served = lab.served();
    let initrd_path = format!("/debian12/initrd.img-{v}");
    let initrd_gets: Vec<_> = served.iter().filter(|s| s.path() == initrd_path).collect();
    assert_eq!(initrd_gets.len(), 1, "nginx's log: {served:?}");
    assert_eq!(
        (initrd_gets[0].status, initrd_gets[0].bytes),
        (200, d.initrd_bytes),
        "{served:?}"
    );
    let kernel_path = format!("/debian12/vmlinuz-{v}");
    assert!(
        served.iter().any(|s| s.path() == kernel_path && s.status == 200),
        "{served:?}"
    );

    // ---- the installed system's part
    let marker = find(&lines, MARKER).expect("marker line");
    // systemd may start a console line with an erase-to-end-of-line (ESC [ K).
    assert_eq!(
        strip_ansi(&marker.text).trim(),
        format!("{MARKER} {v} {cmdline}"),
        "the installed system's uname -r and /proc/cmdline: the network entry's"
    );
    let root = find(&lines, ROOT_LINE).expect("root line");
    let root_words: Vec<&str> = root.text.split_whitespace().collect();
    assert!(
        matches!(root_words.as_slice(), [_, "/dev/vda1", "ext4", opts] if opts.split(',').any(|o| o == "rw")),
        "root filesystem: {}",
        root.text
    );
    let failed = find(&lines, FAILED_LINE).expect("failed-units line");
    assert_eq!(failed.text.trim(), format!("{FAILED_LINE} []"), "systemd units failed");
    hopboot_tests::distro::assert_installed_system_healthy(&transcript);
    assert!(status.success(), "QEMU exited with {status} after the poweroff");

    // ---- figures: the download, as hopboot and nginx saw it, and the timeline
    // hopboot's progress lines (printed above with its other lines) for the
    // initrd: the last one's rate is over the whole download.
    let guest_rate = lines
        .iter()
        .rev()
        .find(|l| l.text.contains(&format!("{initrd_url}: ")) && l.text.contains(" MiB/s"))
        .and_then(|l| rate_mib_s(&l.text));
    let read = find(&lines, "read kernel and initrds in").expect("hopboot's load line");
    let read_ms = ms_after(&read.text, "read kernel and initrds in");
    let mib = d.initrd_bytes as f64 / f64::from(1u32 << 20);
    eprintln!(
        "netboot_distro: the initrd ({mib:.1} MiB) over HTTP: hopboot's last progress line {} \
         ({}); nginx's request time {:.3} s ({:.1} MiB/s); hopboot read kernel and initrd in {} ms",
        guest_rate.map_or("-".into(), |r| format!("{r:.1} MiB/s")),
        guest_rate.map_or("-".into(), |r| format!("{:.2} s", mib / r)),
        initrd_gets[0].seconds,
        mib / initrd_gets[0].seconds.max(0.001),
        read_ms.map_or("-".into(), |m| m.to_string())
    );
    let at = |needle: &str| find(&lines, needle).map_or("-".into(), |l| format!("{:.1}s", l.t.as_secs_f64()));
    eprintln!(
        "netboot_distro: QEMU start -> lease {} -> network entries {} -> booting {} -> kexec {} -> marker {}; \
         exit {:.1}s after start; the test took {:.0} s",
        at("lease from"),
        at("stage=net_entries"),
        at("hopboot: booting "),
        at(KEXEC_LINE),
        at(MARKER),
        booted_at.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("netboot_distro: serial log: {}", serial_log.display());
}

#[test]
fn progress_and_load_lines_are_read() {
    assert_eq!(
        rate_mib_s("hopboot: eth0: http://192.0.2.1:8080/i: 30.7 MiB of 30.7 MiB, 12.5 MiB/s"),
        Some(12.5)
    );
    assert_eq!(rate_mib_s("hopboot: eth0: 3 MiB"), None);
    assert_eq!(
        ms_after(
            "hopboot: read kernel and initrds in 3120 ms, kexec_load took 40 ms",
            "read kernel and initrds in"
        ),
        Some(3120)
    );
}
