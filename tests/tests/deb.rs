//! The Debian package (`make deb`, scripts/build-deb.sh): built twice from the
//! binaries `make build` made, it must give the same bytes; its file list,
//! control fields and maintainer scripts are checked with dpkg-deb; the man
//! page and the bash completion must carry every command and option of the
//! packaged binary's own `--help`. As root, the package is installed, its units
//! enabled by hand, removed and purged with the real dpkg in a throwaway
//! overlay of this system's root: nothing may be left behind.

use hopboot_image_build::helpdoc;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file and directory of the package, as `dpkg-deb -c` names them.
const FILES: &[&str] = &[
    "./",
    "./lib/",
    "./lib/systemd/",
    "./lib/systemd/system/",
    "./lib/systemd/system/hopboot-kexec.service",
    "./lib/systemd/system/hopboot-kexec@.service",
    "./usr/",
    "./usr/bin/",
    "./usr/bin/hopboot",
    "./usr/bin/hopboot-image-build",
    "./usr/bin/hopboot-sign",
    "./usr/share/",
    "./usr/share/bash-completion/",
    "./usr/share/bash-completion/completions/",
    "./usr/share/bash-completion/completions/hopboot",
    "./usr/share/doc/",
    "./usr/share/doc/hopboot/",
    "./usr/share/doc/hopboot/changelog.Debian.gz",
    "./usr/share/doc/hopboot/copyright",
    "./usr/share/lintian/",
    "./usr/share/lintian/overrides/",
    "./usr/share/lintian/overrides/hopboot",
    "./usr/share/man/",
    "./usr/share/man/man1/",
    "./usr/share/man/man1/hopboot-image-build.1.gz",
    "./usr/share/man/man8/",
    "./usr/share/man/man8/hopboot.8.gz",
];

fn root() -> PathBuf {
    hopboot_qemu::paths::workspace_root().unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Builds the package into `out` and returns its path.
fn build_deb(out: &Path) -> PathBuf {
    run(Command::new(root().join("scripts/build-deb.sh")).arg("--out").arg(out));
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs.into_iter().next().unwrap()
}

fn scratch() -> tempfile::TempDir {
    let t = hopboot_qemu::paths::target_dir().unwrap().join("tmp");
    std::fs::create_dir_all(&t).unwrap();
    tempfile::tempdir_in(t).unwrap()
}

fn gunzip(path: &Path) -> String {
    run(Command::new("gzip").arg("-dc").arg(path))
}

#[test]
fn the_deb_is_reproducible_and_carries_what_the_binaries_say() {
    let version = env!("CARGO_PKG_VERSION");
    let t = scratch();
    let first = build_deb(&t.path().join("a"));
    let second = build_deb(&t.path().join("b"));
    assert_eq!(
        first.file_name().unwrap().to_str().unwrap(),
        format!("hopboot_{version}-1_amd64.deb")
    );
    let bytes = std::fs::read(&first).unwrap();
    assert!(
        bytes == std::fs::read(&second).unwrap(),
        "two builds gave different bytes"
    );

    // The file list, owners and modes.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&first));
    let mut names = BTreeSet::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[1], "root/root", "{line}");
        let name = *f.last().unwrap();
        let mode = f[0];
        let want = if name.ends_with('/') {
            "drwxr-xr-x"
        } else if name.starts_with("./usr/bin/") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "{line}");
        names.insert(name.to_owned());
    }
    let expected: BTreeSet<String> = FILES.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, expected);
    // Nothing under /etc: no unit is enabled by the package's files.
    assert!(!names.iter().any(|n| n.starts_with("./etc")));

    // Control fields.
    let field = |f: &str| {
        run(Command::new("dpkg-deb").arg("-f").arg(&first).arg(f))
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "hopboot");
    assert_eq!(field("Version"), format!("{version}-1"));
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Section"), "admin");
    assert_eq!(field("Priority"), "optional");
    assert_eq!(field("Depends"), "", "static binaries depend on nothing");
    assert!(field("Installed-Size").parse::<u64>().unwrap() > 1000);
    assert!(!field("Description").is_empty());

    // Maintainer scripts: none enables a unit.
    let x = t.path().join("x");
    run(Command::new("dpkg-deb").arg("-R").arg(&first).arg(&x));
    for script in ["postinst", "prerm", "postrm"] {
        let text = std::fs::read_to_string(x.join("DEBIAN").join(script)).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(
                !line.contains("systemctl enable") && !line.contains("deb-systemd-helper enable"),
                "{script} enables a unit: {line}"
            );
        }
        // Every helper it calls is guarded.
        for tool in ["deb-systemd-helper", "deb-systemd-invoke"] {
            if text.lines().any(|l| l.trim_start().starts_with(tool)) {
                assert!(
                    text.contains(&format!("command -v {tool}")),
                    "{script}: {tool} unguarded"
                );
            }
        }
    }

    // The packaged binary and its --help.
    let hopboot = x.join("usr/bin/hopboot");
    assert_eq!(
        run(Command::new(&hopboot).arg("--version")).trim(),
        format!("hopboot {version}")
    );
    let help = run(Command::new(&hopboot).arg("--help"));
    let commands = helpdoc::parse_commands(&help, "hopboot").unwrap();
    assert!(commands.len() >= 3, "{commands:?}");

    // hopboot(8): every command and every option of --help, and its version.
    let man = gunzip(&x.join("usr/share/man/man8/hopboot.8.gz"));
    let plain = man.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "");
    assert!(plain.contains(&format!("\"hopboot {version}\"")), "version not in .TH");
    for c in &commands {
        assert!(
            plain.contains(&format!("hopboot {} {}", c.name, c.synopsis).trim_end().to_owned()),
            "{}",
            c.name
        );
    }
    let options = helpdoc::options_in(&help);
    assert!(options.iter().any(|o| o == "--append"), "{options:?}");
    for o in &options {
        assert!(plain.contains(o.as_str()), "{o} is in --help but not in hopboot(8)");
    }
    // Each line of the help's descriptions is in the page, as written.
    for c in &commands {
        for line in &c.description {
            let line = line.replace('`', "");
            assert!(plain.contains(&line), "hopboot(8) lacks: {line}");
        }
    }
    assert_no_roff_warnings(&x.join("usr/share/man/man8/hopboot.8.gz"));

    // hopboot-image-build(1): every option of its --help.
    let image_help = run(Command::new(x.join("usr/bin/hopboot-image-build")).arg("--help"));
    let image_man = gunzip(&x.join("usr/share/man/man1/hopboot-image-build.1.gz")).replace("\\-", "-");
    for o in helpdoc::options_in(&image_help) {
        assert!(
            image_man.contains(&o),
            "{o} is in hopboot-image-build --help but not in its man page"
        );
    }
    assert_no_roff_warnings(&x.join("usr/share/man/man1/hopboot-image-build.1.gz"));

    // The bash completion offers the commands of --help, and each command's options.
    let completion = x.join("usr/share/bash-completion/completions/hopboot");
    let ask = |words: &[&str]| -> String {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        run(Command::new("bash").arg("-c").arg(format!(
            "source '{}'\ncomplete -p hopboot >/dev/null\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_hopboot\necho \"${{COMPREPLY[*]}}\"",
            completion.display(),
            quoted.join(" "),
            words.len() - 1
        )))
        .trim()
        .to_owned()
    };
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(ask(&["hopboot", ""]), names.join(" "));
    for c in &commands {
        let spellings: Vec<&str> = c
            .options
            .iter()
            .flat_map(|o| o.names.iter().map(String::as_str))
            .collect();
        assert_eq!(ask(&["hopboot", &c.name, "-"]), spellings.join(" "), "{}", c.name);
    }

    // copyright and changelog.
    let copyright = std::fs::read_to_string(x.join("usr/share/doc/hopboot/copyright")).unwrap();
    assert!(copyright.starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains("\n  ext4-view "), "the linked crates are listed");
    assert!(!copyright.contains('@'), "a placeholder was left");
    let changelog = gunzip(&x.join("usr/share/doc/hopboot/changelog.Debian.gz"));
    assert!(changelog.starts_with(&format!("hopboot ({version}-1) ")), "{changelog}");
}

/// groff's warnings on a man page (when groff is installed).
fn assert_no_roff_warnings(page: &Path) {
    if Command::new("groff").arg("-v").output().is_err() {
        eprintln!(
            "groff is not installed: {} not checked for roff warnings",
            page.display()
        );
        return;
    }
    let src = gunzip(page);
    let out = Command::new("sh")
        .arg("-c")
        .arg("groff -man -Tutf8 -ww -z 2>&1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(src.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let warnings = String::from_utf8_lossy(&out.stdout);
    assert!(warnings.trim().is_empty(), "{}: {warnings}", page.display());
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// Installs, enables (as a user would), removes and purges the package with
/// the real dpkg inside an overlay of this system's root, in a mount namespace
/// of its own: what dpkg writes lands in a scratch upper directory and goes
/// with it. Prints one `STAGE` line and then facts per stage.
const LIFECYCLE: &str = r#"
set -eu
deb=$1; w=$2
mkdir -p "$w"
# A tmpfs of its own: an upper directory inside the lower one (/) would overlap.
mount -t tmpfs deb-upper "$w"
mkdir "$w/upper" "$w/work" "$w/root"
mount -t overlay -o "lowerdir=/,upperdir=$w/upper,workdir=$w/work" deb-root "$w/root"
r=$w/root
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount -t tmpfs tmpfs "$r/run"
mount -t tmpfs tmpfs "$r/tmp"
cp "$deb" "$r/tmp/hopboot.deb"
facts() {
    echo "STAGE $1"
    echo "status $(chroot "$r" dpkg-query -W -f='${db:Status-Status}' hopboot 2>/dev/null || echo not-installed)"
    for l in "$r"/etc/systemd/system/*.wants/hopboot-kexec* "$r"/etc/systemd/system/*.requires/hopboot-kexec*; do
        [ -L "$l" ] && echo "link ${l#$r}"
    done
    for f in /usr/bin/hopboot /usr/bin/hopboot-image-build /lib/systemd/system/hopboot-kexec.service /run/hopboot /etc/systemd/system/kexec.target.wants; do
        [ -e "$r$f" ] && echo "exists $f"
    done
    ls "$r"/var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep hopboot | sed 's/^/state /' || true
    ls "$r"/var/lib/dpkg/info 2>/dev/null | grep '^hopboot\.' | sed 's/^/info /' || true
    echo "enabled $(systemctl --root="$r" is-enabled hopboot-kexec.service 2>/dev/null || true)"
}
chroot "$r" dpkg -i /tmp/hopboot.deb >&2
facts installed
echo "version $(chroot "$r" hopboot --version)"
systemctl --root="$r" enable hopboot-kexec.service hopboot-kexec@2.service >&2
# An admin's own unit of another name, enabled: must stay.
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' >"$r/etc/systemd/system/keep-me.service"
systemctl --root="$r" enable keep-me.service >&2
# What hopboot notes at runtime; "user" (a kernel loaded by hand): the prerm does not
# unload it (it only unloads what the unit armed, and this test must not touch the
# host's kexec state).
mkdir -p "$r/run/hopboot" && echo "user debian-6.1" >"$r/run/hopboot/loaded"
facts enabled
chroot "$r" dpkg -r hopboot >&2
facts removed
[ -L "$r/etc/systemd/system/multi-user.target.wants/keep-me.service" ] && echo "kept keep-me"
chroot "$r" dpkg -P hopboot >&2
facts purged
# What is left in the upper directory (the overlay's changes) that names hopboot.
echo "upper $(cd "$w/upper" && find . -name '*hopboot*' ! -type c | sort | tr '\n' ' ')"
"#;

#[test]
fn install_enable_remove_purge_leaves_nothing() {
    if !is_root() {
        eprintln!("skipped: dpkg in an overlay of / needs root");
        return;
    }
    let t = scratch();
    let deb = build_deb(&t.path().join("out"));
    let w = t.path().join("overlay");
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            LIFECYCLE,
            "lifecycle",
        ])
        .arg(&deb)
        .arg(&w)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for line in stdout.lines() {
        if let Some(s) = line.strip_prefix("STAGE ") {
            stages.push((s.to_owned(), Vec::new()));
        } else if let Some((_, facts)) = stages.last_mut() {
            facts.push(line.to_owned());
        }
    }
    let facts = |stage: &str| -> Vec<String> {
        stages
            .iter()
            .find(|(s, _)| s == stage)
            .unwrap_or_else(|| panic!("no stage {stage} in\n{stdout}"))
            .1
            .clone()
    };
    let has = |stage: &str, fact: &str| facts(stage).iter().any(|f| f == fact);
    let links = |stage: &str| facts(stage).into_iter().filter(|f| f.starts_with("link ")).count();

    // Installed: files there, no unit enabled.
    assert!(has("installed", "status installed"), "{stdout}");
    assert!(has("installed", "exists /usr/bin/hopboot"), "{stdout}");
    assert!(
        has("installed", "exists /lib/systemd/system/hopboot-kexec.service"),
        "{stdout}"
    );
    assert_eq!(links("installed"), 0, "the package enabled a unit:\n{stdout}");
    assert!(has("installed", "enabled disabled"), "{stdout}");
    assert!(
        stdout.contains(&format!("version hopboot {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );

    // Enabled by hand: the unit and an instance of the template, each wanted by
    // multi-user.target only (it arms at boot and loads when stopped for kexec).
    assert_eq!(links("enabled"), 2, "{stdout}");
    for unit in ["hopboot-kexec.service", "hopboot-kexec@2.service"] {
        assert!(
            has(
                "enabled",
                &format!("link /etc/systemd/system/multi-user.target.wants/{unit}")
            ),
            "{stdout}"
        );
    }
    assert!(has("enabled", "enabled enabled"), "{stdout}");

    // Removed: no link, no /run/hopboot, no kexec.target.wants made for us; the admin's unit stays.
    assert!(has("removed", "status config-files"), "{stdout}");
    assert_eq!(links("removed"), 0, "links left after remove:\n{stdout}");
    assert!(!has("removed", "exists /run/hopboot"), "{stdout}");
    assert!(!has("removed", "exists /usr/bin/hopboot"), "{stdout}");
    assert!(
        !has("removed", "exists /etc/systemd/system/kexec.target.wants"),
        "{stdout}"
    );
    assert!(stdout.contains("kept keep-me"), "{stdout}");

    // Purged: no dpkg or deb-systemd-helper state either.
    assert!(has("purged", "status not-installed"), "{stdout}");
    assert_eq!(links("purged"), 0, "{stdout}");
    let left: Vec<String> = facts("purged")
        .into_iter()
        .filter(|f| f.starts_with("state ") || f.starts_with("info ") || f.starts_with("exists "))
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}\n{stdout}");
    let upper = stdout.lines().find_map(|l| l.strip_prefix("upper ")).unwrap_or("?");
    assert!(
        upper.trim().is_empty(),
        "files naming hopboot left after purge: {upper}"
    );
}
