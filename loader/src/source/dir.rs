//! A directory as one filesystem root (`hopboot probe DIR`, tests).

use crate::fs::dir::DirFs;
use crate::model::Volume;
use std::path::Path;

/// The volume for directory `path`, the `index`-th path given: it stands
/// for a partition of disk `hdN` (N = `index`) whose number is not known,
/// so it answers to GRUB's names of every partition of that disk. A single
/// tree is then `hd0`'s partition that its config lives on: a config whose
/// `search` finds nothing (a copy without a `UUID` file, a clone with a new
/// UUID) boots from the `set root='hd0,gpt2'` hint, as GRUB does. A copied
/// `/boot` directory also answers under `/boot` ([`DirFs::tree`]).
pub fn volume(path: &Path, index: usize) -> Volume {
    Volume {
        name: path.display().to_string(),
        grub_name: format!("hd{index}"),
        any_partition: true,
        fs: Box::new(DirFs::tree(path)),
        part_uuid: None,
        part_label: None,
    }
}
