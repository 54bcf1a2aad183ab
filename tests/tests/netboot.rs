//! Network boot end to end: the Debian kernel starts hopboot as PID 1 in a
//! VM whose network cards are tap devices on a bridge inside a network
//! namespace the test creates; real dnsmasq (DHCP and TFTP) and nginx serve
//! there, and nothing else: no address outside the namespace is reachable
//! (the lab: `hopboot_tests::netlab`).
//! hopboot gets a lease, reads the boot server's config (PXELINUX, iPXE,
//! GRUB) and kexecs the Debian kernel with the target initramfs, whose /init
//! prints its command line.
//!
//! Needs root (ip netns, tap devices) and dnsmasq and nginx
//! (scripts/install-deps.sh); otherwise each test says why it is skipped
//! and passes. Part of `make test` (as root) and `make test-netboot`.

use hopboot_qemu::vm::VmConfig;
use hopboot_tests::netlab::{booted, skipped, Lab, HTTP, MAC0, MAC1, SERVER, SHORT};
use hopboot_tests::{custom_disk, BOOT_TIMEOUT, KERNEL, TARGET_INITRD};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

macro_rules! need_root {
    ($t:expr) => {
        if skipped(&format!("netboot {}", $t)) {
            return;
        }
    };
}

const PXE_LABEL: &str = "KERNEL vmlinuz\n  INITRD initrd.img\n";

#[test]
fn pxelinux_over_tftp_the_mac_config_beats_default() {
    need_root!("pxelinux");
    let mut lab = Lab::new("pxe");
    lab.file("tftp/pxelinux.0", "not really pxelinux");
    lab.file("tftp/vmlinuz", KERNEL);
    lab.file("tftp/initrd.img", TARGET_INITRD);
    lab.file(
        "tftp/pxelinux.cfg/default",
        &format!("DEFAULT d\nLABEL d\n  {PXE_LABEL}  APPEND console=ttyS0 marker=default\n"),
    );
    lab.file(
        "tftp/pxelinux.cfg/01-52-54-00-12-34-56",
        &format!("DEFAULT m\nLABEL m\n  MENU LABEL by MAC\n  {PXE_LABEL}  APPEND console=ttyS0 marker=mac\n"),
    );
    lab.dnsmasq(&["--dhcp-boot=pxelinux.0"]);
    let mut vm = lab.boot(&[MAC0], &[], "hopboot.timeout=1");
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=mac"), "{cmdline}\n{}", vm.transcript());
    let t = vm.transcript();
    assert!(t.contains("pxelinux.cfg/01-52-54-00-12-34-56"), "{t}");
    assert!(t.contains("eth0 192.0.2.1"), "the menu names the NIC and address:\n{t}");
}

#[test]
fn ipxe_script_over_http_with_the_nics_settings() {
    need_root!("ipxe");
    let mut lab = Lab::new("ipxe");
    lab.file("www/vmlinuz", KERNEL);
    lab.file("www/initrd.img", TARGET_INITRD);
    lab.file(
        "www/boot.ipxe",
        &format!(
            "#!ipxe\n# a real netboot script's shape\nset base http://{HTTP}\n\
             kernel ${{base}}/vmlinuz console=ttyS0 marker=ipxe mac=${{net0/mac}} ip=${{net0/ip}}\n\
             initrd ${{base}}/initrd.img\nboot\n"
        ),
    );
    lab.nginx();
    lab.dnsmasq(&[&format!("--dhcp-boot=http://{HTTP}/boot.ipxe")]);
    let mut vm = lab.boot(&[MAC0], &[], "hopboot.timeout=1");
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=ipxe"), "{cmdline}");
    assert!(cmdline.contains(&format!("mac={MAC0}")), "{cmdline}");
    assert!(cmdline.contains("ip=192.0.2.1"), "{cmdline}");
}

#[test]
fn grub_netboot_config_from_tftp() {
    need_root!("grub");
    let mut lab = Lab::new("grub");
    lab.file("tftp/grubnetx64.efi", "not really GRUB");
    lab.file("tftp/vmlinuz", KERNEL);
    lab.file("tftp/initrd.img", TARGET_INITRD);
    lab.file(
        "tftp/grub/grub.cfg",
        "set timeout=1\n\
         menuentry 'net GRUB' --id netgrub {\n\
         \tlinux (tftp)/vmlinuz console=ttyS0 marker=grub server=$net_default_server\n\
         \tinitrd (tftp)/initrd.img\n}\n",
    );
    lab.dnsmasq(&["--dhcp-boot=grubnetx64.efi"]);
    let mut vm = lab.boot(&[MAC0], &[], "hopboot.timeout=1");
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains(&format!("marker=grub server={SERVER}")), "{cmdline}");
}

/// The firmware payload (`make payload`: hopboot built into a kernel with
/// virtio-net, no modules) boots from the network as well.
#[test]
fn the_firmware_payload_boots_from_the_network() {
    need_root!("payload");
    let payload = hopboot_qemu::paths::target_dir()
        .unwrap()
        .join("payload/hopboot-payload.bzImage");
    assert!(
        payload.is_file(),
        "{} does not exist: run `make payload` first",
        payload.display()
    );
    let mut lab = Lab::new("payload");
    lab.file("tftp/pxelinux.0", "x");
    lab.file("tftp/vmlinuz", KERNEL);
    lab.file("tftp/initrd.img", TARGET_INITRD);
    lab.file(
        "tftp/pxelinux.cfg/default",
        &format!("DEFAULT p\nLABEL p\n  {PXE_LABEL}  APPEND console=ttyS0 marker=payload\n"),
    );
    lab.dnsmasq(&["--dhcp-boot=pxelinux.0"]);
    // The lab's VM with the payload as the kernel and no initrd (the
    // payload's built-in command line comes first).
    let cfg = VmConfig {
        kernel: Some(payload),
        initrd: None,
        append: "hopboot.timeout=1".into(),
        ..lab.vm_config(&[MAC0], &[], "")
    };
    let mut vm = hopboot_qemu::vm::Vm::spawn(&cfg).unwrap();
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=payload"), "{cmdline}");
}

/// A local disk with one GRUB entry (the local default).
fn local_disk(lab: &Lab) -> PathBuf {
    let disk = lab.path("local.img");
    custom_disk(
        &disk,
        "0b3c0c2e-8f6e-4c3a-9d2b-6a1f5e4d3c2b",
        &[
            ("/boot/vmlinuz", KERNEL),
            ("/boot/initrd.img", TARGET_INITRD),
            (
                "/boot/grub/grub.cfg",
                "set timeout=1\nmenuentry 'local' {\n linux /boot/vmlinuz console=ttyS0 marker=local\n initrd /boot/initrd.img\n}\n",
            ),
        ],
    )
    .unwrap();
    disk
}

/// DHCP answers with no boot file, on one of two cards (the other has no
/// server at all): the local entry boots, and the log says why the network
/// gave nothing on each card. `hopboot.net=on` makes the first menu wait for
/// both cards (up to the 15 s deadline), so both reasons are known before
/// the countdown, whatever the host's load.
#[test]
fn no_boot_file_and_a_dead_second_nic_leave_the_local_entry() {
    need_root!("no-boot-file");
    let mut lab = Lab::new("nofile");
    let disk = local_disk(&lab);
    lab.dnsmasq(&[]);
    let mut vm = lab.boot(
        &[MAC0, MAC1],
        &[disk],
        "hopboot.timeout=1 hopboot.net=on hopboot.net_timeout=15",
    );
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=local"), "{cmdline}");
    let t = vm.transcript();
    assert!(
        t.contains("eth0: DHCP gave an address") && t.contains("no boot file"),
        "{t}"
    );
    assert!(t.contains("DHCP on eth1: no offer"), "{t}");
}

/// No server at all, and a long network deadline: the local entry boots
/// without waiting for it (the kexec comes before DHCP gives up).
#[test]
fn no_server_does_not_delay_the_local_entry() {
    need_root!("no-server");
    let lab = Lab::new("noserver");
    let disk = local_disk(&lab);
    let mut vm = lab.boot(&[MAC0], &[disk], "hopboot.timeout=1 hopboot.net_timeout=600");
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=local"), "{cmdline}");
    let t = vm.transcript();
    assert!(t.contains("network: trying eth0"), "{t}");
    assert!(!t.contains("no offer"), "hopboot waited for DHCP:\n{t}");
}

/// The default entry's initrd is a 404, the next entry's kernel is cut
/// short by its server: each fails with the server's reason, and the
/// third boots.
#[test]
fn failed_downloads_say_why_and_the_next_entry_boots() {
    need_root!("failures");
    let mut lab = Lab::new("fail");
    lab.file("tftp/pxelinux.0", "x");
    lab.file("www/vmlinuz", KERNEL);
    lab.file("www/initrd.img", TARGET_INITRD);
    lab.file(
        "tftp/pxelinux.cfg/default",
        &format!(
            "DEFAULT missing\n\
             LABEL missing\n  KERNEL http://{HTTP}/vmlinuz\n  INITRD http://{HTTP}/no-such-initrd.img\n  APPEND console=ttyS0 marker=missing\n\
             LABEL short\n  KERNEL http://{SHORT}/vmlinuz\n  INITRD http://{HTTP}/initrd.img\n  APPEND console=ttyS0 marker=short\n\
             LABEL good\n  KERNEL http://{HTTP}/vmlinuz\n  INITRD http://{HTTP}/initrd.img\n  APPEND console=ttyS0 marker=good\n"
        ),
    );
    lab.nginx();
    lab.short_server();
    lab.dnsmasq(&["--dhcp-boot=pxelinux.0"]);
    let mut vm = lab.boot(&[MAC0], &[], "hopboot.timeout=1");
    let cmdline = booted(&mut vm);
    assert!(cmdline.contains("marker=good"), "{cmdline}");
    let t = vm.transcript();
    assert!(t.contains("no-such-initrd.img") && t.contains("404"), "{t}");
    assert!(t.contains("cut short after"), "{t}");
}

/// Median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `args` inside the lab's namespace and returns the wall time it took.
fn timed(lab: &Lab, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The first number after `key` in `line` (`t=5759ms` → 5759).
fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `make bench-net` (root): the network's figures for docs/bench.md.
/// - HTTP: hopboot's client (`hopboot fetch`, into memory) against curl
///   (into tmpfs, and `-o /dev/null`) on the same nginx in the same namespace, a 30 MiB
///   file (the size of the Debian install's initrd), interleaved, 9 runs
///   each, medians;
/// - TFTP from dnsmasq: blksize 1468 against 512, the same file;
/// - PID 1 in QEMU: link up → lease → entries listed, from hopboot's own
///   log, with dnsmasq as it comes (it pings an address before offering
///   it) and with `--no-ping`, 3 boots each.
#[test]
#[ignore]
fn bench_network() {
    need_root!("bench");
    const SIZE: usize = 30 << 20;
    const RUNS: usize = 9;
    let mut lab = Lab::new("bench");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(lab.path("www/initrd.img"), &data).unwrap();
    std::fs::write(lab.path("tftp/initrd.img"), &data).unwrap();
    lab.nginx();
    lab.dnsmasq(&[]);
    let hopboot = hopboot_qemu::paths::musl_bin("hopboot").unwrap();
    let hopboot = hopboot.to_str().unwrap();
    let url = format!("http://{HTTP}/initrd.img");
    let mib = SIZE as f64 / f64::from(1u32 << 20);
    // hopboot keeps the file in memory (a memfd, shmem) and frees it when it
    // exits: curl into tmpfs (/dev/shm, shmem too), then the file removed,
    // does the same work; into /dev/null it stores nothing. Each through
    // `sh -c`, so both pay the same process starts.
    let shm = format!("/dev/shm/hopboot-bench-{}", std::process::id());
    let ours_cmd = format!("{hopboot} fetch {url} 2>/dev/null");
    let curl_cmd = format!("curl -sS -o {shm} {url} && rm -f {shm}");
    let null_cmd = format!("curl -sS -o /dev/null {url}");
    let (mut ours, mut curl, mut curl_null) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(mib / timed(&lab, &["sh", "-c", &ours_cmd]).as_secs_f64());
        curl.push(mib / timed(&lab, &["sh", "-c", &curl_cmd]).as_secs_f64());
        curl_null.push(mib / timed(&lab, &["sh", "-c", &null_cmd]).as_secs_f64());
    }
    let (ours, curl, curl_null) = (median(&mut ours), median(&mut curl), median(&mut curl_null));
    let tftp_url = format!("tftp://{SERVER}/initrd.img");
    let (mut big, mut small) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        big.push(mib / timed(&lab, &[hopboot, "fetch", &tftp_url, "--blksize", "1468"]).as_secs_f64());
        small.push(mib / timed(&lab, &[hopboot, "fetch", &tftp_url, "--blksize", "512"]).as_secs_f64());
    }
    let (big, small) = (median(&mut big), median(&mut small));
    // PID 1: a PXELINUX config on the TFTP server, nothing booted (the menu waits).
    lab.file("tftp/pxelinux.0", "x");
    lab.file(
        "tftp/pxelinux.cfg/default",
        &format!("DEFAULT d\nLABEL d\n  {PXE_LABEL}  APPEND console=ttyS0\n"),
    );
    let mut rows = Vec::new();
    for (what, ping) in [("dnsmasq as it comes (ping check)", true), ("dnsmasq --no-ping", false)] {
        let (mut lease, mut total) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            lab.stop("dnsmasq");
            let _ = std::fs::remove_file(lab.path("leases"));
            let _ = std::fs::remove_file(lab.path("dnsmasq.log"));
            let mut args = vec!["--dhcp-boot=pxelinux.0"];
            if !ping {
                args.push("--no-ping");
            }
            lab.dnsmasq(&args);
            let mut vm = lab.boot(&[MAC0], &[], "hopboot.timeout=600");
            let e = vm
                .wait_for_line("stage=net_entries", BOOT_TIMEOUT)
                .unwrap_or_else(|e| panic!("{e:#}\n{}", vm.transcript()));
            let l = vm
                .lines()
                .into_iter()
                .find(|l| l.text.contains("lease from"))
                .expect("lease line");
            lease.push(number_after(&l.text, " in ").unwrap());
            let after = e.text.find("entries from").map_or("", |i| &e.text[i..]);
            total.push(number_after(after, " in ").unwrap());
            vm.kill();
        }
        rows.push(format!(
            "| PID 1, {what}: DHCP exchange / card set up → entries listed | {:.0} ms / {:.0} ms |",
            median(&mut lease),
            median(&mut total)
        ));
    }
    let out = format!(
        "| measure (medians) | value |\n|---|---|\n\
         | HTTP, 30 MiB from nginx into memory: hopboot / curl -o /dev/shm/… | {ours:.0} / {curl:.0} MiB/s = {:.2}× |\n\
         | HTTP, the same: hopboot / curl -o /dev/null (stores nothing) | {ours:.0} / {curl_null:.0} MiB/s = {:.2}× |\n\
         | TFTP, 30 MiB from dnsmasq: blksize 1468 / 512 | {big:.1} / {small:.1} MiB/s = {:.2}× |\n{}\n",
        ours / curl,
        ours / curl_null,
        big / small,
        rows.join("\n")
    );
    let dir = hopboot_qemu::paths::target_dir().unwrap().join("bench-net");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.md"), &out).unwrap();
    println!("{out}");
}
