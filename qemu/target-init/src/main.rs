//! `/init` of the "target" initramfs that hopboot's QEMU tests kexec into.
//!
//! As PID 1 it mounts proc, reads `/proc/cmdline`, writes exactly one line
//!
//! ```text
//! HOPBOOT-TARGET-MARKER cmdline=<contents of /proc/cmdline>
//! ```
//!
//! to the console, syncs and powers the machine off. The test harness waits for
//! that line on the serial console and for QEMU to exit (`-no-reboot`).
//!
//! It never returns as PID 1: if the power-off fails it sleeps forever, because
//! PID 1 exiting panics the kernel. Run as any other PID (by mistake on a host,
//! say) it only prints the line and exits: it must never power off a developer's
//! machine.
#![forbid(unsafe_code)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};

/// Prefix of the line the QEMU tests look for.
const MARKER: &str = "HOPBOOT-TARGET-MARKER";

fn main() {
    let pid1 = std::process::id() == 1;
    if pid1 {
        // proc may already be mounted (or mounting may fail): read it anyway.
        if let Err(errno) = mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        ) {
            eprintln!("hopboot-target-init: mount proc on /proc: {errno}");
        }
    }

    if pid1 {
        // Kernel messages go to the same serial port from interrupt context and can
        // land in the middle of our line (a late "tsc: Refined TSC clocksource
        // calibration" did, in CI). Console log level 1 keeps everything but
        // KERN_EMERG off the console from here on; /dev/kmsg still has it all.
        if let Err(e) = fs::write("/proc/sys/kernel/printk", "1") {
            eprintln!("hopboot-target-init: quieting the console: {e}");
        }
    }

    let cmdline = match fs::read("/proc/cmdline") {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_owned(),
        Err(e) => format!("<error reading /proc/cmdline: {e}>"),
    };
    // One write() so the line reaches the console in one piece.
    let line = format!("{MARKER} cmdline={cmdline}\n");
    let written = if pid1 {
        OpenOptions::new()
            .write(true)
            .open("/dev/console")
            .and_then(|mut console| console.write_all(line.as_bytes()))
    } else {
        Err(std::io::ErrorKind::Unsupported.into())
    };
    if written.is_err() {
        let _ = std::io::stdout().write_all(line.as_bytes());
        let _ = std::io::stdout().flush();
    }

    if !pid1 {
        return;
    }
    nix::unistd::sync();
    let Err(errno) = reboot(RebootMode::RB_POWER_OFF);
    eprintln!("hopboot-target-init: reboot(RB_POWER_OFF): {errno}; sleeping forever");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
