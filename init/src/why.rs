//! Why nothing can be booted, in words, from what discovery really met.

use hopboot_loader::discover::Discovery;
use std::path::PathBuf;
use std::time::Duration;

/// Explains why `d` has no entry; `disks` are the whole disks the kernel has.
pub fn why_nothing(d: &Discovery, waited: Duration, disks: &[PathBuf]) -> String {
    if d.volumes.is_empty() {
        if disks.is_empty() {
            // Tenths of a second, rounded, without float formatting (kilobytes in PID 1).
            let tenths = (waited.as_millis() + 50) / 100;
            return format!(
                "no disks found after waiting {}.{}s (missing driver? try hopboot.wait=)",
                tenths / 10,
                tenths % 10
            );
        }
        let names: Vec<String> = disks.iter().map(|p| p.display().to_string()).collect();
        let mut why = format!("no readable filesystem on {}", names.join(" "));
        if !d.errors.is_empty() {
            why.push_str(": ");
            why.push_str(&listed(d));
        }
        return why;
    }
    let vols: Vec<String> = d
        .volumes
        .iter()
        .map(|v| format!("{} ({})", v.name, v.fs.fs_type()))
        .collect();
    let missing = d.errors.iter().filter(|e| e.problem.is_missing_kernel()).count();
    if missing > 0 {
        return format!(
            "no boot entries found: the boot configs on {} name {missing} kernel{} that {} not there: {}",
            vols.join(", "),
            if missing == 1 { "" } else { "s" },
            if missing == 1 { "is" } else { "are" },
            listed(d)
        );
    }
    if !d.errors.is_empty() {
        return format!("no boot entries found on {}: {}", vols.join(", "), listed(d));
    }
    format!(
        "no boot entries found: no boot config and no kernels in /boot on {}",
        vols.join(", ")
    )
}

/// The first few errors, `path: message`, kernel problems first.
fn listed(d: &Discovery) -> String {
    const SHOWN: usize = 3;
    // Two passes, not a sort: a stable sort costs kilobytes in a PID 1 binary.
    let kernel = d.errors.iter().filter(|e| e.problem.is_missing_kernel());
    let other = d.errors.iter().filter(|e| !e.problem.is_missing_kernel());
    let mut parts: Vec<String> = kernel
        .chain(other)
        .take(SHOWN)
        .map(|e| format!("{}: {}", e.path, e.problem))
        .collect();
    if d.errors.len() > SHOWN {
        parts.push(format!("and {} more", d.errors.len() - SHOWN));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hopboot_loader::discover;
    use hopboot_loader::source::dir;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let p = t.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        t
    }

    fn why(files: &[(&str, &str)]) -> String {
        let t = tree(files);
        let d = discover::discover(vec![dir::volume(t.path(), 0)], Vec::new());
        assert!(d.entries.is_empty());
        why_nothing(&d, Duration::from_secs(1), &[PathBuf::from("/dev/vda")])
    }

    #[test]
    fn a_grub_cfg_whose_kernel_is_missing_is_not_no_grub_cfg() {
        let w = why(&[(
            "/boot/grub/grub.cfg",
            "menuentry 'Debian' {\n linux /boot/vmlinuz-6.1 root=/dev/vda1\n}\n",
        )]);
        assert!(w.starts_with("no boot entries found"), "{w}");
        assert!(w.contains("name 1 kernel that is not there"), "{w}");
        assert!(w.contains("kernel /boot/vmlinuz-6.1 not found"), "{w}");
        assert!(!w.contains("no boot config"), "{w}");
    }

    #[test]
    fn an_empty_filesystem_has_no_config() {
        let w = why(&[("/etc/hostname", "x\n")]);
        assert!(w.contains("no boot config and no kernels in /boot"), "{w}");
    }

    #[test]
    fn no_disks_and_unreadable_disks() {
        let d = Discovery::default();
        let w = why_nothing(&d, Duration::from_secs(2), &[]);
        assert!(w.starts_with("no disks found after waiting 2.0s"), "{w}");
        let mut d = Discovery::default();
        d.errors.push(hopboot_loader::model::DiscoveryError::new(
            "/dev/vda",
            hopboot_loader::model::Problem::Stalled {
                after: Duration::from_millis(2960),
                doing: "opening its partitions".into(),
            },
        ));
        let w = why_nothing(&d, Duration::from_secs(2), &[PathBuf::from("/dev/vda")]);
        assert_eq!(
            w,
            "no readable filesystem on /dev/vda: /dev/vda: stopped answering after 3.0 s, \
             left out (opening its partitions)"
        );
    }
}
