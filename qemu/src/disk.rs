//! Disk images built without root or loop devices.
//!
//! The disk is a sparse file partitioned with `sgdisk` (GPT) or by writing the MBR
//! ourselves (MBR: `sfdisk` is not on every machine). Disks with 4096-byte logical
//! sectors ([`build_disk_with`]) get their GPT from util-linux `fdisk -b 4096`
//! loading an sfdisk script: sgdisk treats every image file as 512-byte sectors,
//! and bookworm's sfdisk (2.38) has no `--sector-size`. Each filesystem is built in
//! its own scratch image (`mkfs.ext4 -d`, `mkfs.vfat` + `mcopy`) and copied into the
//! disk at its partition's offset without truncating the disk; zero blocks are
//! skipped so the result stays sparse.
//!
//! Partitions are laid out back to back from sector 2048 (1 MiB), each a whole
//! number of MiB, and the disk ends 1 MiB after the last one (room for the backup
//! GPT). [`layout`] returns the resulting offsets.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::cmd;
use crate::tmp::TempDir;

/// Bytes per sector of the images [`build_disk`] makes ([`build_disk_with`] also does 4096).
pub const SECTOR: u64 = 512;
/// The 4Kn logical sector size.
pub const SECTOR_4K: u64 = 4096;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// Byte offset of the first partition (sector 2048).
pub const FIRST_PARTITION_OFFSET: u64 = MIB;
/// `E2FSPROGS_FAKE_TIME` for ext4 images: 2024-01-01T00:00:00Z, so images are reproducible.
pub const FAKE_TIME: u64 = 1_704_067_200;
/// The MBR disk signature (`PARTUUID=4842424f-01` for the first partition).
pub const MBR_SIGNATURE: u32 = 0x4842_424f;
/// The vfat volume id of partition N (1-based) is `VFAT_VOLUME_ID_BASE + N`
/// (`UUID=4842-0001` for the first partition).
pub const VFAT_VOLUME_ID_BASE: u32 = 0x4842_0000;

/// The partition table type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// GUID partition table, written by `sgdisk`.
    Gpt,
    /// DOS/MBR table with up to four primary partitions.
    Mbr,
}

/// What a partition contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fs {
    /// ext4 via `mkfs.ext4 -d STAGING`; a fixed `uuid` also fixes the directory hash
    /// seed, making the image reproducible.
    Ext4 {
        /// Filesystem UUID (`root=UUID=…`); random when `None`.
        uuid: Option<String>,
    },
    /// FAT (FAT32 from 33 MiB up, else mkfs.vfat's choice) with volume id
    /// [`VFAT_VOLUME_ID_BASE`] + partition number, filled with `mcopy`.
    Vfat,
    /// These bytes at the partition's start, the rest zero.
    Raw(Vec<u8>),
    /// A filesystem image made beforehand (by `mkfs.xfs`, `mkfs.btrfs`, and
    /// whatever the test did to it), copied to the partition's start skipping
    /// zero blocks; it must fit the partition.
    Image(PathBuf),
    /// Nothing: the partition stays zeroed.
    #[default]
    None,
}

/// One partition of a disk built by [`build_disk`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partition {
    /// Size in MiB (at least 1).
    pub size_mib: u64,
    /// sgdisk type code: `8300` Linux, `ef00` ESP, `ea00` XBOOTLDR, or a type GUID.
    /// For MBR, `XX00` (or `XX`) becomes type byte 0xXX.
    pub type_code: String,
    /// Filesystem and contents.
    pub fs: Fs,
    /// Filesystem label (and, on GPT, the partition name).
    pub label: Option<String>,
    /// Directory whose contents become the filesystem's root (ext4, vfat).
    pub staging: Option<PathBuf>,
    /// GPT unique partition GUID (`root=PARTUUID=…`); random when `None`. Ignored for
    /// MBR, whose PARTUUIDs are [`MBR_SIGNATURE`]`-NN`.
    pub part_uuid: Option<String>,
}

impl Partition {
    /// A partition of `size_mib` MiB with sgdisk type `type_code` holding `fs`.
    pub fn new(size_mib: u64, type_code: &str, fs: Fs) -> Self {
        Partition {
            size_mib,
            type_code: type_code.to_owned(),
            fs,
            ..Default::default()
        }
    }

    /// Sets the filesystem label (and GPT partition name).
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// Sets the directory copied into the filesystem.
    pub fn with_staging(mut self, dir: &Path) -> Self {
        self.staging = Some(dir.to_path_buf());
        self
    }
}

/// Where a partition lives on the disk, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Byte offset of the partition's first sector.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Extent {
    /// First sector (LBA).
    pub fn start_lba(&self) -> u64 {
        self.start_lba_of(SECTOR)
    }

    /// Last sector (LBA), inclusive.
    pub fn end_lba(&self) -> u64 {
        self.end_lba_of(SECTOR)
    }

    /// First sector (LBA) with `sector`-byte sectors.
    pub fn start_lba_of(&self, sector: u64) -> u64 {
        self.offset / sector
    }

    /// Last sector (LBA), inclusive, with `sector`-byte sectors.
    pub fn end_lba_of(&self, sector: u64) -> u64 {
        (self.offset + self.len) / sector - 1
    }
}

/// Partition extents and the total disk size [`build_disk`] uses for `parts`.
pub fn layout(parts: &[Partition]) -> Result<(Vec<Extent>, u64)> {
    let mut extents = Vec::with_capacity(parts.len());
    let mut offset = FIRST_PARTITION_OFFSET;
    for (i, part) in parts.iter().enumerate() {
        ensure!(part.size_mib > 0, "partition {} has size 0 MiB", i + 1);
        let len = part.size_mib.checked_mul(MIB).context("partition size overflows")?;
        extents.push(Extent { offset, len });
        offset = offset.checked_add(len).context("disk size overflows")?;
    }
    // Room for the backup GPT (33 sectors), rounded up to keep the size MiB-aligned.
    let total = offset.checked_add(MIB).context("disk size overflows")?;
    Ok((extents, total))
}

/// Builds a partitioned disk image at `out` (replacing any file there), 512-byte sectors.
pub fn build_disk(out: &Path, table: Table, parts: &[Partition]) -> Result<()> {
    build_disk_with(out, table, parts, SECTOR)
}

/// Like [`build_disk`] for a disk with `sector`-byte logical sectors (512 or
/// 4096): the partition table counts in those sectors (attach the disk with the
/// same logical block size), and ext4/vfat get blocks/sectors no smaller.
pub fn build_disk_with(out: &Path, table: Table, parts: &[Partition], sector: u64) -> Result<()> {
    build_disk_inner(out, table, parts, sector).with_context(|| format!("building disk image {}", out.display()))
}

fn build_disk_inner(out: &Path, table: Table, parts: &[Partition], sector: u64) -> Result<()> {
    ensure!(
        sector == SECTOR || sector == SECTOR_4K,
        "sector size {sector}: only 512 and 4096 are built"
    );
    let (extents, total) = layout(parts)?;
    if table == Table::Mbr {
        ensure!(
            parts.len() <= 4,
            "MBR holds at most 4 primary partitions, got {}",
            parts.len()
        );
    }
    ensure!(
        parts.len() <= 128,
        "GPT holds at most 128 partitions, got {}",
        parts.len()
    );
    for (i, part) in parts.iter().enumerate() {
        if let Some(dir) = &part.staging {
            ensure!(
                dir.is_dir(),
                "partition {}: staging dir {} does not exist",
                i + 1,
                dir.display()
            );
        }
        if let Fs::Image(img) = &part.fs {
            let len = fs::metadata(img)
                .with_context(|| format!("partition {}: filesystem image {}", i + 1, img.display()))?
                .len();
            ensure!(
                len <= part.size_mib * MIB,
                "partition {}: image {} ({len} bytes) does not fit in {} MiB",
                i + 1,
                img.display(),
                part.size_mib
            );
        }
    }

    let disk = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    disk.set_len(total)
        .with_context(|| format!("sizing {} to {total} bytes", out.display()))?;
    drop(disk);

    match table {
        Table::Gpt if sector == SECTOR => write_gpt(out, parts, &extents)?,
        Table::Gpt => write_gpt_sfdisk(out, parts, &extents, sector)?,
        Table::Mbr => write_mbr(out, parts, &extents, sector)?,
    }

    let scratch = TempDir::beside(out, "parts")?;
    let disk = OpenOptions::new()
        .write(true)
        .open(out)
        .with_context(|| format!("opening {}", out.display()))?;
    for (i, (part, extent)) in parts.iter().zip(&extents).enumerate() {
        let number = u32::try_from(i + 1).context("too many partitions")?;
        match &part.fs {
            Fs::None => {}
            Fs::Raw(bytes) => {
                let len = u64::try_from(bytes.len()).context("raw contents too large")?;
                ensure!(
                    len <= extent.len,
                    "partition {number}: {len} raw bytes do not fit in {} MiB",
                    part.size_mib
                );
                disk.write_all_at(bytes, extent.offset)
                    .with_context(|| format!("writing partition {number} of {}", out.display()))?;
            }
            Fs::Image(image) => {
                copy_into(image, &disk, extent.offset).with_context(|| {
                    format!(
                        "copying {} into partition {number} of {}",
                        image.display(),
                        out.display()
                    )
                })?;
            }
            Fs::Ext4 { .. } | Fs::Vfat => {
                let image = scratch.path().join(format!("part{number}.img"));
                build_filesystem_with(&image, part, number, sector).with_context(|| format!("partition {number}"))?;
                copy_into(&image, &disk, extent.offset)
                    .with_context(|| format!("copying partition {number} into {}", out.display()))?;
                let _ = fs::remove_file(&image);
            }
        }
    }
    disk.sync_all().with_context(|| format!("syncing {}", out.display()))?;
    Ok(())
}

fn write_gpt(out: &Path, parts: &[Partition], extents: &[Extent]) -> Result<()> {
    let mut sgdisk = Command::new("sgdisk");
    sgdisk.arg("--clear");
    for (i, (part, extent)) in parts.iter().zip(extents).enumerate() {
        let n = i + 1;
        ensure!(!part.type_code.is_empty(), "partition {n} has no type code");
        sgdisk.arg(format!("--new={n}:{}:{}", extent.start_lba(), extent.end_lba()));
        sgdisk.arg(format!("--typecode={n}:{}", part.type_code));
        if let Some(label) = &part.label {
            sgdisk.arg(format!("--change-name={n}:{label}"));
        }
        if let Some(guid) = &part.part_uuid {
            sgdisk.arg(format!("--partition-guid={n}:{guid}"));
        }
    }
    sgdisk.arg(out);
    cmd::run(&mut sgdisk)?;
    Ok(())
}

/// Grows the GPT disk image `disk` by `size_mib` MiB and adds an empty partition of
/// that size and `type_code` in the new space (the backup GPT moves to the new end);
/// the other partitions keep their numbers and contents. Returns the new partition's
/// number. For what an installer adds later, e.g. GRUB's BIOS boot partition (`ef02`).
pub fn append_partition(disk: &Path, size_mib: u64, type_code: &str, name: &str) -> Result<u32> {
    let len = fs::metadata(disk)
        .with_context(|| format!("reading {}", disk.display()))?
        .len();
    let f = fs::OpenOptions::new().write(true).open(disk)?;
    f.set_len(len + (size_mib + 1) * MIB)?;
    drop(f);
    cmd::run(Command::new("sgdisk").arg("--move-second-header").arg(disk))?;
    cmd::run(
        Command::new("sgdisk")
            .arg(format!("--new=0:0:+{size_mib}M"))
            .arg(format!("--typecode=0:{type_code}"))
            .arg(format!("--change-name=0:{name}"))
            .arg(disk),
    )?;
    let out = cmd::run(Command::new("sgdisk").arg("--print").arg(disk))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok())
        .max()
        .with_context(|| format!("sgdisk --print {} shows no partition", disk.display()))
}

/// GPT type GUID for an sgdisk type code (`8300`, `ef00`, `ea00`) or a GUID.
pub fn gpt_type_guid(code: &str) -> Result<String> {
    let guid = match code.to_ascii_lowercase().as_str() {
        "8300" => "0fc63daf-8483-4772-8e79-3d69d8477de4",
        "ef00" => "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
        "ea00" => "bc13c2ff-59e6-4262-a352-b275fd6f7172",
        "8304" => "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        g if g.len() == 36 && g.split('-').map(str::len).eq([8, 4, 4, 4, 12]) => {
            ensure!(
                g.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
                "type code {code:?} is not a GUID"
            );
            return Ok(g.to_string());
        }
        _ => bail!("type code {code:?}: give a GUID (only 8300, 8304, ef00, ea00 are known by code)"),
    };
    Ok(guid.to_string())
}

/// A GPT counted in `sector`-byte sectors, written by `fdisk -b SECTOR`
/// loading an sfdisk script (its `I` command).
fn write_gpt_sfdisk(out: &Path, parts: &[Partition], extents: &[Extent], sector: u64) -> Result<()> {
    let mut script = String::from("label: gpt\n");
    for (i, (part, extent)) in parts.iter().zip(extents).enumerate() {
        let n = i + 1;
        ensure!(!part.type_code.is_empty(), "partition {n} has no type code");
        let ty = gpt_type_guid(&part.type_code).with_context(|| format!("partition {n}"))?;
        let mut line = format!(
            "start={}, size={}, type={ty}",
            extent.start_lba_of(sector),
            extent.len / sector
        );
        if let Some(guid) = &part.part_uuid {
            line.push_str(&format!(", uuid={guid}"));
        }
        if let Some(label) = &part.label {
            ensure!(
                !label.contains(['"', ',', '\n']),
                "partition {n}: label {label:?} cannot go into an sfdisk script"
            );
            line.push_str(&format!(", name=\"{label}\""));
        }
        script.push_str(&line);
        script.push('\n');
    }
    let scratch = TempDir::beside(out, "gpt")?;
    let file = scratch.path().join("layout.sfdisk");
    fs::write(&file, &script).with_context(|| format!("writing {}", file.display()))?;
    let name = file
        .to_str()
        .filter(|n| !n.contains('\n'))
        .with_context(|| format!("{} is not a one-line UTF-8 path", file.display()))?;
    let mut fdisk = Command::new("fdisk");
    fdisk.arg("-b").arg(sector.to_string()).arg(out);
    let out_text = run_with_stdin(&mut fdisk, format!("I\n{name}\nw\n").as_bytes())?;
    // fdisk answers a script it cannot apply with a message, not an exit code.
    ensure!(
        out_text.contains("Script successfully applied"),
        "fdisk did not apply the layout: {}",
        out_text.trim()
    );
    Ok(())
}

/// Runs `c` with `input` on its stdin and returns its stdout and stderr; a
/// failure carries the command line and its stderr.
fn run_with_stdin(c: &mut Command, input: &[u8]) -> Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let line = cmd::describe(c);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{line}` (is it installed? see scripts/install-deps.sh)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).with_context(|| format!("writing to `{line}`"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{line}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "`{line}` failed ({}): {}",
        out.status,
        stderr.trim()
    );
    Ok(format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)))
}

fn write_mbr(out: &Path, parts: &[Partition], extents: &[Extent], sector: u64) -> Result<()> {
    let mut mbr = [0u8; 512];
    mbr[440..444].copy_from_slice(&MBR_SIGNATURE.to_le_bytes());
    for (i, (part, extent)) in parts.iter().zip(extents).enumerate() {
        let kind = mbr_type(&part.type_code).with_context(|| format!("partition {}", i + 1))?;
        let start =
            u32::try_from(extent.start_lba_of(sector)).context("partition starts beyond MBR's 32-bit LBA limit")?;
        let sectors = u32::try_from(extent.len / sector).context("partition too large for MBR")?;
        let entry = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
        entry[0] = 0; // not active: hopboot does not care, and BIOSes do not boot these disks
        entry[1..4].copy_from_slice(&chs(extent.start_lba_of(sector)));
        entry[4] = kind;
        entry[5..8].copy_from_slice(&chs(extent.end_lba_of(sector)));
        entry[8..12].copy_from_slice(&start.to_le_bytes());
        entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    }
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    let disk = OpenOptions::new()
        .write(true)
        .open(out)
        .with_context(|| format!("opening {}", out.display()))?;
    disk.write_all_at(&mbr, 0)
        .with_context(|| format!("writing the MBR of {}", out.display()))?;
    Ok(())
}

/// The MBR type byte for an sgdisk code: `8300` → 0x83, `ef00` → 0xef, `0c` → 0x0c.
pub fn mbr_type(code: &str) -> Result<u8> {
    let hex = code.trim_start_matches("0x");
    let byte = match hex.len() {
        1 | 2 => hex,
        4 if hex.ends_with("00") => &hex[..2],
        _ => bail!("type code {code:?} has no MBR equivalent (use XX00 or XX)"),
    };
    u8::from_str_radix(byte, 16).with_context(|| format!("type code {code:?} is not hex"))
}

/// CHS address of `lba` for the usual 255 heads × 63 sectors geometry, saturating at
/// (1023, 254, 63) as partitioners do past 8 GiB. Linux reads only the LBA fields.
fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SECTORS: u64 = 63;
    let cylinder = lba / (HEADS * SECTORS);
    let (c, h, s) = if cylinder > 1023 {
        (1023, 254, 63)
    } else {
        (cylinder, (lba / SECTORS) % HEADS, lba % SECTORS + 1)
    };
    // Each value is bounded above (c ≤ 1023, h ≤ 254, s ≤ 63), so the casts keep all bits.
    [h as u8, (s as u8) | (((c >> 8) as u8) << 6), c as u8]
}

/// Builds the filesystem of `part` (partition number `number`) into a new image file
/// of exactly `part.size_mib` MiB at `image`. `Fs::Raw`/`Fs::None` give a zeroed image
/// (with the raw bytes at the start), `Fs::Image` a copy of its image.
pub fn build_filesystem(image: &Path, part: &Partition, number: u32) -> Result<()> {
    build_filesystem_with(image, part, number, SECTOR)
}

/// Like [`build_filesystem`] for a disk with `sector`-byte logical sectors:
/// ext4 gets blocks of at least that size (the kernel cannot mount smaller
/// ones there), vfat that logical sector size.
pub fn build_filesystem_with(image: &Path, part: &Partition, number: u32, sector: u64) -> Result<()> {
    let size = part.size_mib.checked_mul(MIB).context("partition size overflows")?;
    let file = File::create(image).with_context(|| format!("creating {}", image.display()))?;
    file.set_len(size)
        .with_context(|| format!("sizing {}", image.display()))?;
    match &part.fs {
        Fs::None => {}
        Fs::Raw(bytes) => {
            ensure!(
                bytes.len() as u64 <= size,
                "{} raw bytes do not fit in {} MiB",
                bytes.len(),
                part.size_mib
            );
            file.write_all_at(bytes, 0)
                .with_context(|| format!("writing {}", image.display()))?;
        }
        Fs::Image(src) => {
            copy_into(src, &file, 0).with_context(|| format!("copying {}", src.display()))?;
        }
        Fs::Ext4 { uuid } => {
            drop(file);
            let mut mkfs = Command::new("mkfs.ext4");
            mkfs.env("E2FSPROGS_FAKE_TIME", FAKE_TIME.to_string())
                .args(["-q", "-F"]);
            if sector > 1024 {
                mkfs.arg("-b").arg(sector.to_string());
            }
            let mut extended = String::from("root_owner=0:0");
            if let Some(uuid) = uuid {
                mkfs.args(["-U", uuid]);
                extended.push_str(&format!(",hash_seed={uuid}"));
            }
            mkfs.arg("-E").arg(extended);
            if let Some(label) = &part.label {
                mkfs.args(["-L", label]);
            }
            if let Some(dir) = &part.staging {
                mkfs.arg("-d").arg(dir);
            }
            mkfs.arg(image).arg(format!("{}k", size / 1024));
            cmd::run(&mut mkfs)?;
        }
        Fs::Vfat => {
            drop(file);
            let volume_id = VFAT_VOLUME_ID_BASE
                .checked_add(number)
                .context("partition number too large")?;
            let mut mkfs = Command::new("mkfs.vfat");
            if part.size_mib >= 33 {
                mkfs.args(["-F", "32"]);
            }
            // mtools 4.0.33 cannot write into a FAT with 4096-byte sectors
            // ("No directory slots"): refuse instead of building a FAT whose
            // sectors do not match the disk's.
            ensure!(
                sector == SECTOR || part.staging.is_none(),
                "vfat with {sector}-byte sectors cannot be filled (mtools needs 512-byte sectors)"
            );
            if sector != SECTOR {
                mkfs.arg("-S").arg(sector.to_string());
            }
            mkfs.arg("-i").arg(format!("{volume_id:08x}"));
            if let Some(label) = &part.label {
                mkfs.args(["-n", label]);
            }
            mkfs.arg(image);
            cmd::run(&mut mkfs)?;
            if let Some(dir) = &part.staging {
                mcopy_tree(image, dir)?;
            }
        }
    }
    Ok(())
}

/// Copies the contents of `dir` into the root of the FAT image `image`.
fn mcopy_tree(image: &Path, dir: &Path) -> Result<()> {
    let mut sources: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    if sources.is_empty() {
        return Ok(());
    }
    sources.sort();
    let mut mcopy = Command::new("mcopy");
    // The image has no partition table or drive geometry mtools would check.
    mcopy
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-p", "-m", "-Q", "-i"])
        .arg(image);
    mcopy.args(&sources).arg("::/");
    cmd::run(&mut mcopy)?;
    Ok(())
}

/// Writes `image` into `disk` at `offset` (never truncating the disk), skipping
/// all-zero blocks, which are already zero in a freshly created sparse disk.
fn copy_into(image: &Path, disk: &File, offset: u64) -> Result<()> {
    let mut src = File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut pos = offset;
    loop {
        let n = read_full(&mut src, &mut buf).with_context(|| format!("reading {}", image.display()))?;
        if n == 0 {
            return Ok(());
        }
        let chunk = &buf[..n];
        for (i, block) in chunk.chunks(4096).enumerate() {
            if block.iter().any(|&b| b != 0) {
                disk.write_all_at(block, pos + (i * 4096) as u64)?;
            }
        }
        pos += n as u64;
    }
}

/// Reads until `buf` is full or EOF; returns the byte count.
fn read_full(src: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Copies one partition (`extent` of `disk`) into a new file `out`, e.g. for
/// `debugfs` or `mdir`.
pub fn extract(disk: &Path, extent: Extent, out: &Path) -> Result<()> {
    let mut src = File::open(disk).with_context(|| format!("opening {}", disk.display()))?;
    src.seek(SeekFrom::Start(extent.offset))
        .with_context(|| format!("seeking in {}", disk.display()))?;
    let mut dst = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let copied = std::io::copy(&mut src.take(extent.len), &mut dst)
        .with_context(|| format!("copying {} to {}", disk.display(), out.display()))?;
    ensure!(
        copied == extent.len,
        "{} ends inside the partition ({copied} of {} bytes)",
        disk.display(),
        extent.len
    );
    Ok(())
}

/// SHA-256 of a file as lowercase hex, computed by coreutils' `sha256sum`.
pub fn sha256_file(path: &Path) -> Result<String> {
    ensure!(path.is_file(), "{} is not a file", path.display());
    let out = cmd::stdout(Command::new("sha256sum").arg("--binary").arg(path))?;
    let hex = out.split_whitespace().next().unwrap_or("");
    ensure!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "unexpected sha256sum output for {}: {out:?}",
        path.display()
    );
    Ok(hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appended_partition_comes_last_and_leaves_the_others_alone() {
        let dir = TempDir::beside(&std::env::temp_dir().join("append-part"), "t").unwrap();
        let img = dir.path().join("d.img");
        let part = Partition::new(2, "8300", Fs::Raw(b"first partition".to_vec()));
        build_disk(&img, Table::Gpt, &[part.clone(), part]).unwrap();
        let before = fs::read(&img).unwrap();
        assert_eq!(append_partition(&img, 1, "ef02", "bios-grub").unwrap(), 3);
        let info = cmd::run(Command::new("sgdisk").arg("--info=3").arg(&img)).unwrap();
        let info = String::from_utf8_lossy(&info.stdout).to_string();
        assert!(info.contains("21686148-6449-6E6F-744E-656564454649"), "{info}");
        assert!(info.contains("bios-grub"), "{info}");
        cmd::run(Command::new("sgdisk").arg("--verify").arg(&img)).unwrap();
        // Partition 1's bytes (from 1 MiB) are where they were.
        let after = fs::read(&img).unwrap();
        let p1 = MIB as usize..MIB as usize + 15;
        assert_eq!(&after[p1.clone()], &before[p1]);
        assert_eq!(&after[MIB as usize..MIB as usize + 15], b"first partition");
    }

    #[test]
    fn mbr_types() {
        assert_eq!(mbr_type("8300").unwrap(), 0x83);
        assert_eq!(mbr_type("ef00").unwrap(), 0xef);
        assert_eq!(mbr_type("ea00").unwrap(), 0xea);
        assert_eq!(mbr_type("0c").unwrap(), 0x0c);
        assert!(mbr_type("8304").is_err());
        assert!(mbr_type("zz00").is_err());
        assert!(mbr_type("").is_err());
    }

    #[test]
    fn chs_values() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(2048), [32, 33, 0]); // the usual 1 MiB start: 0/32/33
        assert_eq!(chs(u64::from(u32::MAX)), [254, 0xff, 0xff]);
    }

    #[test]
    fn layout_is_back_to_back() {
        let parts = [
            Partition::new(64, "ef00", Fs::Vfat),
            Partition::new(10, "8300", Fs::None),
        ];
        let (ext, total) = layout(&parts).unwrap();
        assert_eq!(
            ext[0],
            Extent {
                offset: MIB,
                len: 64 * MIB
            }
        );
        assert_eq!(
            ext[1],
            Extent {
                offset: 65 * MIB,
                len: 10 * MIB
            }
        );
        assert_eq!((ext[0].start_lba(), ext[0].end_lba()), (2048, 133_119));
        assert_eq!(total, 76 * MIB);
        assert!(layout(&[Partition::new(0, "8300", Fs::None)]).is_err());
        assert!(layout(&[Partition::new(u64::MAX, "8300", Fs::None)]).is_err());
    }
}
