//! hopboot as a command-line tool (not PID 1).

use hopboot_loader::discover;
use std::path::PathBuf;

const USAGE: &str = "usage: hopboot probe [--json] [-v] PATH...
  PATH: a directory (the root of one filesystem), a disk image, or a block device.
  Shows the boot entries hopboot would offer, in menu order; boots nothing.";

/// Runs the CLI; returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    match cmd.as_str() {
        "probe" => probe(rest),
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
    if paths.is_empty() {
        eprintln!("{USAGE}");
        return 2;
    }
    let mut errors = Vec::new();
    let mut volumes = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        volumes.extend(discover::open_path(p, i, &mut errors));
    }
    let d = discover::discover(volumes, errors);
    if json {
        print!("{}", hopboot_loader::json::discovery(&d));
    } else {
        for (i, e) in d.entries.iter().enumerate() {
            println!(
                "{}{:>2}. {}  ({}, {})",
                if e.default { '*' } else { ' ' },
                i + 1,
                e.title,
                e.source,
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
            eprintln!("error: {}: {}", e.path, e.message);
        }
    }
    0
}
