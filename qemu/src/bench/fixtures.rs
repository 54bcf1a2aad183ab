//! Test data shared by the bench modules' tests: recorded serial transcripts and hand-built
//! summaries.

use std::time::Duration;

use hopboot_image_build::Compression;
use hopboot_qemu::vm::Line;

use super::memory::{MemorySearch, Probe};
use super::menu::{MenuKind, MenuRun, MenuTimeline, PayloadBench, PayloadInfo};
use super::run::iso8601;
use super::summary::{ImageSize, Run, Sizes, Summary};
use super::timeline::{Kind, Timeline};
use super::DEFAULT_APPEND;
use crate::minimal;

/// A shortened real transcript (Debian 6.1 kernel, hopboot, demo GRUB disk), host times in
/// the first column as the harness records them.
pub(super) const TRANSCRIPT: &str = "\
6.564 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
6.565 [    0.000000] Command line: console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0
9.930 [    3.740000] Freeing unused kernel image (rodata/data gap) memory: 1300K
9.939 [    3.744975] Run /init as init process
10.052 [    3.857810] hopboot: hopboot 0.1.0 started as PID 1 (stage=start t=46ms)
10.206 [    4.012193] hopboot: loaded 6 modules (0 already present, 0 failed) (stage=modules t=202ms)
10.210 [    4.015000] hopboot: block devices: none (stage=devices t=206ms)
10.219 [    4.024957] hopboot: block devices: /dev/vda (stage=devices t=215ms)
10.313 [    4.118811] hopboot: found 2 entries on 1 filesystems (stage=entries t=309ms)
10.315 [    4.120354] hopboot: booting 'Debian GNU/Linux' from vda1: /boot/vmlinuz-6.1.0-56-amd64 BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default (stage=chosen t=311ms)
12.564 [    6.370513] hopboot: kernel loaded (stage=kexec_loaded t=2561ms)
12.570 [    6.380000] kexec_core: Starting new kernel
19.727 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
19.728 [    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default
23.026 [    3.765115] Run /init as init process
23.159 HOPBOOT-TARGET-MARKER cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default
";

pub(super) fn lines(transcript: &str) -> Vec<Line> {
    transcript
        .lines()
        .map(|l| {
            let (t, text) = l.split_once(' ').unwrap();
            Line {
                t: Duration::from_secs_f64(t.parse().unwrap()),
                text: text.to_owned(),
            }
        })
        .collect()
}

/// The lines of a serial log as the harness writes it (`[   12.345] text`).
pub(super) fn log_lines(log: &str) -> Vec<Line> {
    log.lines()
        .map(|l| {
            let (t, text) = l.strip_prefix('[').unwrap().split_once("] ").unwrap();
            Line {
                t: Duration::from_secs_f64(t.trim().parse().unwrap()),
                text: text.to_owned(),
            }
        })
        .collect()
}

pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

pub(super) fn summary() -> Summary {
    let base = lines(TRANSCRIPT);
    let mut runs = Vec::new();
    for (i, shift) in [0.0, 1.0, 0.5].into_iter().enumerate() {
        let shifted: Vec<Line> = base
            .iter()
            .map(|l| Line {
                t: l.t + Duration::from_secs_f64(shift),
                text: l.text.clone(),
            })
            .collect();
        runs.push(Run {
            index: i as u32 + 1,
            kind: Kind::Bootloader,
            memory_mib: 512,
            error: None,
            timeline: Timeline::from_lines(&shifted),
        });
    }
    let direct = "1.0 [ 0.0] Linux version\n4.0 [ 3.0] Run /init as init process\n4.2 HOPBOOT-TARGET-MARKER x\n";
    runs.push(Run {
        index: 1,
        kind: Kind::Direct,
        memory_mib: 512,
        error: None,
        timeline: Timeline::from_lines(&lines(direct)),
    });
    runs.push(Run {
        index: 4,
        kind: Kind::Bootloader,
        memory_mib: 512,
        error: Some("no marker after 300s".into()),
        timeline: Timeline::from_lines(&base[..3]),
    });
    Summary {
        label: "hop\"boot".into(),
        date: iso8601(Duration::from_secs(1_700_000_000)),
        accel: "tcg".into(),
        cpus: 2,
        memory_mib: 512,
        append: DEFAULT_APPEND.into(),
        standard_build: true,
        runs,
        sizes: Some(Sizes {
            binary_bytes: 778_864,
            images: vec![ImageSize {
                compression: Compression::Gzip,
                with_modules: 462_674,
                without_modules: 350_000,
            }],
        }),
        memory: Some(MemorySearch {
            min_ok_mib: Some(136),
            max_fail_mib: 128,
            probes: vec![Probe {
                mib: 128,
                ok: false,
                reason: Some("Kernel panic".into()),
            }],
        }),
        minimal: None,
        enter: vec![Ok(0.012), Ok(0.018), Ok(0.015), Err("timed out".into())],
        memory_direct: None,
        payload: None,
    }
}

/// The minimal C reference on the same disk (shortened real transcript).
pub(super) const MINIMAL_TRANSCRIPT: &str = "\
6.300 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
9.000 [    3.221337] Run /init as init process
9.100 [    3.319525] minimal-kexec: started as PID 1 (stage=start t=5ms)
9.600 [    3.847309] minimal-kexec: loaded 11 modules (stage=modules t=535ms)
9.601 [    3.847838] minimal-kexec: /dev/vda1 is there (stage=disk t=535ms)
9.640 [    3.882150] EXT4-fs (vda1): mounted filesystem without journal. Quota mode: none.
9.650 [    3.891685] minimal-kexec: booting /boot/vmlinuz-6.1.0-56-amd64 initrd /boot/initrd.img-6.1.0-56-amd64: BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 ro
9.651 [    3.892654] minimal-kexec: entry read (stage=entry t=580ms)
11.500 [    5.770547] minimal-kexec: kernel loaded (stage=kexec_loaded t=2458ms)
11.520 [    5.790466] kexec_core: Starting new kernel
22.870 [    2.755179] Run /init as init process
23.043 HOPBOOT-TARGET-MARKER cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 ro
";

pub(super) fn add_minimal_runs(s: &mut Summary) {
    // Rounds 1 and 2 of the minimal tool; round 2 is 0.5 s slower in its window.
    for (index, shift) in [(1, 0.0), (2, 0.5)] {
        let mut l = lines(MINIMAL_TRANSCRIPT);
        for line in &mut l[9..] {
            line.t += Duration::from_secs_f64(shift);
        }
        s.runs.push(Run {
            index,
            kind: Kind::Minimal,
            memory_mib: 512,
            error: None,
            timeline: Timeline::from_lines_of(&l, Kind::Minimal),
        });
    }
    s.minimal = Some(minimal::Image {
        initramfs: "minimal-initramfs.cpio.gz".into(),
        initramfs_bytes: 976_068,
        binary_bytes: 686_984,
        modules: vec!["virtio".into(), "ext4".into()],
    });
}

/// A small hand-built result with every part of `summary.json` present: two hopboot rounds
/// (one more that failed), the minimal reference, a direct boot, sizes, the memory search
/// and Enter runs.
pub(super) fn small_summary() -> Summary {
    const BOOT: &str = "\
1.0 [    0.000000] Linux version 6.1.0
4.0 [    3.000000] Run /init as init process
4.1 [    3.100000] hopboot: started (stage=start t=40ms)
4.5 [    3.500000] hopboot: booting 'x' (stage=chosen t=440ms)
5.25 [    4.250000] hopboot: kernel loaded (stage=kexec_loaded t=1190ms)
5.5 [    4.500000] kexec_core: Starting new kernel
12.0 [    3.000000] Run /init as init process
12.5 HOPBOOT-TARGET-MARKER cmdline=x
";
    const MINIMAL: &str = "\
1.0 [    0.000000] Linux version 6.1.0
4.0 [    3.000000] Run /init as init process
4.2 [    3.200000] minimal-kexec: started as PID 1 (stage=start t=5ms)
4.8 [    3.800000] minimal-kexec: entry read (stage=entry t=605ms)
7.0 [    6.000000] minimal-kexec: kernel loaded (stage=kexec_loaded t=2805ms)
7.125 [    6.125000] kexec_core: Starting new kernel
14.0 HOPBOOT-TARGET-MARKER cmdline=x
";
    const DIRECT: &str =
        "1.0 [    0.000000] Linux version\n4.0 [    3.000000] Run /init as init process\n6.0 HOPBOOT-TARGET-MARKER x\n";
    let shifted = |text: &str, shift: f64| -> Vec<Line> {
        lines(text)
            .into_iter()
            .map(|l| Line {
                t: l.t + Duration::from_secs_f64(shift),
                text: l.text,
            })
            .collect()
    };
    let run = |index, kind, error: Option<&str>, lines: Vec<Line>| Run {
        index,
        kind,
        memory_mib: 512,
        error: error.map(str::to_owned),
        timeline: Timeline::from_lines_of(&lines, kind),
    };
    let runs = vec![
        run(1, Kind::Bootloader, None, shifted(BOOT, 0.0)),
        run(1, Kind::Minimal, None, shifted(MINIMAL, 0.0)),
        run(1, Kind::Direct, None, shifted(DIRECT, 0.0)),
        run(2, Kind::Bootloader, None, shifted(BOOT, 0.5)),
        run(2, Kind::Minimal, None, shifted(MINIMAL, 0.25)),
        run(
            3,
            Kind::Bootloader,
            Some("at 2.0s: Kernel panic - not syncing: \u{1b}[0m\"x\"\\y"),
            shifted(BOOT, 0.0)[..2].to_vec(),
        ),
    ];
    Summary {
        label: "hop\"boot \u{e9}\u{1}".into(),
        date: iso8601(Duration::from_secs(1_700_000_000)),
        accel: "tcg".into(),
        cpus: 2,
        memory_mib: 512,
        append: DEFAULT_APPEND.into(),
        standard_build: true,
        runs,
        sizes: Some(Sizes {
            binary_bytes: 1_127_168,
            images: vec![
                ImageSize {
                    compression: Compression::Gzip,
                    with_modules: 627_747,
                    without_modules: 554_570,
                },
                ImageSize {
                    compression: Compression::Xz,
                    with_modules: 505_920,
                    without_modules: 455_848,
                },
            ],
        }),
        memory: Some(MemorySearch {
            min_ok_mib: Some(96),
            max_fail_mib: 88,
            probes: vec![
                Probe {
                    mib: 280,
                    ok: true,
                    reason: None,
                },
                Probe {
                    mib: 88,
                    ok: false,
                    reason: Some("Kernel panic".into()),
                },
            ],
        }),
        minimal: Some(minimal::Image {
            initramfs: "minimal-initramfs.cpio.gz".into(),
            initramfs_bytes: 976_068,
            binary_bytes: 686_984,
            modules: vec!["virtio".into(), "ext4".into()],
        }),
        enter: vec![Ok(0.024), Err("timed out".into()), Ok(0.0215)],
        memory_direct: Some(MemorySearch {
            min_ok_mib: Some(88),
            max_fail_mib: 80,
            probes: vec![Probe {
                mib: 80,
                ok: false,
                reason: Some("Kernel panic".into()),
            }],
        }),
        payload: Some(small_payload()),
    }
}

/// Two rounds of menu runs: the payload and Debian's kernel, one Debian run failed.
fn small_payload() -> PayloadBench {
    const PAYLOAD: &str = "\
0.25 early console in setup code
0.3 early console in extract_kernel
0.3125 
0.4375 Decompressing Linux... Parsing ELF... done.
0.4375 Booting the kernel (entry_offset: 0x0000000000000000).
0.5 [    0.000000] Linux version 6.1.192
0.5 [    0.000000] printk: bootconsole [earlyser0] enabled
2.0 [    1.500000] Run /init as init process
2.5 [    2.000000] hopboot: menu shown (stage=menu t=250ms)
";
    const DEBIAN: &str = "\
0.5 early console in setup code
8.5 [    0.000000] Linux version 6.1.0
8.5 [    0.000000] printk: bootconsole [earlyser0] enabled
12.5 [    4.000000] Run /init as init process
13.0 [    4.500000] hopboot: menu shown (stage=menu t=500ms)
";
    let run = |index, kind, text: &str, error: Option<&str>| MenuRun {
        index,
        kind,
        error: error.map(str::to_owned),
        timeline: MenuTimeline::from_lines(&lines(text)),
    };
    PayloadBench {
        file: "target/payload/hopboot-payload.bzImage".into(),
        info: PayloadInfo {
            payload_bytes: 2_500_000,
            kernel_share_bytes: Some(2_000_000),
            initramfs_share_bytes: Some(500_000),
            initramfs_bytes: Some(1_100_000),
            compression: Some("xz".into()),
            budget_bytes: Some(3_145_728),
        },
        append: "hopboot.wait=20 x".into(),
        debian_append: "console=ttyS0 x".into(),
        runs: vec![
            run(1, MenuKind::Payload, PAYLOAD, None),
            run(1, MenuKind::Debian, DEBIAN, None),
            run(2, MenuKind::Payload, PAYLOAD, None),
            run(2, MenuKind::Debian, &DEBIAN[..40], Some("no menu after 300s")),
        ],
    }
}
