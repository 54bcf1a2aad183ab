//! hopboot as a command-line tool (not PID 1).

use hopboot_loader::discover;
use hopboot_loader::source::{disk, live, NoMachine};
use std::path::PathBuf;

const USAGE: &str = "usage:
  hopboot probe [--json] [-v] [PATH...]
      Shows the boot entries hopboot would offer, in menu order; boots nothing.
      PATH: a directory (the root of one filesystem), a disk image, or a block device.
      Without PATH: the running system's /, /boot, /efi and /boot/efi.
  hopboot load [ENTRY] [--reuse-cmdline] [--append ARGS] [--kexec-file] [-v]
      Loads ENTRY (id, title or 0-based index; default: the bootloader's default) of the
      running system, then exits. `systemctl kexec` (or `hopboot exec`) boots it.
      --reuse-cmdline uses /proc/cmdline (without BOOT_IMAGE= and initrd= items) instead
      of the entry's command line. On BIOS machines hopboot sets the kernel up itself
      (kexec_load); on UEFI, under lockdown or with --kexec-file the kernel's loader
      (kexec_file_load) does.
  hopboot boot [ENTRY] [--reuse-cmdline] [--append ARGS] [--kexec-file] [--force]
      Loads ENTRY, syncs and reboots into it at once. Refuses under a running systemd
      without --force (use `hopboot load` + `systemctl kexec` there).
  hopboot exec      Boots the kernel loaded before (like `kexec -e`).
  hopboot unload    Unloads a loaded kernel.";

/// Runs the CLI; returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    match cmd.as_str() {
        "probe" => probe(rest),
        "load" => load(rest, false),
        "boot" => load(rest, true),
        "exec" => exec(),
        "unload" => match hopboot_loader::sys::kexec_file_unload() {
            Ok(()) => 0,
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

fn probe(args: &[String]) -> i32 {
    let mut json = false;
    let mut verbose = false;
    let mut paths = Vec::new();
    for a in args {
        match a.as_str() {
            "--json" => json = true,
            "-v" | "--verbose" => verbose = true,
            a if a.starts_with('-') => {
                eprintln!("hopboot probe: unknown option {a}\n{USAGE}");
                return 2;
            }
            a => paths.push(PathBuf::from(a)),
        }
    }
    crate::kmsg::init_stderr(verbose);
    let d = if paths.is_empty() {
        let (volumes, errors) = live::volumes();
        discover::discover(volumes, errors)
    } else {
        // The CLI never mounts: a partition only the kernel could read is reported.
        let mut errors = Vec::new();
        let mut volumes = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            volumes.extend(disk::open_path(p, i, &NoMachine, &mut errors));
        }
        discover::discover(volumes, errors)
    };
    if json {
        print!("{}", hopboot_loader::json::discovery(&d));
    } else {
        for (i, e) in d.entries.iter().enumerate() {
            println!(
                "{}{:>2}. {}  ({}, {})",
                if e.default { '*' } else { ' ' },
                i + 1,
                e.title,
                e.format,
                e.device
            );
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

/// `hopboot load` / `hopboot boot`.
fn load(args: &[String], boot: bool) -> i32 {
    let name = if boot { "boot" } else { "load" };
    let mut entry: Option<String> = None;
    let mut reuse = false;
    let mut append: Option<String> = None;
    let mut force = false;
    let mut verbose = false;
    let mut method = hopboot_loader::kexec::Method::Auto;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--reuse-cmdline" => reuse = true,
            "--append" => match it.next() {
                Some(v) => append = Some(v.clone()),
                None => {
                    eprintln!("hopboot {name}: --append needs an argument");
                    return 2;
                }
            },
            a if a.starts_with("--append=") => append = Some(a.trim_start_matches("--append=").to_string()),
            "--force" if boot => force = true,
            "--kexec-file" => method = hopboot_loader::kexec::Method::File,
            "-v" | "--verbose" => verbose = true,
            a if a.starts_with('-') => {
                eprintln!("hopboot {name}: unknown option {a}\n{USAGE}");
                return 2;
            }
            a if entry.is_none() => entry = Some(a.to_string()),
            a => {
                eprintln!("hopboot {name}: unexpected argument {a}");
                return 2;
            }
        }
    }
    crate::kmsg::init_stderr(verbose);
    if boot && !force && std::process::id() != 1 && std::path::Path::new("/run/systemd/system").is_dir() {
        eprintln!(
            "hopboot boot: systemd is running; rebooting behind its back skips a clean shutdown.\n\
             Use `hopboot load` and then `systemctl kexec`, or pass --force."
        );
        return 1;
    }
    let (volumes, errors) = live::volumes();
    let d = discover::discover(volumes, errors);
    for e in &d.errors {
        log::warn!("{}: {}", e.path, e.problem);
    }
    let i = match crate::options::choose(&d, entry.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hopboot {name}: {e}");
            return 1;
        }
    };
    let Some(mut e) = d.entries.get(i).cloned() else {
        return 1;
    };
    if reuse {
        let current = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        e.cmdline = hopboot_loader::cmdline::strip_loader_items(&current);
    }
    println!(
        "hopboot {name}: '{}' from {}: {} {}",
        e.title,
        e.device,
        e.kernel,
        e.boot_cmdline(append.as_deref())
    );
    let Some(vol) = d.volume_of(&e) else {
        eprintln!("hopboot {name}: the disk holding this entry is gone");
        return 1;
    };
    if let Err(err) = hopboot_loader::kexec::load(&e, vol.fs.as_ref(), append.as_deref(), method) {
        eprintln!("hopboot {name}: {err}");
        return 1;
    }
    if !boot {
        println!("hopboot load: loaded; `systemctl kexec` or `hopboot exec` boots it");
        return 0;
    }
    exec()
}

/// Syncs and reboots into the loaded kernel.
fn exec() -> i32 {
    let err = hopboot_loader::kexec::reboot_into();
    eprintln!("hopboot exec: {err} (was a kernel loaded? is this root?)");
    1
}
