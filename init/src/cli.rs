//! hopboot as a command-line tool (not PID 1).

use hopboot_loader::discover;
use hopboot_loader::source::{disk, NoMachine};
use std::path::PathBuf;

const USAGE: &str = "usage:
  hopboot probe [--json] [-v] [PATH...]
      Shows the boot entries hopboot would offer, in menu order, with their ids; boots
      nothing. PATH: a directory (the root of one filesystem), a disk image, or a block
      device. Without PATH: the running system's boot filesystems: /, /boot, /efi and
      /boot/efi, mounted or not (found in /etc/fstab and by GPT partition type).
  hopboot list [PATH...]
      One line per entry: index, id and title; `*` marks the default. ENTRY below takes
      any of the three.
  hopboot load [ENTRY] [--entry ENTRY] [--next] [--reuse-cmdline] [--append ARGS]
               [--kexec-file] [--systemd | --systemd-stop] [-v]
      Loads ENTRY (id, title or 0-based index; default: the entry the bootloader would
      boot, including a one-shot from grub-reboot or `bootctl set-oneshot`) of the running
      system, then exits. `systemctl kexec` (or `hopboot exec`) boots it.
      --next also uses up the one-shot as the bootloader does when it boots it: GRUB's
      next_entry with the system's own grub-editenv, systemd-boot's LoaderEntryOneShot
      by deleting the EFI variable.
      --reuse-cmdline uses /proc/cmdline (without BOOT_IMAGE= and initrd= items) instead
      of the entry's command line. On BIOS machines hopboot sets the kernel up itself
      (kexec_load); on UEFI, under lockdown or with --kexec-file the kernel's loader
      (kexec_file_load) does.
      --systemd and --systemd-stop are hopboot-kexec.service's ExecStart and ExecStop.
      --systemd, at boot: with nothing loaded, loads a placeholder so that `systemctl
      kexec` is accepted. --systemd-stop, at shutdown before the boot filesystems are
      unmounted: if the shutdown is `systemctl kexec`, loads the entry (using up a
      one-shot as the bootloader would) in the placeholder's place, or unloads it if
      that fails, so the machine reboots through its firmware; any other shutdown (or
      `systemctl stop`) unloads the placeholder. A kernel loaded by `hopboot load` is
      kept.
  hopboot boot [ENTRY] [--entry ENTRY] [--reuse-cmdline] [--append ARGS] [--kexec-file]
               [--force]
      Loads ENTRY, syncs and reboots into it at once. Refuses under a running systemd
      without --force (use `hopboot load` + `systemctl kexec` there).
  hopboot fetch URL [-o FILE] [--dns IP]... [--blksize N] [--windowsize N] [--budget BYTES]
      Downloads URL (http:// or tftp://) as network boot does: into memory (a memfd),
      refused when bigger than the available memory (or BYTES), with progress on
      stderr; -o writes it to FILE. --dns: the DNS servers for host names;
      --blksize: the TFTP block size asked for (default 1468; 512: no option);
      --windowsize: TFTP blocks per ACK asked for (RFC 7440; default 1: not asked).
  hopboot sign keygen|manifest ARGS
      Signing keys and signed boot manifests (docs/trust.md): runs hopboot-sign, next
      to hopboot or on the PATH; `hopboot sign` alone prints its help. PID 1 and
      `hopboot load` check the manifests when /etc/hopboot has a policy.
  hopboot exec      Boots the kernel loaded before (like `kexec -e`).
  hopboot unload    Unloads a loaded kernel.";

/// Runs the CLI; returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    match cmd.as_str() {
        "probe" => probe(rest, false),
        "list" => probe(rest, true),
        "load" => load(rest, false),
        "boot" => load(rest, true),
        "exec" => exec(),
        "sign" => sign(rest),
        "fetch" => fetch(rest),
        "unload" => match hopboot_loader::sys::kexec_file_unload() {
            Ok(()) => {
                crate::live::forget();
                0
            }
            Err(e) => {
                eprintln!("hopboot unload: {e}");
                1
            }
        },
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "--version" => {
            println!("hopboot {}", env!("CARGO_PKG_VERSION"));
            0
        }
        other => {
            eprintln!("hopboot: unknown command '{other}'\n{USAGE}");
            2
        }
    }
}

/// `hopboot probe` (`list`: one line per entry).
fn probe(args: &[String], list: bool) -> i32 {
    let name = if list { "list" } else { "probe" };
    let mut json = false;
    let mut verbose = false;
    let mut paths = Vec::new();
    for a in args {
        match a.as_str() {
            "--json" if !list => json = true,
            "-v" | "--verbose" => verbose = true,
            a if a.starts_with('-') => {
                eprintln!("hopboot {name}: unknown option {a}\n{USAGE}");
                return 2;
            }
            a => paths.push(PathBuf::from(a)),
        }
    }
    crate::kmsg::init_stderr(verbose);
    let d = if paths.is_empty() {
        crate::live::discover()
    } else {
        // The CLI never mounts: a partition only the kernel could read is reported.
        let mut errors = Vec::new();
        let mut volumes = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            volumes.extend(disk::open_path(p, i, &NoMachine, &mut errors));
        }
        discover::discover(volumes, errors)
    };
    let mark = |e: &hopboot_loader::model::BootEntry| if e.default { '*' } else { ' ' };
    if json {
        print!("{}", hopboot_loader::json::discovery(&d));
    } else if list {
        for (i, e) in d.entries.iter().enumerate() {
            println!("{}{i:>2}  {}  {}", mark(e), e.id, e.title);
        }
    } else {
        for (i, e) in d.entries.iter().enumerate() {
            println!("{}{i:>2}. {}  ({}, {})", mark(e), e.title, e.format, e.device);
            println!("      id      {}", e.id);
            println!("      kernel  {}", e.kernel);
            for r in &e.initrds {
                println!("      initrd  {r}");
            }
            println!("      cmdline {}", e.cmdline);
        }
        if d.entries.is_empty() {
            println!("no boot entries");
        }
        for e in &d.errors {
            eprintln!("error: {}: {}", e.path, e.problem);
        }
    }
    0
}

/// `hopboot sign ARGS`: runs `hopboot-sign ARGS`, the program next to this
/// one first, then the one on the PATH. The signing code is not in `hopboot`
/// itself, which boot images carry.
fn sign(args: &[String]) -> i32 {
    use std::ffi::CString;
    // execv(2) from nix, not std's Command: Command's environment handling
    // would add about 8 KB to every boot image for this one call.
    let sibling = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("hopboot-sign"))
        .filter(|p| p.is_file());
    let argv: Option<Vec<CString>> = std::iter::once("hopboot-sign")
        .chain(args.iter().map(String::as_str))
        .map(|a| CString::new(a).ok())
        .collect();
    let Some(argv) = argv else {
        eprintln!("hopboot sign: an argument holds a NUL byte");
        return 2;
    };
    let e = match sibling.and_then(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok()) {
        Some(path) => nix::unistd::execv(&path, &argv).unwrap_err(),
        None => nix::unistd::execvp(c"hopboot-sign", &argv).unwrap_err(),
    };
    eprintln!("hopboot sign: cannot run hopboot-sign: {e} (it comes with hopboot's package; boot images leave it out)");
    127
}

/// `hopboot load` / `hopboot boot`.
fn load(args: &[String], boot: bool) -> i32 {
    let name = if boot { "boot" } else { "load" };
    let mut entry: Option<String> = None;
    let mut reuse = false;
    let mut append: Option<String> = None;
    let mut force = false;
    let mut verbose = false;
    let mut next = false;
    let mut systemd = false;
    let mut systemd_stop = false;
    let mut method = hopboot_loader::kexec::Method::Auto;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| match it.next() {
            Some(v) => Ok(v.clone()),
            None => {
                eprintln!("hopboot {name}: {flag} needs an argument");
                Err(2)
            }
        };
        match a.as_str() {
            "--reuse-cmdline" => reuse = true,
            "--append" => match value("--append") {
                Ok(v) => append = Some(v),
                Err(code) => return code,
            },
            a if a.starts_with("--append=") => append = Some(a.trim_start_matches("--append=").to_string()),
            "--entry" if entry.is_none() => match value("--entry") {
                Ok(v) => entry = Some(v),
                Err(code) => return code,
            },
            a if a.starts_with("--entry=") && entry.is_none() => {
                entry = Some(a.trim_start_matches("--entry=").to_string())
            }
            "--force" if boot => force = true,
            "--next" if !boot => next = true,
            "--systemd" if !boot => systemd = true,
            "--systemd-stop" if !boot => systemd_stop = true,
            "--kexec-file" => method = hopboot_loader::kexec::Method::File,
            "-v" | "--verbose" => verbose = true,
            a if a.starts_with('-') => {
                eprintln!("hopboot {name}: unknown option {a}\n{USAGE}");
                return 2;
            }
            a if entry.is_none() => entry = Some(a.to_string()),
            a => {
                eprintln!("hopboot {name}: unexpected argument {a} (one ENTRY at most)");
                return 2;
            }
        }
    }
    // Under systemd the lines go to the journal and the console: say what happens.
    crate::kmsg::init_stderr(verbose);
    if boot && !force && std::process::id() != 1 && std::path::Path::new("/run/systemd/system").is_dir() {
        eprintln!(
            "hopboot boot: systemd is running; rebooting behind its back skips a clean shutdown.\n\
             Use `hopboot load` and then `systemctl kexec`, or pass --force."
        );
        return 1;
    }
    let how = crate::live::How {
        entry: entry.as_deref(),
        reuse,
        append: append.as_deref(),
        method,
        next,
    };
    if systemd || systemd_stop {
        return crate::live::systemd(&how, systemd_stop);
    }
    if let Err(e) = crate::live::load(&how, name) {
        eprintln!("hopboot {name}: {e}");
        return 1;
    }
    if !boot {
        println!("hopboot load: loaded; `systemctl kexec` or `hopboot exec` boots it");
        return 0;
    }
    exec()
}

/// Syncs and reboots into the loaded kernel.
/// `hopboot fetch`: a network download by hand.
fn fetch(args: &[String]) -> i32 {
    use hopboot_loader::net::{download::Progress, fetch};
    let mut url = None;
    let mut out = None;
    let mut opts = fetch::Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| {
            let v = it.next().cloned();
            if v.is_none() {
                eprintln!("hopboot fetch: {a} needs {what}");
            }
            v
        };
        match a.as_str() {
            "-o" => match value("a file") {
                Some(v) => out = Some(PathBuf::from(v)),
                None => return 2,
            },
            "--dns" => match value("an IP address").map(|v| v.parse::<std::net::IpAddr>()) {
                Some(Ok(ip)) => opts.http.dns.push((ip, hopboot_loader::net::dns::PORT).into()),
                _ => return 2,
            },
            "--blksize" => match value("a number").map(|v| v.parse::<u16>()) {
                Some(Ok(n)) => opts.tftp.blksize = n,
                _ => return 2,
            },
            "--windowsize" => match value("a number").map(|v| v.parse::<u16>()) {
                Some(Ok(n)) => opts.tftp.windowsize = n,
                _ => return 2,
            },
            "--budget" => match value("a number of bytes").map(|v| v.parse::<u64>()) {
                Some(Ok(n)) => opts.budget = Some(n),
                _ => return 2,
            },
            u if url.is_none() && !u.starts_with('-') => url = Some(u.to_string()),
            other => {
                eprintln!("hopboot fetch: unexpected '{other}'\n{USAGE}");
                return 2;
            }
        }
    }
    let Some(url) = url else {
        eprintln!("hopboot fetch: which URL?\n{USAGE}");
        return 2;
    };
    let mut progress = |p: &Progress| eprint!("\rhopboot fetch: {p}{}", if p.done { "\n" } else { "   " });
    let mut d = match fetch::fetch(&url, c"hopboot-fetch", &opts, Some(&mut progress)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("\nhopboot fetch: {e}");
            return 1;
        }
    };
    eprintln!("hopboot fetch: {} bytes in {} ms", d.size, d.elapsed.as_millis());
    if let Some(out) = out {
        let copied = std::fs::File::create(&out).and_then(|mut f| std::io::copy(&mut d.file, &mut f));
        if let Err(e) = copied {
            eprintln!("hopboot fetch: writing {}: {e}", out.display());
            return 1;
        }
    }
    0
}

fn exec() -> i32 {
    let err = hopboot_loader::kexec::reboot_into();
    eprintln!("hopboot exec: {err} (was a kernel loaded? is this root?)");
    1
}
