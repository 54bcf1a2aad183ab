//! A directory as one filesystem root (`hopboot probe DIR`, tests).

use crate::fs::dir::DirFs;
use crate::model::Volume;
use std::path::Path;

/// The volume for directory `path`; `index` numbers it for GRUB names (`hdN`).
pub fn volume(path: &Path, index: usize) -> Volume {
    Volume {
        name: path.display().to_string(),
        grub_name: format!("hd{index}"),
        fs: Box::new(DirFs::new(path)),
        part_uuid: None,
        part_label: None,
    }
}
