//! Golden corpus: `hopboot probe --json` on every tree under tests/corpus/
//! must give the entries the REAL bootloader would show (see tests/README.md
//! for each case's origin and how its expectation was checked).
//!
//! Layout of a case `tests/corpus/NAME/`:
//! - `root/` (one filesystem) or `roots/1-esp/`, `roots/2-root/`, ... (several
//!   filesystems, passed to hopboot in name order);
//! - `expected.json`: `{"entries": [{title, source, kernel, initrds, cmdline,
//!   default}], "errors_count": N, "errors_contain": ["substring", ...]}`
//!   (`"errors_min": N` instead of `errors_count` where only a lower bound is
//!   meaningful, e.g. a garbage file). Substrings match "path: message".
//!   `device` and `id` are informational and never compared;
//! - optional `build.sh`: run as `bash build.sh DIR` on a temporary copy of the
//!   case (DIR holds the copied `root/` or `roots/`) to create files that are
//!   not committed (the UKI). hopboot then probes the copy.
//!
//! `HOPBOOT_CORPUS=name[,name...]` runs only those cases. `HOPBOOT_BLESS=1`
//! writes `actual.json` beside each `expected.json` for a human to review; it
//! never touches `expected.json`.
//!
//! The hopboot binary is not built here (the tests never run cargo): set
//! `HOPBOOT_BIN`, or build it (`cargo build -p hopboot`, or `make build`); the
//! newest of target/{debug,release,x86_64-unknown-linux-musl/release}/hopboot is used.

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fields the golden test compares, in display order.
const FIELDS: &[&str] = &["title", "source", "kernel", "initrds", "cmdline", "default"];

/// Differing entries listed per case before the rest is cut short.
const MAX_SHOWN: usize = 12;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn hopboot_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HOPBOOT_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("HOPBOOT_BIN={} is not a file", p.display()))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let candidates = ["debug", "release", "x86_64-unknown-linux-musl/release"]
        .iter()
        .map(|p| target.join(p).join("hopboot"))
        .filter(|p| p.is_file())
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)));
    candidates.max().map(|(_, p)| p).ok_or_else(|| {
        format!(
            "no hopboot binary under {}/{{debug,release,x86_64-unknown-linux-musl/release}}: \
             run `cargo build -p hopboot` (or `make build`) first, or set HOPBOOT_BIN",
            target.display()
        )
    })
}

/// The filesystem roots of a case, in the order hopboot gets them.
fn roots_of(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let one = dir.join("root");
    if one.is_dir() {
        return Ok(vec![one]);
    }
    let many = dir.join("roots");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&many)
        .map_err(|e| format!("{} has neither root/ nor a readable roots/: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(format!("{}/roots/ is empty", dir.display()));
    }
    Ok(v)
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
        } else {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

/// Runs `build.sh` on a temporary copy of the case; returns the copy.
fn build_copy(dir: &Path) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    for sub in ["root", "roots"] {
        if dir.join(sub).is_dir() {
            copy_tree(&dir.join(sub), &tmp.path().join(sub)).map_err(|e| format!("copying {sub}/: {e}"))?;
        }
    }
    let out = Command::new("bash")
        .arg(dir.join("build.sh"))
        .arg(tmp.path())
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running build.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "build.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(tmp)
}

fn probe(bin: &Path, roots: &[PathBuf]) -> Result<Value, String> {
    let out = Command::new(bin)
        .arg("probe")
        .arg("--json")
        .args(roots)
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "hopboot probe exited {} and printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An entry reduced to the compared fields.
fn project(e: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for f in FIELDS {
        m.insert((*f).to_string(), e.get(*f).cloned().unwrap_or(Value::Null));
    }
    Value::Object(m)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Compares one case; returns a readable report of every difference.
fn compare(expected: &Value, actual: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let empty = Vec::new();
    let exp: Vec<Value> = expected["entries"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(project)
        .collect();
    let act: Vec<Value> = actual["entries"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(project)
        .collect();
    if exp != act {
        let mut s = format!("entries differ (expected {}, got {}):\n", exp.len(), act.len());
        let mut shown = 0;
        for i in 0..exp.len().max(act.len()) {
            let (e, a) = (exp.get(i), act.get(i));
            if e.is_some() && e == a {
                let _ = writeln!(s, "    [{i}] ok      {}", show(&e.unwrap_or(&Value::Null)["title"]));
                continue;
            }
            shown += 1;
            if shown > MAX_SHOWN {
                let _ = writeln!(s, "    ... (more differences not shown)");
                break;
            }
            match (e, a) {
                (Some(e), Some(a)) => {
                    let _ = writeln!(s, "    [{i}] DIFF");
                    for f in FIELDS {
                        if e[*f] == a[*f] {
                            let _ = writeln!(s, "         {f}: {}", show(&e[*f]));
                        } else {
                            let pad = " ".repeat(f.len());
                            let _ = writeln!(
                                s,
                                "         {f}: expected {}\n         {pad}  got      {}",
                                show(&e[*f]),
                                show(&a[*f])
                            );
                        }
                    }
                }
                (Some(x), None) | (None, Some(x)) => {
                    let what = if e.is_some() { "MISSING" } else { "EXTRA  " };
                    let _ = writeln!(
                        s,
                        "    [{i}] {what} {} ({}) kernel {} initrds {} cmdline {}{}",
                        show(&x["title"]),
                        show(&x["source"]),
                        show(&x["kernel"]),
                        x["initrds"],
                        show(&x["cmdline"]),
                        if x["default"] == Value::Bool(true) {
                            " DEFAULT"
                        } else {
                            ""
                        }
                    );
                }
                (None, None) => {}
            }
        }
        problems.push(s);
    }
    let errors = actual["errors"].as_array().unwrap_or(&empty);
    let got = u64::try_from(errors.len()).unwrap_or(u64::MAX);
    let texts: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["path"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    // `errors_min` where the number of reports is hopboot's choice (a garbage
    // file may give one error per line); otherwise an exact `errors_count`.
    let (ok, want) = match expected.get("errors_min").and_then(Value::as_u64) {
        Some(min) => (got >= min, format!("at least {min}")),
        None => {
            let n = expected.get("errors_count").and_then(Value::as_u64).unwrap_or(0);
            (got == n, n.to_string())
        }
    };
    if !ok {
        let mut s = format!("errors: expected {want}, got {got}");
        for t in &texts {
            let _ = write!(s, "\n    {t}");
        }
        problems.push(s);
    }
    for needle in expected
        .get("errors_contain")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let n = needle.as_str().unwrap_or_default();
        if !texts.iter().any(|t| t.contains(n)) {
            problems.push(format!("no error mentions {n:?} (errors: {texts:?})"));
        }
    }
    problems
}

fn run_case(bin: &Path, dir: &Path, bless: bool) -> Result<(), String> {
    let expected_path = dir.join("expected.json");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&expected_path).map_err(|e| format!("{}: {e}", expected_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", expected_path.display()))?;
    let built = if dir.join("build.sh").is_file() {
        Some(build_copy(dir)?)
    } else {
        None
    };
    let roots = roots_of(built.as_ref().map_or(dir, |t| t.path()))?;
    let actual = probe(bin, &roots)?;
    if bless {
        let entries: Vec<Value> = actual["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(project)
            .collect();
        let mut v = json!({ "entries": entries, "errors_count": actual["errors"].as_array().map_or(0, Vec::len) });
        v["errors"] = actual["errors"].clone();
        let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
        std::fs::write(dir.join("actual.json"), text).map_err(|e| format!("writing actual.json: {e}"))?;
    }
    let problems = compare(&expected, &actual);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

#[test]
fn corpus_matches_the_real_bootloaders() {
    let bin = hopboot_bin().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("corpus: using {}", bin.display());
    let only: Option<Vec<String>> = std::env::var("HOPBOOT_CORPUS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_string).collect());
    let bless = std::env::var_os("HOPBOOT_BLESS").is_some_and(|v| v != "0");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    if let Some(only) = &only {
        let names: Vec<String> = cases
            .iter()
            .filter_map(|c| Some(c.file_name()?.to_str()?.to_string()))
            .collect();
        for o in only {
            assert!(names.contains(o), "HOPBOOT_CORPUS: no case named {o}");
        }
        cases.retain(|c| {
            c.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| only.iter().any(|o| o == n))
        });
    }
    assert!(!cases.is_empty(), "no corpus cases found");
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        match run_case(&bin, dir, bless) {
            Ok(()) => eprintln!("corpus: ok   {name}"),
            Err(e) => {
                eprintln!("corpus: FAIL {name}\n  {e}\n");
                failed.push(name);
            }
        }
    }
    eprintln!("corpus: {} of {} cases match", cases.len() - failed.len(), cases.len());
    assert!(
        failed.is_empty(),
        "{} of {} corpus cases failed: {}",
        failed.len(),
        cases.len(),
        failed.join(", ")
    );
}

/// A tree copied without its `UUID` file: a clone whose filesystem got a new
/// UUID, or `/boot` copied with `cp -a` and handed to `hopboot probe`.
/// GRUB's `search --fs-uuid` then finds nothing and GRUB keeps the
/// `set root='hd0,msdos1'` hint written before it (checked with grub-emu
/// 2.06: after a failed search `$root` is still the hint and files are read
/// from that partition), so it still shows and boots the whole menu. hopboot
/// must show the same menu as for the original case: the tree given alone is
/// hd0's partition the config lives on, and a copied `/boot` also answers
/// under `/boot` (Debian 11's grub.cfg says `linux /boot/vmlinuz-…`).
#[test]
fn copies_without_a_uuid_file_show_the_menu() {
    let bin = hopboot_bin().unwrap_or_else(|e| panic!("{e}"));
    let case = corpus_dir().join("debian11-bios");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).expect("expected.json"))
            .expect("expected.json is JSON");
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole = tmp.path().join("clone");
    copy_tree(&case.join("root"), &whole).expect("copying root/");
    std::fs::remove_file(whole.join("UUID")).expect("the case has a UUID file");
    let boot = tmp.path().join("boot-copy");
    copy_tree(&case.join("root/boot"), &boot).expect("copying root/boot/");
    let mut failures = Vec::new();
    for tree in [&whole, &boot] {
        let actual = probe(&bin, std::slice::from_ref(tree)).unwrap_or_else(|e| panic!("{e}"));
        let problems = compare(&expected, &actual);
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", tree.display(), problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
