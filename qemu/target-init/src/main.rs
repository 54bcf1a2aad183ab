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
//! With `hopboot.target.screen` on its command line it first fills the top of the
//! screen (`/dev/tty0`: the framebuffer or VGA text console) with solid blocks and
//! the marker, writes `HOPBOOT-TARGET-SCREEN drawn` to the console and waits up to
//! 60 s for a byte on the console before powering off, so that the harness can take
//! a screendump: the screen tests check that the display still works after kexec.
//!
//! With `hopboot.target.tpm` it first mounts sysfs and writes
//!
//! ```text
//! HOPBOOT-TARGET-TPM pcr8=<hex> pcr9=<hex>
//! HOPBOOT-TARGET-TPMLOG <hex of /.extra/hopboot/tpm2-measure.log>
//! ```
//!
//! the SHA-256 PCRs 8 and 9 from `/sys/class/tpm/tpm0/pcr-sha256/` (`none` when
//! missing) and the event log hopboot added to the initramfs (`none` when
//! missing), for the TPM tests to recompute.
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
/// Written to the console once the screen pattern is drawn.
const SCREEN_DRAWN: &str = "HOPBOOT-TARGET-SCREEN drawn";
/// Rows and columns of solid blocks drawn at the top left of the screen.
const BLOCK_ROWS: usize = 12;
const BLOCK_COLUMNS: usize = 60;

/// Prefix of the TPM lines (`hopboot.target.tpm`).
const TPM: &str = "HOPBOOT-TARGET-TPM";

/// The TPM lines: PCRs 8 and 9 (SHA-256) and hopboot's event log, in hex.
fn tpm_lines() -> String {
    if let Err(errno) = mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>) {
        eprintln!("hopboot-target-init: mount sysfs on /sys: {errno}");
    }
    let pcr = |n: u32| {
        fs::read_to_string(format!("/sys/class/tpm/tpm0/pcr-sha256/{n}"))
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|_| "none".into())
    };
    let log = match fs::read("/.extra/hopboot/tpm2-measure.log") {
        Ok(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
        Err(_) => "none".to_string(),
    };
    format!("{TPM} pcr8={} pcr9={}\n{TPM}LOG {log}\n", pcr(8), pcr(9))
}

/// Draws the screen pattern on the virtual terminal, then waits (at most 60 s)
/// for the harness to send a byte on the console.
fn draw_screen(marker: &str) {
    let mut text = String::from("\x1b[2J\x1b[H\x1b[?25l");
    for _ in 0..BLOCK_ROWS {
        text.push_str(&"\u{2588}".repeat(BLOCK_COLUMNS));
        text.push_str("\r\n");
    }
    text.push_str(marker);
    match OpenOptions::new().read(true).write(true).open("/dev/tty0") {
        Ok(mut tty) => {
            if let Err(e) = tty.write_all(text.as_bytes()) {
                eprintln!("hopboot-target-init: writing to /dev/tty0: {e}");
            }
        }
        Err(e) => eprintln!("hopboot-target-init: opening /dev/tty0: {e}"),
    }
    let Ok(mut console) = OpenOptions::new().read(true).write(true).open("/dev/console") else {
        return;
    };
    let _ = console.write_all(format!("{SCREEN_DRAWN}\n").as_bytes());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let _ = std::io::Read::read(&mut console, &mut byte);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(60));
}

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
    let mut line = format!("{MARKER} cmdline={cmdline}\n");
    if pid1 && cmdline.split_whitespace().any(|w| w == "hopboot.target.tpm") {
        line = format!("{}{line}", tpm_lines());
    }
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
    if cmdline.split_whitespace().any(|w| w == "hopboot.target.screen") {
        draw_screen(&line);
    }
    nix::unistd::sync();
    let Err(errno) = reboot(RebootMode::RB_POWER_OFF);
    eprintln!("hopboot-target-init: reboot(RB_POWER_OFF): {errno}; sleeping forever");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
