//! `scripts/install-deps.sh` must not change the host's system: its guard,
//! run on `apt-get install -s` plans saved in tests/fixtures/install-deps/.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    hopboot_qemu::paths::workspace_root().unwrap()
}

/// The guard of scripts/install-deps.sh on `apt-get install -s` plans saved
/// from a fresh Debian 12 (debootstrap, systemd 252, backports' qemu-utils as
/// on these machines): the old way (`-t bookworm-backports` for everything)
/// upgrades systemd, udev and libsystemd0, and is refused; the plan the script
/// makes now changes no core package; a downgrade of systemd that removes
/// packages (from this host) is refused.
#[test]
fn install_deps_guard_refuses_plans_that_change_the_host() {
    let dir = root().join("tests/fixtures/install-deps");
    let check = |fixture: &str| {
        let out = Command::new(root().join("scripts/install-deps.sh"))
            .arg("--check-simulation")
            .arg(dir.join(fixture))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = check("bookworm-old-plan.txt");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("REFUSED"), "{text}");
    for pkg in ["systemd", "udev", "libsystemd0", "libudev1", "systemd-sysv"] {
        assert!(
            text.contains(&format!("  {pkg}: would change 252.39-1~deb12u2 -> 254.26-1~bpo12+1")),
            "{pkg}: {text}"
        );
    }
    let (code, text) = check("bookworm-new-plan.txt");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 removed"), "{text}");
    assert!(!text.contains("REFUSED"), "{text}");
    let (code, text) = check("host-systemd-downgrade.txt");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("  libpam-systemd: would be removed"), "{text}");
    assert!(
        text.contains("  systemd: would change 254.26-1~bpo12+1 -> 252.39-1~deb12u2"),
        "{text}"
    );
}
