//! What the kernel-mount fallback needs to know of the filesystems
//! hopboot has no userspace reader for (btrfs, xfs, f2fs, ISO 9660, and ext4
//! with a feature or journal ext4-view refuses): their superblock magic,
//! where their UUID and label are, and the mount options that keep a
//! journal or log from being replayed. The mounting itself is a machine
//! action ([`super::Machine::mount_ro`]), PID 1's alone.

/// A filesystem type known by its superblock magic, with the mount options
/// that keep the device untouched. Bytes: (offset, magic).
struct Known {
    fstype: &'static str,
    offset: u64,
    magic: &'static [u8],
    /// `ro` is always set; these keep a journal/log from being replayed.
    data: &'static str,
    /// Offset of the 16-byte filesystem UUID, and of the label with its length.
    uuid: Option<u64>,
    label: Option<(u64, usize)>,
}

const KNOWN: &[Known] = &[
    // subvolid=5: the top-level tree, which is what GRUB's paths (/@/boot/…) name.
    Known {
        fstype: "btrfs",
        offset: 0x10040,
        magic: b"_BHRfS_M",
        data: "subvolid=5,rescue=nologreplay",
        uuid: Some(0x10020),
        label: Some((0x1012B, 256)),
    },
    Known {
        fstype: "xfs",
        offset: 0,
        magic: b"XFSB",
        data: "norecovery",
        uuid: Some(32),
        label: Some((108, 12)),
    },
    Known {
        fstype: "f2fs",
        offset: 0x400,
        magic: &[0x10, 0x20, 0xF5, 0xF2],
        data: "norecovery",
        uuid: Some(0x400 + 0x6C),
        label: None,
    },
    Known {
        fstype: "iso9660",
        offset: 0x8001,
        magic: b"CD001",
        data: "",
        uuid: None,
        label: Some((0x8028, 32)),
    },
    // Read in userspace first (fs::ext4); the kernel only gets what ext4-view
    // refuses. `noload`: the journal is not even loaded, so a dirty one is
    // never replayed.
    Known {
        fstype: "ext4",
        offset: 1024 + 0x38,
        magic: &[0x53, 0xEF],
        data: "noload",
        uuid: Some(1024 + 0x68),
        label: Some((1024 + 0x78, 16)),
    },
];

/// The data options that keep `fstype`'s journal or log untouched
/// (`noload`, `norecovery`…), empty when it needs none.
pub fn data_options(fstype: &str) -> &'static str {
    KNOWN.iter().find(|k| k.fstype == fstype).map(|k| k.data).unwrap_or("")
}

/// The mount options used for `fstype`, for the log: `ro` and the data options.
pub fn options(fstype: &str) -> String {
    let data = data_options(fstype);
    if data.is_empty() {
        "ro".to_string()
    } else {
        format!("ro,{data}")
    }
}

/// The kernel filesystem type in `window`, when one is recognised.
pub fn probe(window: &crate::block::Window) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|k| {
            let mut b = vec![0u8; k.magic.len()];
            window.read_at(k.offset, &mut b).is_ok() && b == k.magic
        })
        .map(|k| k.fstype)
}

/// The UUID (lower case) and label a recognised filesystem's superblock gives.
pub fn identity(window: &crate::block::Window, fstype: &str) -> (Option<String>, Option<String>) {
    let Some(k) = KNOWN.iter().find(|k| k.fstype == fstype) else {
        return (None, None);
    };
    let uuid = k.uuid.and_then(|off| {
        let mut b = [0u8; 16];
        window.read_at(off, &mut b).ok()?;
        let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        Some(format!(
            "{}-{}-{}-{}-{}",
            h[..4].concat(),
            h[4..6].concat(),
            h[6..8].concat(),
            h[8..10].concat(),
            h[10..].concat()
        ))
    });
    let label = k.label.and_then(|(off, len)| {
        let mut b = vec![0u8; len];
        window.read_at(off, &mut b).ok()?;
        let s = String::from_utf8_lossy(&b).trim_end_matches(['\0', ' ']).to_string();
        (!s.is_empty()).then_some(s)
    });
    (uuid, label)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_types_have_read_only_recovery_options() {
        for k in super::KNOWN {
            if k.fstype != "iso9660" {
                assert!(
                    k.data.contains("norecovery") || k.data.contains("nologreplay") || k.data.contains("noload"),
                    "{}",
                    k.fstype
                );
            }
        }
    }
}
