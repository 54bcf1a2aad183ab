//! What checking a signature costs before kexec (`make bench-trust`;
//! ignored in `cargo test`): the Debian kernel hopboot's tests boot (about
//! 8 MB) and a 30 MB initrd, as in the Debian 12 install the distro test
//! boots, hashed and matched against a signed manifest of 50 entries by
//! `Policy::check`, the function PID 1's gate runs. Prints the median and
//! the spread of 15 runs, and the reading speed of the same bytes from
//! memory (a copy) for scale; then what the TPM's four banks cost over the
//! same bytes, alone and after the check (whose SHA-256 digests they reuse).

use hopboot_loader::fs::dir::DirFs;
use hopboot_loader::kexec::{read_images, Boot, Images};
use hopboot_loader::model::{BootEntry, Format};
use hopboot_loader::tpm::{self, Alg};
use hopboot_loader::trust::manifest::{FileSum, Manifest, ManifestEntry};
use hopboot_loader::trust::policy::{Mode, Policy, Verdict};
use hopboot_loader::trust::sign::SigningKey;
use std::time::{Duration, Instant};

/// A copy of `b` without its initrd tail (the gate's output, empty here).
fn boot_of<'a>(b: &Boot<'a>) -> Boot<'a> {
    Boot {
        entry: b.entry,
        images: b.images,
        cmdline: b.cmdline,
        initrd_tail: Vec::new(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "a benchmark: make bench-trust"]
fn bench_signature_check() {
    let kernel = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/kernel"))
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_dir(e.path().join("boot")).ok())
                .flatten()
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
                })
        });
    let Some(kernel) = kernel else {
        eprintln!("skipped: no Debian kernel under target/kernel (make build, or any QEMU test, fetches it)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("boot")).unwrap();
    std::fs::copy(&kernel, d.path().join("boot/vmlinuz")).unwrap();
    // 30 MB that no compressor shrinks: an xorshift stream.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let initrd: Vec<u8> = (0..30_000_000 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(d.path().join("boot/initrd.img"), &initrd).unwrap();
    let entry = BootEntry {
        title: "Debian".into(),
        format: Format::Grub,
        kernel: "/boot/vmlinuz".into(),
        initrds: vec!["/boot/initrd.img".into()],
        cmdline: "root=UUID=0a1b2c3d ro quiet".into(),
        default: true,
        device: "vda2".into(),
        id: "debian".into(),
        volume: 0,
        boot_image: None,
    };
    let fs = DirFs::new(d.path());
    let images = read_images(&entry, &fs).unwrap();
    let cmdline = entry.boot_cmdline(None);
    // 49 other kernels' entries first: the match is the last of 50.
    let mut m = Manifest::default();
    for i in 0..49u8 {
        m.entries.push(ManifestEntry {
            title: format!("old {i}"),
            kernel: FileSum {
                sha256: [i; 32],
                path: format!("/boot/vmlinuz-{i}"),
            },
            initrds: vec![],
            cmdline: cmdline.clone(),
        });
    }
    m.entries.push(ManifestEntry::of(&entry, &images, &cmdline));
    let key = SigningKey::generate().unwrap();
    let text = m.render("bench");
    std::fs::write(d.path().join("hopboot.manifest"), &text).unwrap();
    std::fs::write(
        d.path().join("hopboot.manifest.minisig"),
        key.sign(text.as_bytes(), "bench").unwrap(),
    )
    .unwrap();
    let mut policy = Policy::default();
    policy.keys.add(&key.public_text(), "bench").unwrap();
    policy.mode = Mode::Enforce;
    let boot = Boot {
        entry: &entry,
        images: &images,
        cmdline: &cmdline,
        initrd_tail: Vec::new(),
    };
    let bytes = images.kernel.len() + images.initrd.len();
    // The images keep the digests they were asked for: each run gets fresh ones.
    let fresh = || Images::new(images.kernel.clone(), images.initrd.clone(), images.parts.clone());
    let mut checks = Vec::new();
    let mut copies = Vec::new();
    // The TPM's four banks (SHA-1/256/384/512) over the same measurements: on their
    // own, and after the check (the SHA-256 bank takes its digests).
    let banks = [Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512];
    let (mut tpm_alone, mut tpm_after) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let images = fresh();
        let boot = Boot {
            images: &images,
            ..boot_of(&boot)
        };
        let t = Instant::now();
        let v = policy.check(&boot, &fs);
        checks.push(t.elapsed());
        assert!(matches!(v, Verdict::Signed { .. }), "{v:?}");
        let t = Instant::now();
        let after = std::hint::black_box(tpm::events(&tpm::boot_measurements(&boot), &banks));
        tpm_after.push(t.elapsed());
        let images = fresh();
        let cold = Boot {
            images: &images,
            ..boot_of(&boot)
        };
        let t = Instant::now();
        let alone = std::hint::black_box(tpm::events(&tpm::boot_measurements(&cold), &banks));
        tpm_alone.push(t.elapsed());
        assert_eq!(after, alone);
        let t = Instant::now();
        let copy = std::hint::black_box([images.kernel.clone(), images.initrd.clone()]);
        copies.push(t.elapsed());
        drop(copy);
    }
    let ms = |v: &[Duration]| median(v.to_vec()).as_secs_f64() * 1e3;
    println!(
        "TPM hashing, four banks: median {:.1} ms alone, {:.1} ms after the signature check (its SHA-256 digests reused); the check {:.1} ms",
        ms(&tpm_alone),
        ms(&tpm_after),
        ms(&checks)
    );
    let (lo, hi) = (checks.iter().min().unwrap(), checks.iter().max().unwrap());
    let c = median(checks.clone());
    println!(
        "signature check of {:.1} MB (kernel {} + initrd {} bytes), manifest of 50 entries: median {:.1} ms (min {:.1}, max {:.1}), {:.0} MB/s; a memory copy of the same bytes: median {:.1} ms",
        bytes as f64 / 1e6,
        images.kernel.len(),
        images.initrd.len(),
        c.as_secs_f64() * 1e3,
        lo.as_secs_f64() * 1e3,
        hi.as_secs_f64() * 1e3,
        bytes as f64 / 1e6 / c.as_secs_f64(),
        median(copies).as_secs_f64() * 1e3
    );
}
