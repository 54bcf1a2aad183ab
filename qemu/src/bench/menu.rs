//! Menu runs (`--payload`): QEMU start → hopboot's "menu shown" line, for the firmware
//! payload (one bzImage with hopboot built in, `make payload`) and for Debian's kernel with
//! hopboot's initramfs, interleaved, each split into phases.
//!
//! Both kinds boot with [`EARLY_ARGS`] and a menu countdown. `earlyprintk=serial` makes the
//! x86 setup code (the real-mode part of every bzImage, which SeaBIOS starts) open COM1, and
//! `debug` makes it print `early console in setup code` there: the firmware has handed over.
//! The kernel's own early console then prints `Linux version …` as soon as `setup_arch` parses
//! the command line, a moment after the decompressed kernel starts. `loglevel=7` undoes what
//! `debug` does to the kernel's console (level 10) and keeps "Run /init" (KERN_INFO) on it.
//!
//! The phases:
//!
//! ```text
//! firmware      QEMU start → "early console in setup code" (SeaBIOS, fw_cfg loading)
//! decompression → "Booting the kernel" (printed by decompressors built with
//!                 X86_VERBOSE_BOOTUP, as the payload's is), else → "Linux version" (setup
//!                 code, decompression and the kernel's first steps until its early console)
//! kernel init   → "Run /init as init process"
//! hopboot       → "menu shown (stage=menu …)"
//! ```
//!
//! Debian's kernel is built without X86_VERBOSE_BOOTUP, so its decompressor prints nothing
//! ("Decompressing Linux... " and "Booting the kernel" are `debug_putstr`s); the payload's
//! prints both, and the `extract_kernel` and `decompressing` milestones besides. A kernel
//! without CONFIG_EARLY_PRINTK prints "Linux version" only when its real console starts, so
//! its decompression phase then also holds most of its early init:
//! [`MenuTimeline::early_console`] says which.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hopboot_qemu::vm::{self, Line, Vm, VmConfig};
use serde::{Deserialize, Serialize};

use super::stats::Stats;
use super::timeline::{kernel_timestamp, Milestone};

/// Added to both kinds' command lines in menu runs (see the module documentation).
pub const EARLY_ARGS: &str = "earlyprintk=serial,ttyS0,115200 debug loglevel=7";
/// hopboot's line when its menu is drawn (init/src/pid1.rs).
pub const MENU_SHOWN: &str = "menu shown (stage=menu";
/// The x86 setup code's line with `debug` and an early serial console (arch/x86/boot/main.c).
const SETUP_CODE: &str = "early console in setup code";
/// The decompressor's lines with X86_VERBOSE_BOOTUP (arch/x86/boot/compressed/misc.c): its
/// start, then "Decompressing Linux... Parsing ELF... done." (complete only once decompressed)
/// and "Booting the kernel (entry_offset: 0x…)." at its end.
const EXTRACT_KERNEL: &str = "early console in extract_kernel";
const DECOMPRESSING: &str = "Decompressing Linux";
const BOOTING: &str = "Booting the kernel";
/// The kernel's first printk (init/main.c), after its timestamp.
const LINUX_VERSION: &str = "Linux version ";
/// The kernel's early console announcing itself ("printk: bootconsole [earlyser0] enabled").
const EARLY_CONSOLE: &str = "bootconsole [earlyser0]";
/// Lines after which the menu cannot come.
const FATAL: [&str; 2] = ["Kernel panic - not syncing", "hopboot: no entry could be booted"];

/// The payload's goal (issue 17): menu within 3 s under TCG…
pub const GOAL_MENU_S: f64 = 3.0;
/// …and within 0.3× the time through Debian's kernel.
pub const GOAL_RATIO: f64 = 0.3;

/// What a menu run boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    /// The firmware payload: `-kernel payload`, no `-initrd`.
    Payload,
    /// Debian's kernel with hopboot's initramfs (what the timed runs boot).
    Debian,
}

impl MenuKind {
    /// `payload` or `debian`.
    pub fn name(self) -> &'static str {
        match self {
            MenuKind::Payload => "payload",
            MenuKind::Debian => "debian",
        }
    }
}

impl Serialize for MenuKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The four phases, in order.
pub const PHASES: [&str; 4] = ["firmware", "decompression", "kernel_init", "hopboot"];

/// The line that ends each of [`PHASES`], with `decompression` the line that ended that phase
/// ([`MenuTimeline::markers`]).
pub fn phase_ends(decompression: &'static str) -> [&'static str; 4] {
    [SETUP_CODE, decompression, "Run /init as init process", "menu shown"]
}

/// The milestones of one menu run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MenuTimeline {
    /// `setup_code`, `extract_kernel`, `decompressing`, `booting_the_kernel`, `linux_version`,
    /// `run_init`, `menu_shown`, as found, in line order.
    pub milestones: Vec<Milestone>,
    /// The kernel's early console printed (`bootconsole [earlyser0]`): "Linux version" came
    /// from `setup_arch`, not from the real console's start.
    pub early_console: bool,
}

impl MenuTimeline {
    /// Finds the milestones in a recorded serial console.
    pub fn from_lines(lines: &[Line]) -> MenuTimeline {
        let texts: Vec<String> = lines.iter().map(|l| vm::strip_ansi(&l.text)).collect();
        let body = |t: &str| -> String {
            let t = t.trim();
            match t.strip_prefix('[').and_then(|r| r.split_once(']')) {
                Some((ts, rest)) if ts.trim().parse::<f64>().is_ok() => rest.trim_start().to_owned(),
                _ => t.to_owned(),
            }
        };
        let find = |from: usize, pred: &dyn Fn(&str) -> bool| {
            texts
                .get(from..)
                .and_then(|rest| rest.iter().position(|t| pred(&body(t))))
                .map(|i| i + from)
        };
        let mut found: Vec<(usize, &str)> = Vec::new();
        let setup = find(0, &|t| t.contains(SETUP_CODE));
        if let Some(i) = setup {
            found.push((i, "setup_code"));
        }
        let after_setup = setup.map_or(0, |i| i + 1);
        if let Some(i) = find(after_setup, &|t| t.contains(EXTRACT_KERNEL)) {
            found.push((i, "extract_kernel"));
        }
        if let Some(i) = find(after_setup, &|t| t.contains(DECOMPRESSING)) {
            // The decompressor prints "\nDecompressing Linux... " before it starts and "done.\n"
            // after: the line is complete only at the end, but its leading "\n" completed an
            // empty line at the start.
            let start = i.checked_sub(1).filter(|j| texts[*j].trim().is_empty());
            found.push((start.unwrap_or(i), "decompressing"));
        }
        if let Some(i) = find(after_setup, &|t| t.contains(BOOTING)) {
            found.push((i, "booting_the_kernel"));
        }
        let version = find(after_setup, &|t| t.starts_with(LINUX_VERSION));
        if let Some(i) = version {
            found.push((i, "linux_version"));
        }
        let init = find(version.unwrap_or(0), &|t| {
            t.starts_with("Run ") && t.ends_with(" as init process")
        });
        if let Some(i) = init {
            found.push((i, "run_init"));
        }
        // hopboot runs after "Run /init": a menu line before it is not this boot's.
        if let Some(i) = init.and_then(|init| find(init + 1, &|t| t.contains(MENU_SHOWN))) {
            found.push((i, "menu_shown"));
        }
        found.sort_by_key(|(i, _)| *i);
        let milestones = found
            .into_iter()
            .filter_map(|(i, name)| {
                let line = lines.get(i)?;
                Some(Milestone {
                    name: name.to_owned(),
                    t_s: line.t.as_secs_f64(),
                    kernel_s: kernel_timestamp(&texts[i]),
                    hopboot_ms: None,
                    line: i,
                })
            })
            .collect();
        MenuTimeline {
            milestones,
            early_console: texts.iter().any(|t| t.contains(EARLY_CONSOLE)),
        }
    }

    fn t(&self, name: &str) -> Option<f64> {
        self.milestones.iter().find(|m| m.name == name).map(|m| m.t_s)
    }

    /// Host seconds from QEMU's spawn to "menu shown".
    pub fn menu(&self) -> Option<f64> {
        self.t("menu_shown")
    }

    /// The milestone that ends each of [`PHASES`]: the decompressor's own line where it
    /// prints one, else the setup code's and the kernel's first line.
    fn ends(&self) -> [Option<f64>; 4] {
        [
            self.t("setup_code"),
            self.t("booting_the_kernel").or_else(|| self.t("linux_version")),
            self.t("run_init"),
            self.t("menu_shown"),
        ]
    }

    /// Seconds of each of [`PHASES`]; `None` where a milestone at either end is missing.
    pub fn phases(&self) -> [Option<f64>; 4] {
        let ends = self.ends();
        let mut out = [None; 4];
        let mut start = Some(0.0);
        for (i, end) in ends.into_iter().enumerate() {
            out[i] = start.zip(end).map(|(a, b): (f64, f64)| b - a);
            start = end;
        }
        out
    }

    /// Which lines ended the firmware and decompression phases.
    pub fn markers(&self) -> (&'static str, &'static str) {
        let decompression = if self.t("booting_the_kernel").is_some() {
            "Booting the kernel"
        } else {
            "Linux version"
        };
        (SETUP_CODE, decompression)
    }
}

/// One menu run.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuRun {
    /// Round, from 1; each round boots the payload, then Debian.
    pub index: u32,
    /// What was booted.
    pub kind: MenuKind,
    /// `None` when the menu was shown; else why not.
    pub error: Option<String>,
    /// The milestones.
    pub timeline: MenuTimeline,
}

impl MenuRun {
    /// The menu was shown.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.timeline.menu().is_some()
    }
}

/// `<payload>.json` as `make payload` writes it (`hopboot-payload` in image-build).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PayloadInfo {
    /// The whole bzImage.
    pub payload_bytes: u64,
    /// What the kernel takes: the payload less the initramfs share.
    pub kernel_share_bytes: Option<u64>,
    /// The built-in initramfs, compressed as the kernel compresses it.
    pub initramfs_share_bytes: Option<u64>,
    /// The initramfs before compression.
    pub initramfs_bytes: Option<u64>,
    /// The kernel's compression (`xz`, …).
    pub compression: Option<String>,
    /// `make payload`'s size budget.
    pub budget_bytes: Option<u64>,
}

impl PayloadInfo {
    /// Parses the breakdown `make payload` writes beside the bzImage.
    pub fn parse(text: &str) -> Result<PayloadInfo> {
        serde_json::from_str(text).context("parsing the payload's size breakdown")
    }

    /// The breakdown beside `payload` (`hopboot-payload.json` for `hopboot-payload.bzImage`),
    /// or only the file's size when there is none (`false`: no breakdown).
    pub fn read(payload: &Path) -> Result<(PayloadInfo, bool)> {
        let json = payload.with_extension("json");
        match std::fs::read_to_string(&json) {
            Ok(text) => {
                let info = PayloadInfo::parse(&text).with_context(|| format!("reading {}", json.display()))?;
                Ok((info, true))
            }
            Err(_) => {
                let bytes = std::fs::metadata(payload)
                    .with_context(|| format!("reading {}", payload.display()))?
                    .len();
                Ok((
                    PayloadInfo {
                        payload_bytes: bytes,
                        kernel_share_bytes: None,
                        initramfs_share_bytes: None,
                        initramfs_bytes: None,
                        compression: None,
                        budget_bytes: None,
                    },
                    false,
                ))
            }
        }
    }
}

/// The menu runs of one `bench` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadBench {
    /// The bzImage.
    pub file: PathBuf,
    /// Its sizes.
    pub info: PayloadInfo,
    /// The payload's command line (added to its built-in one).
    pub append: String,
    /// Debian's kernel's command line.
    pub debian_append: String,
    /// Both kinds, in the order they ran.
    pub runs: Vec<MenuRun>,
}

/// The payload's menu time over Debian's, per round and of the medians.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuRatio {
    /// `(round, ratio)` where both showed the menu.
    pub rounds: Vec<(u32, f64)>,
    /// Median of the per-round ratios.
    pub median_of_rounds: Option<f64>,
    /// Median payload / median Debian.
    pub of_medians: Option<f64>,
}

impl PayloadBench {
    /// The runs of `kind` that showed the menu.
    pub fn ok_runs(&self, kind: MenuKind) -> impl Iterator<Item = &MenuRun> {
        self.runs.iter().filter(move |r| r.kind == kind && r.ok())
    }

    /// QEMU start → menu shown over the successful runs of `kind`.
    pub fn menu(&self, kind: MenuKind) -> Option<Stats> {
        let v: Vec<f64> = self.ok_runs(kind).filter_map(|r| r.timeline.menu()).collect();
        Stats::of(&v)
    }

    /// Each of [`PHASES`] over the successful runs of `kind`.
    pub fn phases(&self, kind: MenuKind) -> Vec<(&'static str, Option<Stats>)> {
        PHASES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let v: Vec<f64> = self.ok_runs(kind).filter_map(|r| r.timeline.phases()[i]).collect();
                (*name, Stats::of(&v))
            })
            .collect()
    }

    /// The payload's menu time over Debian's; `None` until both have a successful run.
    pub fn ratio(&self) -> Option<MenuRatio> {
        let payload = self.menu(MenuKind::Payload)?;
        let debian = self.menu(MenuKind::Debian)?;
        let value = |kind, index| {
            self.ok_runs(kind)
                .find(|r| r.index == index)
                .and_then(|r| r.timeline.menu())
        };
        let rounds: Vec<(u32, f64)> = self
            .ok_runs(MenuKind::Payload)
            .filter_map(|r| {
                Some((
                    r.index,
                    value(MenuKind::Payload, r.index)? / value(MenuKind::Debian, r.index)?,
                ))
            })
            .collect();
        let ratios: Vec<f64> = rounds.iter().map(|(_, x)| *x).collect();
        Some(MenuRatio {
            median_of_rounds: Stats::of(&ratios).map(|s| s.median),
            of_medians: Some(payload.median / debian.median),
            rounds,
        })
    }

    /// Whether the successful runs of `kind` all had the kernel's early console.
    pub fn early_console(&self, kind: MenuKind) -> Option<bool> {
        let mut runs = self.ok_runs(kind).peekable();
        runs.peek()?;
        Some(runs.all(|r| r.timeline.early_console))
    }

    /// The lines that ended the firmware and decompression phases in the runs of `kind`.
    pub fn markers(&self, kind: MenuKind) -> Option<(&'static str, &'static str)> {
        self.ok_runs(kind).next().map(|r| r.timeline.markers())
    }
}

/// The command lines of the two kinds' menu runs from the timed runs' `append`: `append` with
/// [`EARLY_ARGS`] and a 60 s countdown for Debian; for the payload only the `hopboot.*` words
/// (its built-in command line has the console and `panic=-1`).
pub fn appends(append: &str) -> (String, String) {
    let countdown = |words: Vec<&str>| {
        let mut words: Vec<&str> = words
            .into_iter()
            .filter(|w| !w.starts_with("hopboot.timeout="))
            .collect();
        words.extend(EARLY_ARGS.split_whitespace());
        words.push("hopboot.timeout=60");
        words.join(" ")
    };
    let payload = countdown(
        append
            .split_whitespace()
            .filter(|w| w.starts_with("hopboot."))
            .collect(),
    );
    let debian = countdown(append.split_whitespace().collect());
    (payload, debian)
}

/// Boots `cfg` until hopboot's menu is shown, then kills QEMU. Fails on a fatal line, QEMU's
/// exit, `silence` without serial output or `timeout`.
pub fn boot_to_menu(cfg: &VmConfig, timeout: Duration, silence: Duration) -> Result<(Vec<Line>, Option<String>)> {
    let spawned = Instant::now();
    let mut vm = Vm::spawn(cfg)?;
    let deadline = spawned + timeout;
    let error = loop {
        if vm.wait_for_line(MENU_SHOWN, Duration::from_millis(250)).is_ok() {
            break None;
        }
        let lines = vm.lines();
        if let Some(fatal) = lines.iter().find(|l| FATAL.iter().any(|f| l.text.contains(f))) {
            break Some(format!("at {:.1}s: {}", fatal.t.as_secs_f64(), fatal.text.trim()));
        }
        if vm.wait_exit(Duration::ZERO).is_ok() {
            if vm.wait_for_line(MENU_SHOWN, Duration::from_secs(2)).is_ok() {
                break None;
            }
            break Some(format!("QEMU exited after {} serial lines", vm.lines().len()));
        }
        let last = lines.last().map_or(Duration::ZERO, |l| l.t);
        if spawned.elapsed().saturating_sub(last) >= silence {
            break Some(format!("no serial output for {:.0}s", silence.as_secs_f64()));
        }
        if Instant::now() >= deadline {
            break Some(format!("no menu after {:.0}s", timeout.as_secs_f64()));
        }
    };
    vm.kill();
    Ok((vm.lines(), error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fixtures::{close, lines, log_lines};

    /// A real serial log of the payload under SeaBIOS (`make payload`'s bzImage, TCG, the demo
    /// disk, the menu-run command line) as the harness writes it to `logs/`.
    const PAYLOAD_LOG: &str = include_str!("testdata/menu-payload.log");
    /// The same for Debian's kernel with hopboot's initramfs.
    const DEBIAN_LOG: &str = include_str!("testdata/menu-debian.log");

    fn names(t: &MenuTimeline) -> Vec<&str> {
        t.milestones.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn phases_of_a_real_payload_boot() {
        let t = MenuTimeline::from_lines(&log_lines(PAYLOAD_LOG));
        assert_eq!(
            names(&t),
            [
                "setup_code",
                "extract_kernel",
                "decompressing",
                "booting_the_kernel",
                "linux_version",
                "run_init",
                "menu_shown"
            ],
            "{t:?}"
        );
        assert!(t.early_console);
        let at = |name: &str| t.milestones.iter().find(|m| m.name == name).unwrap().t_s;
        // "\nDecompressing Linux... " starts with the empty line completed at 0.160; the line
        // itself is completed by "done." at 0.452.
        assert!(close(at("decompressing"), 0.160), "{t:?}");
        let [fw, dec, init, hop] = t.phases().map(Option::unwrap);
        assert!(close(fw, 0.152));
        assert!(close(dec, 0.453 - 0.152), "ends at Booting the kernel: {dec}");
        assert!(close(init, 2.039 - 0.453));
        assert!(close(hop, 2.218 - 2.039));
        assert!(close(t.menu().unwrap(), 2.218));
        assert_eq!(t.markers(), (SETUP_CODE, "Booting the kernel"));
    }

    #[test]
    fn phases_of_a_real_debian_boot() {
        let t = MenuTimeline::from_lines(&log_lines(DEBIAN_LOG));
        // Debian's decompressor prints nothing: decompression ends at the early console's
        // "Linux version".
        assert_eq!(
            names(&t),
            ["setup_code", "linux_version", "run_init", "menu_shown"],
            "{t:?}"
        );
        assert!(t.early_console);
        assert_eq!(t.markers().1, "Linux version");
        assert!(close(t.phases()[1].unwrap(), 8.607 - 0.490));
        // The kernel's clock: Run /init after its own start.
        let init = t.milestones.iter().find(|m| m.name == "run_init").unwrap();
        assert!(init.kernel_s.unwrap() > 1.0);
        let phases = t.phases();
        assert!(phases.iter().all(|p| p.is_some_and(|x| x > 0.0)), "{phases:?}");
    }

    #[test]
    fn decompressor_lines_are_preferred_and_missing_ones_leave_gaps() {
        // A decompressor built with X86_VERBOSE_BOOTUP: its own end-of-decompression line.
        let text = "\
0.5 early console in setup code
0.9 Decompressing Linux... Parsing ELF... done.
1.0 Booting the kernel (entry_offset: 0x0000000000000000).
1.2 [    0.000000] Linux version 6.1.192
3.0 [    1.500000] Run /init as init process
3.4 [    1.900000] hopboot: menu shown (stage=menu t=300ms)
";
        let t = MenuTimeline::from_lines(&lines(text));
        assert!(!t.early_console);
        let p = t.phases();
        assert!(close(p[0].unwrap(), 0.5) && close(p[1].unwrap(), 0.5));
        assert!(close(p[2].unwrap(), 2.0) && close(p[3].unwrap(), 0.4));
        assert_eq!(t.markers().1, "Booting the kernel");

        // Without `debug` the setup code is silent: no firmware or decompression phase, the
        // rest still measured; a boot that never showed the menu has no hopboot phase.
        let t = MenuTimeline::from_lines(&lines(
            "1.2 [ 0.0] Linux version 6.1\n3.0 [ 1.5] Run /init as init process\n3.1 hopboot: started\n",
        ));
        assert_eq!(t.phases()[..2], [None, None]);
        assert!(close(t.phases()[2].unwrap(), 1.8));
        assert_eq!(t.phases()[3], None);
        assert_eq!(t.menu(), None);
        // "menu shown" before "Run /init" (another kernel's log replayed) does not count.
        let t = MenuTimeline::from_lines(&lines("1.0 hopboot: menu shown (stage=menu t=1ms)\n"));
        assert_eq!(t.menu(), None);
    }

    #[test]
    fn menu_ratio_and_phase_stats() {
        let run = |index, kind, shift: f64| {
            let l: Vec<Line> = log_lines(if kind == MenuKind::Payload {
                PAYLOAD_LOG
            } else {
                DEBIAN_LOG
            })
            .into_iter()
            .map(|mut l| {
                l.t += Duration::from_secs_f64(shift);
                l
            })
            .collect();
            MenuRun {
                index,
                kind,
                error: None,
                timeline: MenuTimeline::from_lines(&l),
            }
        };
        let mut failed = run(3, MenuKind::Debian, 0.0);
        failed.error = Some("no menu".into());
        let b = PayloadBench {
            file: "p".into(),
            info: PayloadInfo::parse(
                r#"{"payload_bytes": 2500000, "kernel_share_bytes": 2000000, "initramfs_share_bytes": 500000,
                "initramfs_bytes": 1100000, "compression": "xz", "budget_bytes": 3145728, "key": "k"}"#,
            )
            .unwrap(),
            append: String::new(),
            debian_append: String::new(),
            runs: vec![
                run(1, MenuKind::Payload, 0.0),
                run(1, MenuKind::Debian, 0.0),
                run(2, MenuKind::Payload, 1.0),
                run(2, MenuKind::Debian, 0.0),
                run(3, MenuKind::Payload, 0.0),
                failed,
            ],
        };
        let p = b.menu(MenuKind::Payload).unwrap();
        let d = b.menu(MenuKind::Debian).unwrap();
        assert_eq!((p.n, d.n), (3, 2));
        let menu = |log| MenuTimeline::from_lines(&log_lines(log)).menu().unwrap();
        let (mp, md) = (menu(PAYLOAD_LOG), menu(DEBIAN_LOG));
        assert!(close(p.median, mp) && close(p.max, mp + 1.0));
        let r = b.ratio().unwrap();
        assert_eq!(r.rounds.len(), 2, "round 3 has no Debian menu");
        assert!(close(r.rounds[1].1, (mp + 1.0) / md));
        assert!(close(r.of_medians.unwrap(), mp / md));
        let phases = b.phases(MenuKind::Payload);
        assert_eq!(phases.iter().map(|(n, _)| *n).collect::<Vec<_>>(), PHASES);
        // The shift lands in the firmware phase only.
        assert!(close(phases[0].1.unwrap().max - phases[0].1.unwrap().min, 1.0));
        assert!(close(phases[3].1.unwrap().max, phases[3].1.unwrap().min));
        assert_eq!(b.early_console(MenuKind::Debian), Some(true));
        assert_eq!(b.info.compression.as_deref(), Some("xz"));
    }

    #[test]
    fn menu_run_command_lines() {
        let (payload, debian) = appends("console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0");
        assert_eq!(
            payload,
            "hopboot.wait=20 earlyprintk=serial,ttyS0,115200 debug loglevel=7 hopboot.timeout=60"
        );
        assert_eq!(
            debian,
            "console=ttyS0 panic=-1 hopboot.wait=20 earlyprintk=serial,ttyS0,115200 debug loglevel=7 hopboot.timeout=60"
        );
    }

    #[test]
    fn payload_breakdown_without_optional_fields() {
        let i = PayloadInfo::parse(r#"{"payload_bytes": 10}"#).unwrap();
        assert_eq!((i.payload_bytes, i.kernel_share_bytes), (10, None));
        assert!(PayloadInfo::parse("{}").is_err());
        assert!(PayloadInfo::parse("not json").is_err());
    }
}
