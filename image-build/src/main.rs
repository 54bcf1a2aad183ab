//! `hopboot-image-build`: command-line front end of [`hopboot_image_build::build`].

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use hopboot_image_build::{build_with_profile, modules::ModuleTree, Compression, Options, Profile};

const USAGE: &str = "\
Usage: hopboot-image-build --binary PATH --output FILE [OPTIONS]
       hopboot-image-build --modules-dir DIR [--profile P] [--module NAME] --list
       hopboot-image-build --hash-password [--iterations N] >FILE

Writes the hopboot initramfs: a reproducible newc cpio archive with the hopboot
binary as /init, kernel modules with their dependencies (and modules.dep,
modules.alias for them), and extra files.

Options:
  --binary PATH          hopboot binary, stored as /init
  --output FILE          image to write (replaced atomically)
  --modules-dir DIR      module tree /lib/modules/KVER to take modules from
  --profile NAME         storage modules to ship (see below); hopboot loads
                         each only if a device matches its aliases
  --module NAME[,NAME]   extra module(s) to ship, loaded at every boot
                         (repeatable; '-' and '_' are equivalent)
  --fs NAME[,NAME]       filesystem module(s) to ship for hopboot's read-only
                         kernel mounts (xfs, btrfs, ext4, …), with a crc32c;
                         loaded only when a partition needs one (repeatable)
  --compression KIND     gzip (default), zstd, xz or none
  --add HOSTPATH:DEST    copy a host file to DEST in the image (repeatable)
  --trust-key FILE       a minisign public key (`hopboot sign keygen`, or
                         `minisign -G`) trusted to sign boot manifests; stored
                         as /etc/hopboot/trusted-keys/NN-NAME.pub (repeatable:
                         several keys, any one may sign; docs/trust.md)
  --verify MODE          what happens to an entry no trusted key signed:
                         enforce (it cannot boot; the default with a key) or
                         warn (it boots with a warning); the kernel command
                         line (hopboot.verify=) may only make it stricter
  --password-hash FILE   lock the menu's command-line editor, the rescue shell
                         and unsigned entries with a password: FILE holds its
                         hash (from --hash-password), stored in the image as
                         /etc/hopboot/password; never the password itself
  --hash-password        read a password on stdin (twice from a terminal, not
                         echoed), print its salted PBKDF2-HMAC-SHA256 hash for
                         --password-hash, and exit
  --iterations N         PBKDF2 iterations for --hash-password (default
                         600000, about 0.3 s per try on a 2020s x86 core;
                         fewer only for tests under emulation, at least 1000)
  --list                 print the resolved modules in load order and exit
  -h, --help             print this help

Profiles (each with the modules' dependencies):
  minimal      virtio_blk virtio_pci (QEMU/KVM, clouds)
  server       minimal + SATA/PATA (ahci ata_piix sd_mod), NVMe (nvme),
               virtio-scsi, USB storage (xhci_pci ehci_pci usb_storage uas),
               SD/MMC (sdhci_pci mmc_block), network cards for network
               boot (virtio_net e1000 e1000e)
  all-storage  every module under kernel/drivers/{ata,block,mmc,nvme/host,
               scsi,usb/host,usb/storage,virtio}, and the network cards

The mtime of every entry is $SOURCE_DATE_EPOCH (default 0).
";

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    binary: Option<PathBuf>,
    output: Option<PathBuf>,
    modules_dir: Option<PathBuf>,
    modules: Vec<String>,
    filesystems: Vec<String>,
    profile: Option<Profile>,
    compression: Option<Compression>,
    extra: Vec<(PathBuf, String)>,
    trust_keys: Vec<PathBuf>,
    verify: Option<String>,
    password_hash: Option<PathBuf>,
    hash_password: bool,
    iterations: Option<u32>,
    list: bool,
    help: bool,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| anyhow!("argument {a:?} is not valid UTF-8"))?;
        // Accept both `--opt value` and `--opt=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or_else(|| anyhow!("{flag} needs a value"))?
                    .into_string()
                    .map_err(|a| anyhow!("value {a:?} of {flag} is not valid UTF-8")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => parsed.help = true,
            "--list" => parsed.list = true,
            "--hash-password" => parsed.hash_password = true,
            "--password-hash" => parsed.password_hash = Some(value()?.into()),
            "--iterations" => {
                let v = value()?;
                parsed.iterations = Some(v.parse().map_err(|_| anyhow!("--iterations {v:?}: not a number"))?);
            }
            "--binary" => parsed.binary = Some(value()?.into()),
            "--output" => parsed.output = Some(value()?.into()),
            "--modules-dir" => parsed.modules_dir = Some(value()?.into()),
            "--module" => parsed.modules.extend(
                value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            ),
            "--fs" => parsed.filesystems.extend(
                value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            ),
            "--profile" => {
                if parsed.profile.is_some() {
                    bail!("--profile given twice");
                }
                parsed.profile = Some(value()?.parse()?);
            }
            "--compression" => parsed.compression = Some(value()?.parse()?),
            "--add" => {
                let spec = value()?;
                // Split at the last ':' so host paths may contain one.
                let (src, dest) = spec
                    .rsplit_once(':')
                    .filter(|(s, d)| !s.is_empty() && !d.is_empty())
                    .ok_or_else(|| anyhow!("--add {spec:?}: expected HOSTPATH:DEST"))?;
                parsed.extra.push((src.into(), dest.to_owned()));
            }
            "--trust-key" => parsed.trust_keys.push(value()?.into()),
            "--verify" => {
                let v = value()?;
                if !matches!(v.as_str(), "enforce" | "warn") {
                    bail!("--verify {v:?}: expected enforce or warn");
                }
                parsed.verify = Some(v);
            }
            _ => bail!("unknown argument {arg:?} (see --help)"),
        }
        if matches!(flag.as_str(), "-h" | "--help" | "--list" | "--hash-password") && inline.is_some() {
            bail!("{flag} takes no value");
        }
    }
    Ok(parsed)
}

/// `SOURCE_DATE_EPOCH` as a cpio mtime; unset or empty means 0.
fn mtime_from_env() -> Result<u32> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a time between 0 and 2^32-1")),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(0),
        Err(e) => Err(e).context("SOURCE_DATE_EPOCH"),
    }
}

/// `--hash-password`: the hash on stdout, prompts on stderr.
fn hash_password(iterations: Option<u32>) -> Result<()> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    // Echo off while the password is typed; the settings come back whatever happens.
    let saved = if tty { tcgetattr(&stdin).ok() } else { None };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet).context("turning the terminal's echo off")?;
    }
    let iterations = iterations.unwrap_or(hopboot_password::DEFAULT_ITERATIONS);
    let hash = hopboot_image_build::hash_password(&mut stdin.lock(), &mut std::io::stderr(), tty, iterations);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, t);
    }
    println!("{}", hash?);
    Ok(())
}

fn run(args: Args) -> Result<()> {
    if args.hash_password {
        return hash_password(args.iterations);
    }
    if args.iterations.is_some() {
        bail!("--iterations goes with --hash-password");
    }
    if args.list {
        let dir = args.modules_dir.context("--list needs --modules-dir")?;
        let tree = ModuleTree::open(&dir)?;
        let mut names = args.modules.clone();
        names.extend(args.profile.map(|p| p.modules(&tree)).unwrap_or_default());
        names.extend(args.filesystems.iter().cloned());
        for m in tree.resolve(&names)? {
            println!("{:<24} {}", m.name, m.path);
        }
        return Ok(());
    }
    let compression = args.compression.unwrap_or(Compression::Gzip);
    let mut extra = args.extra;
    let policy = policy_files(&args.trust_keys, args.verify.as_deref())?;
    extra.extend(policy.files.iter().cloned());
    if let Some(file) = args.password_hash {
        // Checked to be a hash when the image is built (lib's PASSWORD_PATH).
        extra.push((file, hopboot_image_build::PASSWORD_PATH.to_owned()));
    }
    let opts = Options {
        binary: args.binary.context("--binary is required (see --help)")?,
        output: args.output.context("--output is required (see --help)")?,
        modules_dir: args.modules_dir,
        modules: args.modules,
        filesystems: args.filesystems,
        extra,
        compression,
        mtime: mtime_from_env()?,
    };
    let r = build_with_profile(&opts, args.profile)?;
    println!("initramfs: {} ({compression})", opts.output.display());
    println!("  {:<18} {:>9} bytes", "hopboot binary", r.binary_bytes);
    let label = format!("modules ({})", r.module_names.len());
    // all-storage ships hundreds: name a few, --list names all.
    let names = match r.module_names.get(..SHOWN_MODULES) {
        Some(first) if r.module_names.len() > SHOWN_MODULES => {
            format!("{}, ... (--list shows all)", first.join(", "))
        }
        _ => r.module_names.join(", "),
    };
    println!("  {label:<18} {:>9} bytes  {names}", r.modules_bytes);
    if let Some(p) = args.profile {
        println!("  {:<18} {:>9} aliases", format!("profile {p}"), r.alias_count);
    }
    println!("  {:<18} {:>9} bytes", "uncompressed", r.uncompressed_bytes);
    println!("  {:<18} {:>9} bytes", "compressed", r.compressed_bytes);
    Ok(())
}

/// The signature policy as files for the image, written to a private
/// directory removed when this is dropped.
struct PolicyFiles {
    dir: Option<PathBuf>,
    files: Vec<(PathBuf, String)>,
}

impl Drop for PolicyFiles {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Checks the keys (each must be a minisign public key hopboot reads) and
/// writes the mode file: `--verify` without a key would refuse every entry.
fn policy_files(keys: &[PathBuf], verify: Option<&str>) -> Result<PolicyFiles> {
    let mut out = PolicyFiles {
        dir: None,
        files: Vec::new(),
    };
    if keys.is_empty() {
        if let Some(v) = verify {
            bail!("--verify {v} needs at least one --trust-key (with no key nothing could boot)");
        }
        return Ok(out);
    }
    let mut ring = hopboot_loader::trust::Keyring::default();
    for (n, k) in keys.iter().enumerate() {
        let text = std::fs::read_to_string(k).with_context(|| format!("--trust-key {}", k.display()))?;
        ring.add(&text, &k.display().to_string())?;
        let stem = k.file_stem().and_then(|s| s.to_str()).unwrap_or("key");
        let stem: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        out.files
            .push((k.clone(), format!("etc/hopboot/trusted-keys/{n:02}-{stem}.pub")));
    }
    let dir = std::env::temp_dir().join(format!("hopboot-image-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    out.dir = Some(dir.clone());
    let mode = dir.join("verify");
    std::fs::write(&mode, format!("{}\n", verify.unwrap_or("enforce")))
        .with_context(|| format!("writing {}", mode.display()))?;
    out.files.push((mode, "etc/hopboot/verify".into()));
    eprintln!(
        "signature policy: {} with key(s){}",
        verify.unwrap_or("enforce"),
        ring.keys().iter().map(|k| format!(" {}", k.id)).collect::<String>()
    );
    Ok(out)
}

/// How many module names the summary prints.
const SHOWN_MODULES: usize = 40;

fn main() {
    let result = parse_args(std::env::args_os().skip(1)).and_then(|args| {
        if args.help {
            print!("{USAGE}");
            Ok(())
        } else {
            run(args)
        }
    });
    if let Err(e) = result {
        eprintln!("hopboot-image-build: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_all_options() {
        let a = parse(&[
            "--binary",
            "hb",
            "--output=out.gz",
            "--module",
            "virtio-blk, virtio_pci",
            "--module=ext4",
            "--compression",
            "xz",
            "--add",
            "/etc/a:b:etc/b",
            "--modules-dir",
            "/lib/modules/6.1",
            "--profile=server",
        ])
        .unwrap();
        assert_eq!(a.profile, Some(Profile::Server));
        assert_eq!(a.binary, Some("hb".into()));
        assert_eq!(a.output, Some("out.gz".into()));
        assert_eq!(a.modules, ["virtio-blk", "virtio_pci", "ext4"]);
        assert_eq!(a.compression, Some(Compression::Xz));
        assert_eq!(a.extra, [("/etc/a:b".into(), "etc/b".to_owned())]);
        assert_eq!(a.modules_dir, Some("/lib/modules/6.1".into()));
        assert!(!a.list && !a.help);
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &["--frobnicate"][..],
            &["--binary"],
            &["--compression", "lz4"],
            &["--add", "nocolon"],
            &["--add", "src:"],
            &["--list=yes"],
            &["--profile", "huge"],
            &["--profile", "minimal", "--profile", "server"],
            &["--hash-password=yes"],
            &["--iterations", "many"],
            &["--password-hash"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
