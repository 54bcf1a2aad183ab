//! Where a download goes: a memfd (never a whole-file `Vec`), under a byte
//! budget checked before the transfer (the size the server announced: TFTP's
//! `tsize`, HTTP's `Content-Length`) and again on every write (a server may
//! announce nothing, or lie), with progress reports for long transfers.
//!
//! The finished [`Download`] holds the memfd rewound to its start: a plain
//! [`File`] that kexec can read (or pass to `kexec_file_load` as it is).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

/// Why a download's bytes could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The server announced more than the budget, before any byte came.
    #[error("the file is {size} bytes, more than the {budget} bytes this machine can hold")]
    TooBig {
        /// The announced size.
        size: u64,
        /// The budget.
        budget: u64,
    },
    /// More bytes came than the budget allows.
    #[error("the file grew past the {budget} bytes this machine can hold (download stopped)")]
    Overflow {
        /// The budget.
        budget: u64,
    },
    /// More bytes came than the server announced.
    #[error("the server sent more than the {announced} bytes it announced")]
    Longer {
        /// The size the server announced.
        announced: u64,
    },
    /// memfd_create failed.
    #[error("memfd_create: {0}")]
    Memfd(nix::Error),
    /// Writing into the memfd failed (out of memory, usually).
    #[error("writing the download into memory: {0}")]
    Write(std::io::Error),
}

/// How far a download is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes received so far.
    pub bytes: u64,
    /// The size the server announced, if it did.
    pub total: Option<u64>,
    /// Time since the sink was made.
    pub elapsed: Duration,
    /// True for the last report (the download is complete).
    pub done: bool,
}

impl Progress {
    /// Bytes per second so far (0 before any time has passed).
    pub fn rate(&self) -> u64 {
        let ms = self.elapsed.as_millis();
        if ms == 0 {
            return 0;
        }
        u64::try_from(u128::from(self.bytes).saturating_mul(1000) / ms).unwrap_or(u64::MAX)
    }
}

impl std::fmt::Display for Progress {
    /// `12.3 MiB of 30.0 MiB, 8.1 MiB/s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |n: u64| n as f64 / (1u64 << 20) as f64;
        write!(f, "{:.1} MiB", mib(self.bytes))?;
        if let Some(t) = self.total {
            write!(f, " of {:.1} MiB", mib(t))?;
        }
        write!(f, ", {:.1} MiB/s", mib(self.rate()))
    }
}

/// How often progress is reported while bytes come in.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// A progress callback: called at most every [`PROGRESS_EVERY`] and once
/// at the end.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Progress);

/// What the transfer code writes into: the memfd behind a budget.
pub struct Sink<'a> {
    file: File,
    written: u64,
    budget: u64,
    announced: Option<u64>,
    started: Instant,
    last_report: Instant,
    progress: Option<ProgressFn<'a>>,
}

/// A finished download.
#[derive(Debug)]
pub struct Download {
    /// The bytes, in a memfd, positioned at the start.
    pub file: File,
    /// Its size.
    pub size: u64,
    /// Time the transfer took.
    pub elapsed: Duration,
}

/// 1 MiB pieces: as large as the disk readers' copies.
const PIECE: usize = 1 << 20;

impl Download {
    /// Writes the whole file to `out` (named `path` in errors), unless it is
    /// larger than `limit`: [`crate::fs::FsView::copy_to`] for a download.
    /// Reads use pread(2): the memfd's own position does not matter.
    pub fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, crate::fs::FsError> {
        use std::os::unix::fs::FileExt;
        if self.size > limit {
            return Err(crate::fs::FsError::TooLarge {
                path: path.to_string(),
                size: self.size,
                limit,
            });
        }
        let io = |source| crate::fs::FsError::Io {
            path: path.to_string(),
            source,
        };
        let mut buf = vec![0u8; PIECE.min(usize::try_from(self.size).unwrap_or(PIECE))];
        let mut at = 0u64;
        while at < self.size {
            let want = crate::fs::range_len(self.size, at, buf.len());
            let piece = buf.get_mut(..want).unwrap_or_default();
            self.file.read_exact_at(piece, at).map_err(io)?;
            out.write_all(piece).map_err(io)?;
            at = at.saturating_add(want as u64);
        }
        Ok(self.size)
    }

    /// Up to `len` bytes at `offset` (fewer at the end, none past it):
    /// [`crate::fs::FsView::read_range`] for a download, the buffer checked
    /// against the memory budget.
    pub fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, crate::fs::FsError> {
        use std::os::unix::fs::FileExt;
        let want = crate::fs::range_len(self.size, offset, len);
        let mut v = crate::fs::budget::reserve(path, want as u64)?;
        v.resize(want, 0);
        self.file
            .read_exact_at(&mut v, offset)
            .map_err(|source| crate::fs::FsError::Io {
                path: path.to_string(),
                source,
            })?;
        Ok(v)
    }
}

impl<'a> Sink<'a> {
    /// A sink into a new memfd named `name` (shown in /proc/PID/fd), taking
    /// at most `budget` bytes.
    pub fn memfd(name: &std::ffi::CStr, budget: u64, progress: Option<ProgressFn<'a>>) -> Result<Self, SinkError> {
        let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
            .map_err(SinkError::Memfd)?;
        let now = Instant::now();
        Ok(Sink {
            file: File::from(fd),
            written: 0,
            budget,
            announced: None,
            started: now,
            last_report: now,
            progress,
        })
    }

    /// The server says the file is `size` bytes: refused when over the
    /// budget, and later writes may not exceed it.
    pub fn announce(&mut self, size: u64) -> Result<(), SinkError> {
        if size > self.budget {
            return Err(SinkError::TooBig {
                size,
                budget: self.budget,
            });
        }
        self.announced = Some(size);
        Ok(())
    }

    /// The size the server announced, if any.
    pub fn announced(&self) -> Option<u64> {
        self.announced
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let n = self.written.saturating_add(data.len() as u64);
        if let Some(a) = self.announced.filter(|&a| n > a) {
            return Err(SinkError::Longer { announced: a });
        }
        if n > self.budget {
            return Err(SinkError::Overflow { budget: self.budget });
        }
        self.file.write_all(data).map_err(SinkError::Write)?;
        self.written = n;
        if self.progress.is_some() && self.last_report.elapsed() >= PROGRESS_EVERY {
            self.last_report = Instant::now();
            self.report(false);
        }
        Ok(())
    }

    fn report(&mut self, done: bool) {
        let p = Progress {
            bytes: self.written,
            total: self.announced,
            elapsed: self.started.elapsed(),
            done,
        };
        if let Some(f) = self.progress.as_mut() {
            f(&p);
        }
    }

    /// The download, complete: rewound, with a last progress report.
    pub fn finish(mut self) -> Result<Download, SinkError> {
        self.file.seek(SeekFrom::Start(0)).map_err(SinkError::Write)?;
        self.report(true);
        Ok(Download {
            elapsed: self.started.elapsed(),
            file: self.file,
            size: self.written,
        })
    }
}

/// The budget a download gets by default: this machine's `MemAvailable`
/// minus a reserve for everything else (kexec copies the kernel once
/// more), or 1 GiB where /proc/meminfo does not say.
pub fn default_budget() -> u64 {
    const RESERVE: u64 = 64 << 20;
    crate::fs::budget::mem_available().map_or(1 << 30, |m| m.saturating_sub(RESERVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn downloads_read_like_files() {
        let kernel: Vec<u8> = (0..3 * PIECE + 5).map(|i| (i % 253) as u8).collect();
        let mut s = Sink::memfd(c"t", 1 << 30, None).unwrap();
        s.write(&kernel).unwrap();
        let d = s.finish().unwrap();
        let mut out = Vec::new();
        assert_eq!(d.copy_to("k", u64::MAX, &mut out).unwrap(), kernel.len() as u64);
        assert!(out == kernel);
        assert_eq!(d.read_range("k", 0x202, 4).unwrap(), kernel[0x202..0x206]);
        assert_eq!(
            d.read_range("k", kernel.len() as u64 - 2, 10).unwrap(),
            kernel[kernel.len() - 2..]
        );
        assert!(d.read_range("k", 1 << 40, 10).unwrap().is_empty());
        assert!(matches!(
            d.copy_to("k", 10, &mut Vec::new()),
            Err(crate::fs::FsError::TooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn memfd_holds_the_bytes_and_is_rewound() {
        let mut reports = Vec::new();
        let mut cb = |p: &Progress| reports.push(*p);
        let mut s = Sink::memfd(c"t", 100, Some(&mut cb)).unwrap();
        s.announce(10).unwrap();
        s.write(b"hello").unwrap();
        s.write(b"world").unwrap();
        let mut d = s.finish().unwrap();
        assert_eq!(d.size, 10);
        let mut got = String::new();
        d.file.read_to_string(&mut got).unwrap();
        assert_eq!(got, "helloworld");
        let last = reports.last().unwrap();
        assert!(last.done && last.bytes == 10 && last.total == Some(10), "{reports:?}");
    }

    #[test]
    fn budget_refuses_before_and_during() {
        let mut s = Sink::memfd(c"t", 8, None).unwrap();
        assert!(matches!(s.announce(9), Err(SinkError::TooBig { size: 9, budget: 8 })));
        s.write(b"12345678").unwrap();
        assert!(matches!(s.write(b"9"), Err(SinkError::Overflow { budget: 8 })));
        let mut s = Sink::memfd(c"t", 100, None).unwrap();
        s.announce(3).unwrap();
        assert!(matches!(s.write(b"1234"), Err(SinkError::Longer { announced: 3 })));
    }

    #[test]
    fn progress_text_and_rate() {
        let p = Progress {
            bytes: 3 << 20,
            total: Some(6 << 20),
            elapsed: Duration::from_secs(2),
            done: false,
        };
        assert_eq!(p.rate(), 3 << 19);
        assert_eq!(p.to_string(), "3.0 MiB of 6.0 MiB, 1.5 MiB/s");
        let p = Progress {
            elapsed: Duration::ZERO,
            total: None,
            ..p
        };
        assert_eq!(p.to_string(), "3.0 MiB, 0.0 MiB/s");
    }
}
