//! What the fuzz targets share: the input as a disk image, the input as the
//! only file of a filesystem or GRUB host, and a bounded walk of a filesystem.
//! Each target stays a few lines (STYLE.md section 4).

use hopboot_loader::block::Disk;
use hopboot_loader::format::grub::{GrubHost, SearchBy};
use hopboot_loader::fs::{FsError, FsView, Kind};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Largest input a target looks at. Bigger inputs return at once, so a
/// slow-but-legal 100 MiB config cannot turn into a libFuzzer timeout.
pub const MAX_INPUT: usize = 1 << 20;

/// The input as text, as hopboot reads config files (lossy UTF-8).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The input as a disk image file, opened with [`Disk::open`] like a real
/// image. One scratch file per process, unlinked at once and reached through
/// `/proc/self/fd`, so nothing is left behind when libFuzzer exits.
pub fn disk(data: &[u8]) -> Option<Disk> {
    static IMAGE: OnceLock<Mutex<(File, PathBuf)>> = OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("hopboot-fuzz-{}.img", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("scratch image in $TMPDIR");
        let _ = std::fs::remove_file(&path);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        Mutex::new((file, PathBuf::from(format!("/proc/self/fd/{fd}"))))
    });
    let guard = image.lock().ok()?;
    let (file, path) = &*guard;
    file.set_len(0).ok()?;
    file.write_all_at(data, 0).ok()?;
    Disk::open(path).ok()
}

/// A filesystem (and a GRUB host, device `hd0`) of one file, the input, at
/// `path`: a config that INCLUDEs, `source`s or `configfile`s itself gets
/// itself again, so recursion and fan-out limits are fuzzed too. Besides it,
/// only a small grubenv (`load_env`), a BLS snippet for every `*.conf`
/// (`blscfg`) and kernels exist: serving the input for every path made each
/// `load_env` and `custom.cfg` re-read it, and the runs 100 times slower.
pub struct OneFile<'a> {
    /// Where the input is.
    pub path: &'a str,
    /// The input.
    pub data: &'a [u8],
}

const GRUBENV: &[u8] = b"# GRUB Environment Block\nsaved_entry=0\nnext_entry=\nkernelopts=root=/dev/vda2 ro\n";
const BLS: &[u8] = b"title Fedora\nversion 6.5\nlinux /vmlinuz-6.5\ninitrd /initramfs-6.5.img\noptions $kernelopts\n";

impl OneFile<'_> {
    fn file(&self, path: &str) -> Option<&[u8]> {
        let path = hopboot_loader::fs::join("/", path);
        if path == self.path {
            Some(self.data)
        } else if path.ends_with("/grubenv") {
            Some(GRUBENV)
        } else if path.ends_with(".conf") {
            Some(BLS)
        } else if path.contains("vmlinuz") || path.contains("initr") {
            Some(b"kernel")
        } else {
            None
        }
    }
}

impl FsView for OneFile<'_> {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let mut v = Vec::new();
        self.copy_to(path, limit, &mut v)?;
        Ok(v)
    }
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let data = self.file(path).ok_or_else(|| FsError::NotFound(path.into()))?;
        let size = data.len() as u64;
        if size > limit {
            return Err(FsError::TooLarge {
                path: path.into(),
                size,
                limit,
            });
        }
        out.write_all(data).map_err(|source| FsError::Io {
            path: path.into(),
            source,
        })?;
        Ok(size)
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        match self.file(path) {
            Some(_) => Some(Kind::File),
            None if path == "/" || path.ends_with("/entries") => Some(Kind::Dir),
            None => None,
        }
    }
    fn size(&self, path: &str) -> Option<u64> {
        self.file(path).map(|d| d.len() as u64)
    }
    fn list(&self, path: &str) -> Vec<String> {
        if path.ends_with("/entries") {
            vec!["a.conf".into(), "b+1-2.conf".into()]
        } else {
            Vec::new()
        }
    }
    fn uuid(&self) -> Option<String> {
        Some("0123-4567".into())
    }
    fn label(&self) -> Option<String> {
        None
    }
    fn fs_type(&self) -> &'static str {
        "dir"
    }
}

impl GrubHost for OneFile<'_> {
    fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
        (dev == "hd0").then(|| FsView::kind(self, path)).flatten()
    }
    fn size(&self, dev: &str, path: &str) -> Option<u64> {
        (dev == "hd0").then(|| FsView::size(self, path)).flatten()
    }
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
        if dev != "hd0" {
            return Err(format!("no device ({dev})"));
        }
        FsView::read_text(self, path).map_err(|e| e.to_string())
    }
    fn search(&self, _by: SearchBy, value: &str) -> Option<String> {
        (!value.is_empty()).then(|| "hd0".to_string())
    }
    fn list(&self, dev: &str, path: &str) -> Vec<String> {
        if dev == "hd0" {
            FsView::list(self, path)
        } else {
            Vec::new()
        }
    }
}

/// Reads a filesystem the way discovery does, with bounds: the root and the
/// usual boot directories, two levels down, every file read (1 MiB cap).
pub fn walk(fs: &dyn FsView) {
    let _ = (fs.uuid(), fs.label(), fs.fs_type());
    let mut dirs = vec![
        ("/".to_string(), 0),
        ("/boot".to_string(), 0),
        ("/loader/entries".to_string(), 0),
        ("/EFI/Linux".to_string(), 0),
    ];
    let mut visited = 0;
    while let Some((dir, depth)) = dirs.pop() {
        for name in fs.list(&dir).into_iter().take(32) {
            visited += 1;
            if visited > 256 {
                return;
            }
            let path = hopboot_loader::fs::join(&dir, &name);
            match fs.kind(&path) {
                Some(Kind::Dir) if depth < 2 => dirs.push((path, depth + 1)),
                Some(Kind::File) => {
                    let _ = (fs.size(&path), fs.read(&path, 1 << 20));
                }
                _ => {}
            }
        }
    }
    for p in [
        "/boot/grub/grub.cfg",
        "/loader/loader.conf",
        "/nope",
        "/boot/../boot/./x",
    ] {
        let _ = (fs.is_file(p), fs.read_text(p));
    }
}

/// hopboot runs `fatfs`, ext4-view and goblin under `catch_unwind` (their
/// panics on hostile images become errors, by design). libfuzzer-sys's panic
/// hook aborts on every panic, caught or not; this hook only reports a caught
/// one, so the smoke run does not fail on a third-party bug hopboot already
/// contains. A panic that escapes hopboot still reaches libfuzzer-sys's
/// `catch_unwind` and aborts. `HOPBOOT_FUZZ_STRICT=1` keeps the aborting
/// hook, to hunt those dependency bugs.
pub fn tolerate_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("HOPBOOT_FUZZ_STRICT").is_some() {
            return;
        }
        std::panic::set_hook(Box::new(|info| {
            eprintln!(
                "hopboot-fuzz: panic: {info} (tolerated if the run goes on: hopboot caught it; \
                 HOPBOOT_FUZZ_STRICT=1 makes every panic fatal)"
            );
        }));
    });
}
