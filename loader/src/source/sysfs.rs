//! The machine's block devices as `/sys/class/block` shows them: which are
//! disks, which partition of which disk a device is, what a device-mapper or
//! RAID device is built on, and a device number's kernel name. Only sysfs is
//! read, so this works without udev (at shutdown, in an initramfs).

use std::path::{Path, PathBuf};

/// sysfs and /dev, the two trees read.
#[derive(Debug, Clone)]
pub struct Sysfs {
    sys: PathBuf,
    dev: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// Nested device-mapper/RAID layers followed at most (LUKS on LVM on RAID is 3).
const MAX_DEPTH: usize = 8;

impl Sysfs {
    fn class(&self, name: &str) -> PathBuf {
        self.sys.join("class/block").join(name)
    }

    /// `/dev/NAME`.
    pub fn node(&self, name: &str) -> PathBuf {
        self.dev.join(name)
    }

    /// The disks hopboot as PID 1 reads, by kernel name, in the kernel's
    /// order ([`kernel_order`]): whole block devices with a size, without
    /// partitions themselves being listed, and without loop, RAM, zram,
    /// device-mapper and RAID devices (their members are the disks) or hidden
    /// NVMe multipath paths. A disk's place in this list is its GRUB number
    /// (`hdN`): the firmware's order is not known to Linux (docs/architecture.md,
    /// "GRUB's device names").
    pub fn disks(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.sys.join("class/block"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| {
                        let sys = self.class(name);
                        let hidden = std::fs::read_to_string(sys.join("hidden")).is_ok_and(|h| h.trim() == "1");
                        let skip = hidden
                            || sys.join("partition").exists()
                            || ["loop", "ram", "zram", "dm-", "md"].iter().any(|p| name.starts_with(p))
                            || std::fs::read_to_string(sys.join("size"))
                                .map(|s| s.trim() == "0")
                                .unwrap_or(true);
                        !skip
                    })
                    .collect()
            })
            .unwrap_or_default();
        // A handful of disks: an insertion sort costs less code than `sort_by`.
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && kernel_order(&v[j - 1], &v[j]).is_gt() {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        v
    }

    /// Device-mapper and RAID devices (`dm-0`, `md0`) with a size: a /boot on
    /// LVM or RAID 1 is one of them, not a partition.
    pub fn stacked(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.sys.join("class/block"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| (n.starts_with("dm-") || n.starts_with("md")) && !self.is_partition(n))
                    .filter(|n| std::fs::read_to_string(self.class(n).join("size")).is_ok_and(|s| s.trim() != "0"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The kernel name of block device `major:minor` (`vda2`), from
    /// `/sys/dev/block/MAJOR:MINOR`.
    pub fn name_of(&self, major: u64, minor: u64) -> Option<String> {
        let link = std::fs::read_link(self.sys.join(format!("dev/block/{major}:{minor}"))).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }

    /// The kernel name of the block device node at `path` (symlinks followed),
    /// `None` when `path` is not a block device.
    pub fn name_of_node(&self, path: &Path) -> std::io::Result<Option<String>> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::metadata(path)?;
        if !m.file_type().is_block_device() {
            return Ok(None);
        }
        let rdev = m.rdev();
        Ok(self.name_of(nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
    }

    /// Whether `name` is a partition.
    pub fn is_partition(&self, name: &str) -> bool {
        self.class(name).join("partition").exists()
    }

    /// The disk and number of partition `name` (`vda2` → `vda`, 2).
    pub fn partition_of(&self, name: &str) -> Option<(String, u32)> {
        let n = std::fs::read_to_string(self.class(name).join("partition")).ok()?;
        let n: u32 = n.trim().parse().ok()?;
        // /sys/class/block/vda2 → …/block/vda/vda2: the parent is the disk.
        let real = std::fs::canonicalize(self.class(name)).ok()?;
        let disk = real.parent()?.file_name()?.to_string_lossy().into_owned();
        Some((disk, n))
    }

    /// The disks block device `name` lives on: its own disk for a partition,
    /// the members' disks for device-mapper and RAID (`slaves/`), itself for
    /// a whole disk. Sorted, each once.
    pub fn disks_under(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk_down(name, 0, &mut out);
        out.sort();
        out.dedup();
        out
    }

    fn walk_down(&self, name: &str, depth: usize, out: &mut Vec<String>) {
        if depth > MAX_DEPTH {
            return;
        }
        if let Some((disk, _)) = self.partition_of(name) {
            return self.walk_down(&disk, depth + 1, out);
        }
        let slaves: Vec<String> = std::fs::read_dir(self.class(name).join("slaves"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if slaves.is_empty() {
            if self.class(name).exists() {
                out.push(name.to_string());
            }
            return;
        }
        for s in slaves {
            self.walk_down(&s, depth + 1, out);
        }
    }
}

/// The order in which the kernel names disks of one kind: `sdz` before
/// `sdaa` (the letters count up like digits, `sd_format_disk_name`),
/// `nvme0n2` before `nvme0n10`. Runs of digits compare as numbers; a run of
/// letters after a known prefix (`sd`, `vd`, `hd`, `xvd`) as a letter
/// count, shorter first. Different kinds keep the order of their names
/// (`nvme…` < `sd…` < `vd…`).
fn kernel_order(a: &str, b: &str) -> std::cmp::Ordering {
    /// The kind (a known prefix, else the leading letters: `nvme`,
    /// `mmcblk`), the rest, and whether letter runs count as numbers.
    fn kind(name: &str) -> (&str, &str, bool) {
        let known = ["xvd", "sd", "vd", "hd"]
            .into_iter()
            .find(|p| name.starts_with(p) && name.len() > p.len());
        let end = known.map_or_else(
            || name.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(name.len()),
            str::len,
        );
        let (kind, rest) = name.split_at(end);
        (kind, rest, known.is_some())
    }
    /// The first run of digits or of letters, weighed: a number by its
    /// length without leading zeros, letters after a known prefix by their
    /// count, other letters not at all; and the text after it.
    fn run(s: &str, letters_count: bool) -> Option<((usize, &str), &str)> {
        let digits = s.as_bytes().first()?.is_ascii_digit();
        let end = s.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(s.len());
        let (run, rest) = s.split_at(end);
        let run = if digits { run.trim_start_matches('0') } else { run };
        let weight = if digits || letters_count { run.len() } else { 0 };
        Some(((weight, run), rest))
    }
    let ((ka, mut ra, count), (kb, mut rb, _)) = (kind(a), kind(b));
    let mut order = ka.cmp(kb);
    while order.is_eq() {
        match (run(ra, count), run(rb, count)) {
            (Some((x, xr)), Some((y, yr))) => {
                order = x.cmp(&y);
                (ra, rb) = (xr, yr);
            }
            (x, y) => {
                order = x.is_some().cmp(&y.is_some());
                break;
            }
        }
    }
    order.then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::kernel_order;

    #[test]
    fn disks_in_the_kernels_order() {
        let mut v = vec![
            "sdaa", "sdb", "sda", "sdz", "nvme0n10", "nvme0n2", "nvme1n1", "vdb", "vda", "mmcblk1", "mmcblk0", "xvda",
            "ubda", "pmem0",
        ];
        v.sort_by(|a, b| kernel_order(a, b));
        assert_eq!(
            v,
            [
                "mmcblk0", "mmcblk1", "nvme0n2", "nvme0n10", "nvme1n1", "pmem0", "sda", "sdb", "sdz", "sdaa", "ubda",
                "vda", "vdb", "xvda"
            ]
        );
    }
}
