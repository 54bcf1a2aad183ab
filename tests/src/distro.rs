//! The real Debian 12 installation of `make test-distro` (built by
//! `hopboot_qemu::distro`), and what its tests read of it: the default entry of its
//! grub.cfg, and QEMU's I/O counters for its disk.

use anyhow::{bail, ensure, Context, Result};
use hopboot_qemu::distro::{distro_dir, distro_disk, DistroDisk};
use hopboot_qemu::qmp::Qmp;

/// The marker unit's lines (see scripts/build-distro-rootfs.sh): `MARKER $(uname -r)
/// $(cat /proc/cmdline)`, once the installed system reached multi-user.target.
pub const MARKER: &str = "HOPBOOT-DISTRO-MARKER";
/// The unit's line about the root filesystem (`ROOT_LINE SOURCE FSTYPE OPTIONS`).
pub const ROOT_LINE: &str = "HOPBOOT-DISTRO-ROOT";
/// The unit's line listing failed units (`FAILED_LINE [...]`).
pub const FAILED_LINE: &str = "HOPBOOT-DISTRO-FAILED-UNITS";
/// Guest memory for booting it: the installed kernel and its initrd are loaded while
/// hopboot runs.
pub const MEMORY_MIB: u32 = 1024;

/// The default entry of a grub.cfg written by Debian's grub-mkconfig.
#[derive(Debug)]
pub struct GrubEntry {
    /// The menu entry's title.
    pub title: String,
    /// The `linux` line's kernel path, as written.
    pub kernel: String,
    /// The `initrd` line's path.
    pub initrd: String,
    /// The `linux` arguments after the kernel, as GRUB passes them: words joined by
    /// one space.
    pub args: String,
}

impl GrubEntry {
    /// The command line GRUB gives the kernel: `BOOT_IMAGE=<kernel as written>` first.
    pub fn cmdline(&self) -> String {
        format!("BOOT_IMAGE={} {}", self.kernel, self.args)
    }
}

/// Reads the first top-level `menuentry` of `cfg` and checks that it is GRUB's
/// default (`set default="0"`). Deliberately small: it accepts only what Debian's
/// 10_linux writes (unquoted `linux`/`initrd` words without variables), and fails on
/// anything else rather than guess at GRUB's quoting rules.
pub fn grub_default_entry(cfg: &str) -> Result<GrubEntry> {
    let defaults: Vec<&str> = cfg
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("set default="))
        .collect();
    // 00_header: `default="${next_entry}"` only when grubenv holds a next_entry (from
    // grub-reboot); the disk has no grubenv (grub-install never ran), so "0" applies.
    ensure!(
        defaults.contains(&"set default=\"0\"")
            && defaults
                .iter()
                .all(|d| *d == "set default=\"0\"" || *d == "set default=\"${next_entry}\""),
        "grub.cfg's default is {defaults:?}, this test reads entry 0"
    );
    let mut lines = cfg.lines().skip_while(|l| !l.starts_with("menuentry "));
    let head = lines.next().context("grub.cfg has no top-level menuentry")?;
    let title = head
        .split('\'')
        .nth(1)
        .context("menuentry without a quoted title")?
        .to_owned();
    let (mut kernel, mut args, mut initrd) = (None, None, None);
    for line in lines.take_while(|l| *l != "}") {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["linux", k, rest @ ..] => {
                kernel = Some(plain(k)?.to_owned());
                args = Some(rest.iter().map(|w| plain(w)).collect::<Result<Vec<_>>>()?.join(" "));
            }
            ["initrd", i] => initrd = Some(plain(i)?.to_owned()),
            ["initrd", ..] => bail!("more than one initrd: {line:?}"),
            _ => {}
        }
    }
    Ok(GrubEntry {
        title,
        kernel: kernel.context("the default entry has no linux line")?,
        initrd: initrd.context("the default entry has no initrd line")?,
        args: args.unwrap_or_default(),
    })
}

/// A GRUB word that means itself (no quoting, escapes or variables).
pub fn plain(word: &str) -> Result<&str> {
    ensure!(
        !word.contains(['\'', '"', '\\', '$']),
        "{word:?} needs GRUB's quoting rules; this reader only takes plain words"
    );
    Ok(word)
}

/// Counters of `query-blockstats` for one drive.
#[derive(Debug, Clone, Copy)]
pub struct DiskStats {
    /// Bytes read.
    pub rd_bytes: u64,
    /// Read requests.
    pub rd_operations: u64,
    /// Bytes written.
    pub wr_bytes: u64,
    /// Write requests.
    pub wr_operations: u64,
    /// Discards.
    pub unmap_operations: u64,
    /// Flushes.
    pub flush_operations: u64,
}

/// Counters of one drive, from QMP's `query-blockstats`: the guest's I/O counters for the disk, as QEMU's block layer saw them (no guest
/// cooperation involved).
pub fn disk_stats(qmp: &mut Qmp, drive: &str) -> Result<DiskStats> {
    let all = qmp.execute("query-blockstats", None)?;
    let entry = all
        .as_array()
        .and_then(|a| a.iter().find(|d| d["device"] == drive))
        .with_context(|| format!("query-blockstats has no drive {drive}: {all}"))?;
    let n = |key: &str| {
        entry["stats"][key]
            .as_u64()
            .with_context(|| format!("query-blockstats: no stats.{key} in {entry}"))
    };
    Ok(DiskStats {
        rd_bytes: n("rd_bytes")?,
        rd_operations: n("rd_operations")?,
        wr_bytes: n("wr_bytes")?,
        wr_operations: n("wr_operations")?,
        unmap_operations: n("unmap_operations")?,
        flush_operations: n("flush_operations")?,
    })
}

/// The Debian 12 disk (`target/distro/debian12.img`), built once per test binary
/// (debootstrap cached under target/distro). Needs root and the Debian mirror.
pub fn disk() -> &'static DistroDisk {
    static DISK: std::sync::OnceLock<Result<DistroDisk, String>> = std::sync::OnceLock::new();
    let r = DISK.get_or_init(|| {
        let dir = distro_dir().map_err(|e| format!("{e:#}"))?;
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        distro_disk(&dir.join("debian12.img")).map_err(|e| format!("building the Debian 12 disk: {e:#}"))
    });
    match r {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

/// What every boot of the installed system must show on its console: the
/// installed initrd ran fsck on the root, and nothing panicked, gave up waiting
/// or fell to emergency mode.
pub fn assert_installed_system_healthy(transcript: &str) {
    assert!(
        transcript.contains("Will now check root file system"),
        "the installed initrd's fsck did not run"
    );
    for bad in [
        "Kernel panic",
        "Attempted to kill init",
        "emergency mode",
        "Gave up waiting",
    ] {
        assert!(!transcript.contains(bad), "{bad:?} on the console");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_reader_takes_the_first_entry_and_refuses_what_it_cannot_read() {
        let cfg = "if [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\nelse\n   set default=\"0\"\nfi\n\
            menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'x' {\n\
            \tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=abc ro  console=ttyS0 \n\
            \tinitrd\t/boot/initrd.img-6.1.0-50-amd64\n\
            }\n\
            menuentry 'Other' {\n\tlinux /other\n\tinitrd /o\n}\n";
        let e = grub_default_entry(cfg).unwrap();
        assert_eq!(e.title, "Debian GNU/Linux");
        assert_eq!(e.initrd, "/boot/initrd.img-6.1.0-50-amd64");
        assert_eq!(
            e.cmdline(),
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=abc ro console=ttyS0"
        );
        assert!(grub_default_entry(&cfg.replace("default=\"0\"", "default=\"saved\"")).is_err());
        assert!(grub_default_entry(&cfg.replace("ro ", "ro $vt_handoff ")).is_err());
        assert!(grub_default_entry(&cfg.replace("ro ", "ro 'a b' ")).is_err());
        assert!(grub_default_entry("set default=\"0\"\n").is_err());
    }
}
