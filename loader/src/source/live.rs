//! The running system's boot filesystems (`hopboot load`, `hopboot probe`
//! without a path): `/`, `/boot` and the ESP as the kernel has them mounted,
//! read as directories.

use crate::fs::dir::DirFs;
use crate::model::Volume;
use std::path::Path;

/// Mount points of a running system where boot files live.
pub const LIVE_MOUNTS: &[&str] = &["/", "/boot", "/efi", "/boot/efi"];

/// One line of /proc/self/mountinfo: (device major, minor, mount point).
fn parse_mountinfo(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let dev = f.nth(2)?;
            let mp = f.nth(1)?;
            let (ma, mi) = dev.split_once(':')?;
            // Mount points escape spaces etc. as \040: decode the common ones.
            let mp = mp.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\");
            Some((ma.parse().ok()?, mi.parse().ok()?, mp))
        })
        .collect()
}

/// Looks up a symlink in /dev/disk/by-{uuid,label} pointing at device `maj:min`.
fn disk_link(kind: &str, maj: u64, min: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::read_dir(format!("/dev/disk/by-{kind}")).ok()?;
    for e in dir.flatten() {
        let Ok(m) = std::fs::metadata(e.path()) else { continue };
        let rdev = m.rdev();
        if nix::sys::stat::major(rdev) == maj && nix::sys::stat::minor(rdev) == min {
            // udev escapes unusual characters as \xNN.
            return Some(e.file_name().to_string_lossy().replace("\\x20", " "));
        }
    }
    None
}

/// The filesystems of the running system that hold boot files (`/`, `/boot`,
/// the ESP), as directories; each hides the mount points below it, so a
/// separate /boot is seen once, as its own filesystem, as GRUB sees it.
pub fn volumes() -> Vec<Volume> {
    let mounts = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    // The last mount on a mount point is the visible one.
    let visible = |mp: &str| mounts.iter().rev().find(|(_, _, m)| m == mp).cloned();
    let present: Vec<&str> = LIVE_MOUNTS
        .iter()
        .copied()
        .filter(|mp| *mp == "/" || visible(mp).is_some())
        .collect();
    let mut vols = Vec::new();
    for (i, mp) in present.iter().enumerate() {
        let hidden: Vec<String> = present
            .iter()
            .filter(|o| *o != mp && o.starts_with(mp))
            .map(|o| crate::fs::join("/", o.strip_prefix(mp).unwrap_or(o)))
            .collect();
        let (uuid, label) = match visible(mp) {
            Some((maj, min, _)) => (
                disk_link("uuid", maj, min).map(|u| u.to_lowercase()),
                disk_link("label", maj, min),
            ),
            None => (None, None),
        };
        vols.push(Volume {
            name: mp.to_string(),
            grub_name: format!("hd{i}"),
            fs: Box::new(DirFs::mounted(Path::new(mp), hidden, uuid, label)),
            part_uuid: None,
            part_label: None,
        });
    }
    vols
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_lines() {
        let m = super::parse_mountinfo(
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
             30 22 254:2 / /boot rw - ext4 /dev/vda2 rw\n\
             31 22 0:5 / /my\\040dir rw - tmpfs tmpfs rw\n\
             garbage\n",
        );
        assert_eq!(
            m,
            [(254, 1, "/".into()), (254, 2, "/boot".into()), (0, 5, "/my dir".into())]
        );
    }
}
