//! `hopboot sign`: signing keys and signed boot manifests (issue 14;
//! docs/trust.md). The format and the signing are in
//! `hopboot_loader::trust`; this is the command line around them.

use hopboot_loader::discover;
use hopboot_loader::kexec::read_images;
use hopboot_loader::source::{disk, NoMachine};
use hopboot_loader::trust::manifest::{Manifest, ManifestEntry};
use hopboot_loader::trust::policy::MANIFEST_PATHS;
use hopboot_loader::trust::sign::SigningKey;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "  hopboot sign keygen SECRET PUBLIC
      Makes an Ed25519 signing key: SECRET (keep it off the machines it protects) and
      PUBLIC, a minisign public key for `hopboot-image-build --trust-key PUBLIC`.
  hopboot sign manifest [--key SECRET] [--entry ENTRY]... [--comment TEXT] [--print] DIR
      Writes DIR/hopboot.manifest: for each entry `hopboot probe DIR` shows (or each
      ENTRY: id, title or index), the SHA-256 of its kernel and initrds and its exact
      command line. DIR is the root of the filesystem the kernels are on. With --key,
      signs it into DIR/hopboot.manifest.minisig; without, sign it with minisign
      (`minisign -Sm DIR/hopboot.manifest`). --comment: the signature's trusted
      comment. --print: the manifest to stdout, nothing written.";

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("hopboot sign: {msg}");
    1
}

/// Runs `hopboot sign ARGS`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("keygen") => keygen(&args[1..]),
        Some("manifest") => manifest(&args[1..]),
        _ => {
            eprintln!("usage:\n{USAGE}");
            2
        }
    }
}

/// Writes `text` to `path`, not over an existing file (create_new), with
/// `mode` permissions.
fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn keygen(args: &[String]) -> i32 {
    let [secret, public] = args else {
        eprintln!("usage:\n{USAGE}");
        return 2;
    };
    let key = match SigningKey::generate() {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    if let Err(e) = write_new(Path::new(secret), &key.secret_text(), 0o600) {
        return fail(format!("{secret}: {e}"));
    }
    if let Err(e) = write_new(Path::new(public), &key.public_text(), 0o644) {
        return fail(format!("{public}: {e}"));
    }
    println!("key {}: secret key {secret}, public key {public}", key.id());
    0
}

/// Replaces `path` with `text` atomically (a temporary file renamed over it).
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, text, 0o644)?;
    std::fs::rename(&tmp, path)
}

fn manifest(args: &[String]) -> i32 {
    let mut key = None;
    let mut entries = Vec::new();
    let mut comment = None;
    let mut print = false;
    let mut dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let r = match a.as_str() {
            "--key" => value("--key").map(|v| key = Some(PathBuf::from(v))),
            "--entry" => value("--entry").map(|v| entries.push(v)),
            "--comment" => value("--comment").map(|v| comment = Some(v)),
            "--print" => {
                print = true;
                Ok(())
            }
            a if a.starts_with('-') => Err(format!("unknown option {a}")),
            a if dir.is_none() => {
                dir = Some(PathBuf::from(a));
                Ok(())
            }
            a => Err(format!("one DIR only ({a:?})")),
        };
        if let Err(e) = r {
            eprintln!("hopboot sign manifest: {e}\nusage:\n{USAGE}");
            return 2;
        }
    }
    let Some(dir) = dir else {
        eprintln!("hopboot sign manifest: no DIR\nusage:\n{USAGE}");
        return 2;
    };
    if !dir.is_dir() {
        return fail(format!(
            "{}: not a directory (the root of the filesystem the kernels are on)",
            dir.display()
        ));
    }
    let signer = match key.as_deref().map(std::fs::read_to_string) {
        None => None,
        Some(Ok(t)) => match SigningKey::from_secret_text(&t) {
            Ok(k) => Some(k),
            Err(e) => return fail(format!("{}: {e}", key.unwrap_or_default().display())),
        },
        Some(Err(e)) => return fail(format!("{}: {e}", key.unwrap_or_default().display())),
    };
    let mut errors = Vec::new();
    let volumes = disk::open_path(&dir, 0, &NoMachine, &mut errors);
    let d = discover::discover(volumes, errors);
    let chosen: Vec<usize> = if entries.is_empty() {
        (0..d.entries.len()).collect()
    } else {
        let mut v = Vec::new();
        for want in &entries {
            match crate::options::choose(&d, Some(want)) {
                Ok(i) => v.push(i),
                Err(e) => return fail(e),
            }
        }
        v
    };
    if chosen.is_empty() {
        return fail(format!(
            "no boot entries in {} (see `hopboot probe {}`)",
            dir.display(),
            dir.display()
        ));
    }
    let mut m = Manifest::default();
    for i in chosen {
        let Some(e) = d.entries.get(i) else { continue };
        let Some(vol) = d.volume_of(e) else { continue };
        let images = match read_images(e, vol.fs.as_ref()) {
            Ok(x) => x,
            Err(err) => return fail(format!("entry {i} '{}': {err}", e.title)),
        };
        m.entries.push(ManifestEntry::of(e, &images, &e.boot_cmdline(None)));
    }
    let n = match m.entries.len() {
        1 => "1 entry".to_string(),
        n => format!("{n} entries"),
    };
    let text = m.render(&format!("{n}, made by hopboot {} sign", env!("CARGO_PKG_VERSION")));
    if print {
        print!("{text}");
        return 0;
    }
    let path = dir.join(MANIFEST_PATHS[0].trim_start_matches('/'));
    let sig_path = PathBuf::from(format!("{}.minisig", path.display()));
    // A signature left from an older manifest would only fail: gone first.
    let _ = std::fs::remove_file(&sig_path);
    if let Err(e) = replace(&path, &text) {
        return fail(format!("{}: {e}", path.display()));
    }
    println!("{}: {n}", path.display());
    if let Some(k) = signer {
        let comment = comment.unwrap_or_else(|| format!("hopboot manifest of {n}"));
        let sig = match k.sign(text.as_bytes(), &comment) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if let Err(e) = replace(&sig_path, &sig) {
            return fail(format!("{}: {e}", sig_path.display()));
        }
        println!("{}: signed by key {}", sig_path.display(), k.id());
    } else {
        println!("not signed: sign it with `minisign -Sm {}`", path.display());
    }
    0
}
