//! `hopboot-payload`: builds the firmware payload (see [`hopboot_image_build::payload`]).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hopboot_image_build::payload::{build_payload, PayloadOptions, DEFAULT_BUDGET, DEFAULT_SOURCE};

const USAGE: &str = "\
Usage: hopboot-payload --initramfs CPIO --output FILE [OPTIONS]

Builds hopboot's firmware payload: one bzImage (also a UEFI application)
compiled from Debian's linux-source-6.1 with `make tinyconfig` plus the
fragment, drivers built in, and CPIO (an uncompressed initramfs holding
hopboot as /init) built in. The source and build trees are cached under
--work, keyed by the source tarball and the fragment. Writes FILE and
FILE.json (the size breakdown); fails, printing the breakdown, when the
payload is over its budget.

Options:
  --initramfs CPIO   uncompressed newc cpio to build in
  --output FILE      the payload to write
  --fragment FILE    kernel configuration fragment (default payload/kernel.config)
  --source TARBALL   kernel source (default /usr/src/linux-source-6.1.tar.xz)
  --work DIR         cache of source and build trees (default target/payload)
  --budget BYTES     size budget (default 3145728, 3 MiB)
  --jobs N           make -jN (default: the number of CPUs)
  -h, --help         print this help
";

fn main() {
    if let Err(e) = run() {
        eprintln!("hopboot-payload: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut opts = PayloadOptions {
        source: DEFAULT_SOURCE.into(),
        fragment: "payload/kernel.config".into(),
        initramfs: PathBuf::new(),
        work: "target/payload".into(),
        output: PathBuf::new(),
        budget: DEFAULT_BUDGET,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().with_context(|| format!("{key} needs a value")),
            }
        };
        match key.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--initramfs" => opts.initramfs = value()?.into(),
            "--output" => opts.output = value()?.into(),
            "--fragment" => opts.fragment = value()?.into(),
            "--source" => opts.source = value()?.into(),
            "--work" => opts.work = value()?.into(),
            "--budget" => opts.budget = value()?.parse().context("--budget takes a number of bytes")?,
            "--jobs" => opts.jobs = value()?.parse().context("--jobs takes a number")?,
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if opts.initramfs.as_os_str().is_empty() || opts.output.as_os_str().is_empty() {
        bail!("--initramfs and --output are required (see --help)");
    }
    let b = build_payload(&opts)?;
    print!("{}", b.table());
    println!(
        "payload: {} ({}; make took {:.0} s)",
        opts.output.display(),
        if b.cached {
            "cached kernel tree"
        } else {
            "kernel built from scratch"
        },
        b.make_seconds
    );
    Ok(())
}
