//! A `log` backend for PID 1: one write() per record to /dev/kmsg, so lines
//! carry kernel timestamps and reach every console the kernel drives. When
//! the console loglevel hides our lines (`quiet`), they are also written to
//! /dev/console directly so the user still sees them.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// kmsg records longer than this are split (the kernel caps one record at
/// about 1 KiB including its prefix).
const MAX_RECORD: usize = 900;

struct Kmsg {
    kmsg: Option<File>,
    console: Option<File>,
    /// Highest syslog priority number the console still shows (exclusive).
    console_level: AtomicU8,
    max: log::LevelFilter,
}

fn prio(l: log::Level) -> u8 {
    match l {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether a record is shown: hopboot's own at `max`, other crates' (goblin
/// dumps every PE section header at debug) only from info up.
fn wanted(m: &log::Metadata<'_>, max: log::LevelFilter) -> bool {
    let ours = m.target().starts_with("hopboot");
    m.level() <= if ours { max } else { max.min(log::LevelFilter::Info) }
}

impl log::Log for Kmsg {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        wanted(m, self.max)
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let p = prio(r.level());
        let text = r.args().to_string();
        let shown = p < self.console_level.load(Ordering::Relaxed);
        for line in text.lines() {
            let mut rest = line;
            loop {
                let cut = if rest.len() <= MAX_RECORD {
                    rest.len()
                } else {
                    (0..=MAX_RECORD).rev().find(|i| rest.is_char_boundary(*i)).unwrap_or(0)
                };
                let (chunk, tail) = rest.split_at(cut);
                let mut wrote = false;
                if let Some(mut k) = self.kmsg.as_ref() {
                    wrote = k.write_all(format!("<{p}>hopboot: {chunk}\n").as_bytes()).is_ok();
                }
                if !(wrote && shown) {
                    if let Some(mut c) = self.console.as_ref() {
                        let _ = c.write_all(format!("hopboot: {chunk}\r\n").as_bytes());
                    }
                }
                if tail.is_empty() {
                    break;
                }
                rest = tail;
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the logger. Also turns off kmsg rate limiting so a burst of
/// hopboot lines is not cut to "callbacks suppressed".
pub fn init(debug: bool) {
    let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
    let console_level = std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u8>().ok()))
        .unwrap_or(7);
    let logger = Kmsg {
        kmsg: std::fs::OpenOptions::new().write(true).open("/dev/kmsg").ok(),
        console: std::fs::OpenOptions::new().write(true).open("/dev/console").ok(),
        console_level: AtomicU8::new(console_level),
        max: if debug {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        },
    };
    let max = logger.max;
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
}

/// A logger for the command-line tool: plain lines on stderr.
pub fn init_stderr(verbose: bool) {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            wanted(m, self.0)
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("hopboot: {}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let max = if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    };
    if log::set_boxed_logger(Box::new(Stderr(max))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;
    use log::{Level, LevelFilter, Metadata};

    #[test]
    fn debug_is_hopboots_own() {
        let m = |target, level| Metadata::builder().target(target).level(level).build();
        assert!(wanted(&m("hopboot_loader::kexec", Level::Debug), LevelFilter::Debug));
        assert!(wanted(&m("hopboot::pid1", Level::Debug), LevelFilter::Debug));
        assert!(!wanted(
            &m("goblin::pe::section_table", Level::Debug),
            LevelFilter::Debug
        ));
        assert!(wanted(&m("goblin::pe", Level::Warn), LevelFilter::Debug));
        assert!(!wanted(&m("hopboot::pid1", Level::Debug), LevelFilter::Info));
    }
}
