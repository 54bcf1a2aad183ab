//! Each disk on a thread of its own, with a deadline on everything it is
//! asked: a disk that stops answering costs its own entries and a bounded
//! wait, never the menu (PID 1).
//!
//! ext4-view's reader is not `Send`, so a filesystem cannot be opened on one
//! thread and read on another. Each disk's thread therefore opens the disk
//! itself ([`super::disk::open_path`]: partition table, filesystems, kernel
//! mounts) and keeps its volumes; the caller gets one [`Volume`] per
//! filesystem whose [`FsView`] is a [`ThreadFs`]: every call is a request to
//! the disk's thread and a wait, with a deadline, for its answer. Discovery
//! itself (GRUB's `search` across disks, the de-duplication across configs,
//! one systemd-boot menu for the system) runs unchanged on the caller's
//! thread over all the volumes ([`Opened::discover`]).
//!
//! Deadlines: during discovery a disk has `timeout` in all, counted as the
//! time the caller spends waiting for it (opening it, which all disks do at
//! once, then every answer it gives the formats). A disk that runs out is
//! given up: every later call on it fails at once, and discovery runs again
//! without its volumes, so that the menu holds exactly what the disks that
//! finished in time give; the disk is reported as [`Problem::Stalled`].
//! After discovery (reading a kernel to boot it) each answer, a chunk of at
//! most [`CHUNK`] bytes, must come within `timeout`.
//!
//! A thread blocked in the kernel on a dead disk is left behind. It shares no
//! lock with the caller: only channels, which the caller reads with a
//! timeout, and an atomic flag. Should its read return, it finds nobody
//! listening and ends once its volumes are dropped. [`Threads`] remembers such
//! threads, so that a rescan does not start a second one on the same disk.

use super::Machine;
use crate::discover::Discovery;
use crate::fs::{FsError, FsView, Kind};
use crate::model::{DiscoveryError, Problem, Volume};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest piece of a file sent from a disk's thread in one message: the
/// most a stream holds in flight besides the caller's own buffer.
pub const CHUNK: usize = 1 << 20;

/// The disk threads of PID 1's rounds: which ones are still blocked in a read.
#[derive(Debug, Default)]
pub struct Threads {
    /// Every thread started, with its "inside a call" flag. A thread busy
    /// when a new round starts is blocked: the caller has nothing in flight.
    started: Vec<(PathBuf, Arc<AtomicBool>)>,
}

/// What the disks gave, before discovery: their volumes (reads go to the
/// disks' threads), the problems they reported, and the disks themselves.
pub struct Opened {
    /// The volumes, in disk order.
    pub volumes: Vec<Volume>,
    /// The disks' problems (a table that cannot be read, a disk that did
    /// not open in time…).
    pub errors: Vec<DiscoveryError>,
    /// Index into `links` of each volume's disk.
    owners: Vec<usize>,
    links: Vec<Rc<Link>>,
}

/// What a disk's thread runs to open its disk: path, index for GRUB names
/// (`hdN`), where problems go; the volumes it gives.
pub type Opener = dyn Fn(&Path, usize, &mut Vec<DiscoveryError>) -> Vec<Volume> + Send + Sync;

impl Threads {
    /// Opens each of `paths` (disks, images or directories) with
    /// [`super::disk::open_path`] on its own thread, all at once, and waits
    /// at most `timeout` for them; `index` numbers for GRUB names are
    /// positions in `paths`.
    pub fn open(&mut self, paths: &[PathBuf], machine: &Arc<dyn Machine + Send + Sync>, timeout: Duration) -> Opened {
        let machine = machine.clone();
        let opener: Arc<Opener> = Arc::new(move |p, i, errors| super::disk::open_path(p, i, machine.as_ref(), errors));
        self.open_with(paths, &opener, timeout)
    }

    /// [`Threads::open`] with another way to open a path (tests).
    pub fn open_with(&mut self, paths: &[PathBuf], opener: &Arc<Opener>, timeout: Duration) -> Opened {
        self.started.retain(|(_, busy)| busy.load(Ordering::Acquire));
        let start = Instant::now();
        // Each thread reports once: room for all, so no thread ever waits here.
        let (report_tx, report_rx) = mpsc::sync_channel::<Msg>(paths.len());
        let mut links: Vec<Rc<Link>> = Vec::new();
        let mut errors = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let link = Rc::new(Link::new(path, timeout));
            if self.started.iter().any(|(p, _)| p == path) {
                // Its last thread is still inside a read: do not pile up another.
                link.give_up(timeout, "still inside a read from an earlier round".into());
            } else {
                match spawn(path, i, opener, report_tx.clone()) {
                    Ok((tx, busy)) => {
                        *link.tx.borrow_mut() = Some(tx);
                        self.started.push((path.clone(), busy));
                    }
                    Err(e) => {
                        errors.push(DiscoveryError::new(path.display().to_string(), Problem::Open(e)));
                        link.give_up(Duration::ZERO, String::new());
                        link.reported.set(true);
                    }
                }
            }
            links.push(link);
        }
        drop(report_tx);
        let mut reports: Vec<Option<Report>> = paths.iter().map(|_| None).collect();
        let waiting = |reports: &[Option<Report>]| {
            reports
                .iter()
                .zip(&links)
                .any(|(r, l)| r.is_none() && l.gone.borrow().is_none())
        };
        while waiting(&reports) {
            let left = (start + timeout).saturating_duration_since(Instant::now());
            match report_rx.recv_timeout(left) {
                Ok(Msg::Opened(i, r)) => {
                    if let (Some(slot), Some(link)) = (reports.get_mut(i), links.get(i)) {
                        link.budget.set(Some(timeout.saturating_sub(start.elapsed())));
                        *slot = Some(r);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut volumes = Vec::new();
        let mut owners = Vec::new();
        for (i, (report, link)) in reports.into_iter().zip(&links).enumerate() {
            match report {
                Some(r) => {
                    errors.extend(r.errors);
                    for (vi, info) in r.volumes.into_iter().enumerate() {
                        volumes.push(info.volume(link, vi));
                        owners.push(i);
                    }
                }
                None => link.give_up(timeout, "opening its partitions".into()),
            }
        }
        Opened {
            volumes,
            errors,
            owners,
            links,
        }
    }
}

impl Opened {
    /// Finds the entries on the volumes ([`crate::discover::discover`]). A
    /// disk given up meanwhile is left out and discovery runs again without
    /// it (at most once per disk), so no entry comes from, or boots from, a
    /// disk that did not finish in time. Afterwards each answer from a disk
    /// has `timeout` of its own (reading a kernel to boot).
    pub fn discover(self) -> Discovery {
        let Opened {
            mut volumes,
            errors,
            mut owners,
            links,
        } = self;
        let mut d;
        loop {
            d = crate::discover::discover(volumes, Vec::new());
            if owners.iter().all(|&o| links.get(o).is_some_and(|l| !l.is_gone())) {
                break;
            }
            // A disk stopped answering: again, without its volumes.
            let gone = |o: &usize| links.get(*o).is_none_or(|l| l.is_gone());
            let (kept, owned): (Vec<Volume>, Vec<usize>) = std::mem::take(&mut d.volumes)
                .into_iter()
                .zip(owners)
                .filter(|(_, o)| !gone(o))
                .unzip();
            volumes = kept;
            owners = owned;
        }
        let mut all = errors;
        for l in &links {
            if let Some(p) = l.report() {
                all.push(DiscoveryError::new(l.path.display().to_string(), p));
            }
            l.log_time();
            l.budget.set(None);
        }
        all.append(&mut d.errors);
        d.errors = all;
        d
    }
}

/// What a disk's thread reports once the disk is open.
struct Report {
    volumes: Vec<VolumeInfo>,
    errors: Vec<DiscoveryError>,
}

/// A volume as the caller sees it: what [`Volume`] and [`FsView`] tell
/// without reading.
struct VolumeInfo {
    name: String,
    grub_name: String,
    any_partition: bool,
    part_uuid: Option<String>,
    part_label: Option<String>,
    fs_type: &'static str,
    uuid: Option<String>,
    label: Option<String>,
}

impl VolumeInfo {
    fn of(v: &Volume) -> Self {
        VolumeInfo {
            name: v.name.clone(),
            grub_name: v.grub_name.clone(),
            any_partition: v.any_partition,
            part_uuid: v.part_uuid.clone(),
            part_label: v.part_label.clone(),
            fs_type: v.fs.fs_type(),
            uuid: v.fs.uuid(),
            label: v.fs.label(),
        }
    }

    /// The caller's volume: volume `vol` of the disk behind `link`.
    fn volume(self, link: &Rc<Link>, vol: usize) -> Volume {
        Volume {
            fs: Box::new(ThreadFs {
                link: link.clone(),
                vol,
                name: self.name.clone(),
                fs_type: self.fs_type,
                uuid: self.uuid,
                label: self.label,
            }),
            name: self.name,
            grub_name: self.grub_name,
            any_partition: self.any_partition,
            part_uuid: self.part_uuid,
            part_label: self.part_label,
        }
    }
}

/// The [`FsView`] calls.
enum Op {
    Read(String, u64),
    Range(String, u64, usize),
    /// Streams the file; emptied chunks come back on the receiver, to be
    /// filled again (fresh memory costs a page fault per page, and under
    /// emulation those cost more than the copy).
    Copy(String, u64, Receiver<Msg>),
    Kind(String),
    Size(String),
    List(String),
}

/// Everything that crosses between the caller and a disk's thread. One
/// type, on bounded channels only: each channel type (and kind) costs
/// kilobytes of PID 1's code.
enum Msg {
    /// To the thread: an [`FsView`] call on volume `vol`, answered on `answer`.
    Ask {
        vol: usize,
        op: Op,
        answer: SyncSender<Msg>,
    },
    /// The disk `.0` is open.
    Opened(usize, Report),
    /// [`Op::Read`], [`Op::Range`].
    Bytes(Result<Vec<u8>, FsError>),
    /// A piece of an [`Op::Copy`] stream.
    Data(Vec<u8>),
    /// The end of an [`Op::Copy`] stream: its length.
    Copied(Result<u64, FsError>),
    Kind(Option<Kind>),
    Size(Option<u64>),
    List(Vec<String>),
}

/// Starts the thread for `path`: it opens the disk, reports its volumes on
/// `report` and then answers requests until its request channel closes.
fn spawn(
    path: &Path,
    index: usize,
    opener: &Arc<Opener>,
    report: SyncSender<Msg>,
) -> std::io::Result<(SyncSender<Msg>, Arc<AtomicBool>)> {
    // The caller asks one thing at a time; the room for a second is for a
    // request sent while the thread still ends an abandoned stream.
    let (tx, rx) = mpsc::sync_channel::<Msg>(2);
    let busy = Arc::new(AtomicBool::new(true));
    let (path, opener, flag) = (path.to_path_buf(), opener.clone(), busy.clone());
    let name = format!("disk {}", short(&path));
    std::thread::Builder::new()
        .name(name)
        .spawn(move || serve(&path, index, opener.as_ref(), &report, &rx, &flag))?;
    Ok((tx, busy))
}

/// The body of a disk's thread.
fn serve(
    path: &Path,
    index: usize,
    opener: &Opener,
    report: &SyncSender<Msg>,
    requests: &Receiver<Msg>,
    busy: &AtomicBool,
) {
    let mut errors = Vec::new();
    let volumes = catch_unwind(AssertUnwindSafe(|| opener(path, index, &mut errors))).unwrap_or_else(|_| {
        errors.push(DiscoveryError::new(
            path.display().to_string(),
            Problem::Crashed { format: "partition" },
        ));
        Vec::new()
    });
    let infos = volumes.iter().map(VolumeInfo::of).collect();
    busy.store(false, Ordering::Release);
    let _ = report.send(Msg::Opened(index, Report { volumes: infos, errors }));
    for req in requests {
        let Msg::Ask { vol, op, answer: to } = req else {
            continue;
        };
        busy.store(true, Ordering::Release);
        if let Some(v) = volumes.get(vol) {
            // A panic drops the answer's sender: the caller sees the disk fail.
            let _ = catch_unwind(AssertUnwindSafe(|| answer(v.fs.as_ref(), op, &to)));
        }
        busy.store(false, Ordering::Release);
    }
}

/// Carries out one call on `fs` and sends its answer (nobody may be
/// listening any more: then the answer is dropped).
fn answer(fs: &dyn FsView, op: Op, out: &SyncSender<Msg>) {
    let a = match op {
        Op::Read(path, limit) => Msg::Bytes(fs.read(&path, limit)),
        Op::Range(path, offset, len) => Msg::Bytes(fs.read_range(&path, offset, len)),
        Op::Kind(path) => Msg::Kind(fs.kind(&path)),
        Op::Size(path) => Msg::Size(fs.size(&path)),
        Op::List(path) => Msg::List(fs.list(&path)),
        Op::Copy(path, limit, spare) => {
            let mut w = ChunkWriter {
                out: out.clone(),
                spare,
                buf: Vec::new(),
            };
            let done = fs.copy_to(&path, limit, &mut w).and_then(|n| {
                w.send().map(|()| n).map_err(|source| FsError::Io {
                    path: path.clone(),
                    source,
                })
            });
            Msg::Copied(done)
        }
    };
    drop(out.send(a));
}

/// Cuts a stream into [`CHUNK`]-sized messages.
struct ChunkWriter {
    out: SyncSender<Msg>,
    /// Chunks the caller has emptied.
    spare: Receiver<Msg>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.out
            .send(Msg::Data(data))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "nobody reads this file any more"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        if self.buf.capacity() == 0 {
            self.buf = match self.spare.try_recv() {
                Ok(Msg::Data(mut v)) => {
                    v.clear();
                    v
                }
                _ => Vec::with_capacity(CHUNK),
            };
        }
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(b.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A disk's thread as the caller sees it: where requests go, and the
/// deadline bookkeeping.
struct Link {
    path: PathBuf,
    /// Requests; `None` when no thread was started.
    tx: RefCell<Option<SyncSender<Msg>>>,
    /// The deadline (`hopboot.disk_timeout=`).
    timeout: Duration,
    /// What is left of the disk's time for this discovery; `None` once
    /// discovery is over (then each answer gets `timeout`).
    budget: Cell<Option<Duration>>,
    /// Why the disk was given up, once it is: how long it had, what it was asked.
    gone: RefCell<Option<(Duration, String)>>,
    /// Whether `gone` was already reported.
    reported: Cell<bool>,
}

impl Link {
    fn new(path: &Path, timeout: Duration) -> Self {
        Link {
            path: path.to_path_buf(),
            tx: RefCell::new(None),
            timeout,
            budget: Cell::new(Some(timeout)),
            gone: RefCell::new(None),
            reported: Cell::new(false),
        }
    }

    fn is_gone(&self) -> bool {
        self.gone.borrow().is_some()
    }

    fn give_up(&self, after: Duration, doing: String) {
        let mut g = self.gone.borrow_mut();
        if g.is_none() {
            log::warn!(
                "{}: no answer ({doing}) within {} ms; giving the disk up",
                self.path.display(),
                after.as_millis()
            );
            *g = Some((after, doing));
        }
        // No more requests: the thread ends once its read returns.
        self.tx.borrow_mut().take();
    }

    /// The problem to report for this disk, once.
    fn report(&self) -> Option<Problem> {
        let g = self.gone.borrow();
        let (after, doing) = g.as_ref()?;
        if self.reported.replace(true) {
            return None;
        }
        Some(Problem::Stalled {
            after: *after,
            doing: doing.clone(),
        })
    }

    fn log_time(&self) {
        if let Some(left) = self.budget.get().filter(|_| !self.is_gone()) {
            log::info!(
                "{}: answered discovery in {} ms of its {} ms",
                self.path.display(),
                self.timeout.saturating_sub(left).as_millis(),
                self.timeout.as_millis()
            );
        }
    }

    /// Sends `op` for volume `vol`; its answers come on the returned
    /// channel (`None` when the disk is given up). At most one answer waits
    /// there: a stream's next piece is read only when the last is taken.
    fn send(&self, vol: usize, op: Op, doing: impl FnOnce() -> String) -> Option<Receiver<Msg>> {
        let (answer, rx) = mpsc::sync_channel(1);
        let sent = self.tx.borrow().as_ref()?.try_send(Msg::Ask { vol, op, answer });
        let why = match sent {
            Ok(()) => return Some(rx),
            Err(TrySendError::Full(_)) => "still busy with earlier requests",
            Err(TrySendError::Disconnected(_)) => "its thread ended (bug)",
        };
        self.give_up(self.timeout, format!("{}: {why}", doing()));
        None
    }

    /// Waits for an answer on `rx` within the disk's deadline; `None` (and
    /// the disk given up) when it does not come.
    fn wait(&self, rx: &Receiver<Msg>, doing: impl FnOnce() -> String) -> Option<Msg> {
        if self.is_gone() {
            return None;
        }
        let limit = self.budget.get().unwrap_or(self.timeout);
        let asked = Instant::now();
        let r = rx.recv_timeout(limit);
        if let Some(left) = self.budget.get() {
            self.budget.set(Some(left.saturating_sub(asked.elapsed())));
        }
        match r {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => {
                let after = if self.budget.get().is_some() {
                    self.timeout
                } else {
                    limit
                };
                self.give_up(after, doing());
                None
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.give_up(self.timeout, format!("{}: its thread ended (bug)", doing()));
                None
            }
        }
    }

    /// One call: the request, then its answer within the deadline.
    fn call(&self, vol: usize, op: Op, doing: impl Fn() -> String) -> Option<Msg> {
        if self.is_gone() {
            return None;
        }
        let rx = self.send(vol, op, &doing)?;
        self.wait(&rx, doing)
    }

    /// The error a read from a given-up disk returns.
    fn error(&self, path: &str) -> FsError {
        let g = self.gone.borrow();
        let after = g.as_ref().map_or(self.timeout, |(a, _)| *a);
        FsError::Io {
            path: path.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{} stopped answering ({} ms, hopboot.disk_timeout)",
                    short(&self.path),
                    after.as_millis()
                ),
            ),
        }
    }
}

/// `vdb` for `/dev/vdb`.
fn short(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A filesystem read by its disk's thread: each call is a request to that
/// thread and a wait, with the disk's deadline, for the answer.
pub struct ThreadFs {
    link: Rc<Link>,
    vol: usize,
    /// The volume's name ("vdb1"), for messages.
    name: String,
    fs_type: &'static str,
    uuid: Option<String>,
    label: Option<String>,
}

impl ThreadFs {
    fn doing<'a>(&'a self, what: &'a str, path: &'a str) -> impl Fn() -> String + 'a {
        move || format!("{what} {}:{path}", self.name)
    }
}

impl FsView for ThreadFs {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        match self
            .link
            .call(self.vol, Op::Read(path.into(), limit), self.doing("reading", path))
        {
            Some(Msg::Bytes(r)) => r,
            _ => Err(self.link.error(path)),
        }
    }

    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let doing = self.doing("reading", path);
        let (spare, spares) = mpsc::sync_channel(2);
        let Some(rx) = self.link.send(self.vol, Op::Copy(path.into(), limit, spares), &doing) else {
            return Err(self.link.error(path));
        };
        loop {
            match self.link.wait(&rx, &doing) {
                Some(Msg::Data(d)) => {
                    out.write_all(&d).map_err(|source| FsError::Io {
                        path: path.to_string(),
                        source,
                    })?;
                    let _ = spare.try_send(Msg::Data(d));
                }
                Some(Msg::Copied(r)) => return r,
                _ => return Err(self.link.error(path)),
            }
        }
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        match self.link.call(
            self.vol,
            Op::Range(path.into(), offset, len),
            self.doing("reading", path),
        ) {
            Some(Msg::Bytes(r)) => r,
            _ => Err(self.link.error(path)),
        }
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        match self
            .link
            .call(self.vol, Op::Kind(path.into()), self.doing("looking up", path))
        {
            Some(Msg::Kind(k)) => k,
            _ => None,
        }
    }

    fn size(&self, path: &str) -> Option<u64> {
        match self
            .link
            .call(self.vol, Op::Size(path.into()), self.doing("looking up", path))
        {
            Some(Msg::Size(s)) => s,
            _ => None,
        }
    }

    fn list(&self, path: &str) -> Vec<String> {
        match self
            .link
            .call(self.vol, Op::List(path.into()), self.doing("listing", path))
        {
            Some(Msg::List(l)) => l,
            _ => Vec::new(),
        }
    }

    fn uuid(&self) -> Option<String> {
        self.uuid.clone()
    }

    fn label(&self) -> Option<String> {
        self.label.clone()
    }

    fn fs_type(&self) -> &'static str {
        self.fs_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::test_tree as tree;
    use std::sync::atomic::AtomicUsize;

    /// A filesystem that, on the calls naming one of `stall`, takes `for_`
    /// before answering: a disk that stops answering at that point.
    struct Stalling {
        inner: Box<dyn FsView>,
        stall: Vec<String>,
        for_: Duration,
    }

    impl Stalling {
        fn pause(&self, path: &str) {
            if self.stall.iter().any(|s| s == path) {
                std::thread::sleep(self.for_);
            }
        }
    }

    impl FsView for Stalling {
        fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
            self.pause(path);
            self.inner.read(path, limit)
        }
        fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
            // Half the file, then the stall: a disk that stops mid-kernel.
            let all = self.inner.read(path, limit)?;
            let half = all.get(..all.len() / 2).unwrap_or_default();
            out.write_all(half).map_err(|source| FsError::Io {
                path: path.into(),
                source,
            })?;
            self.pause(path);
            out.write_all(all.get(half.len()..).unwrap_or_default())
                .map_err(|source| FsError::Io {
                    path: path.into(),
                    source,
                })?;
            Ok(all.len() as u64)
        }
        fn kind(&self, path: &str) -> Option<Kind> {
            self.pause(path);
            self.inner.kind(path)
        }
        fn size(&self, path: &str) -> Option<u64> {
            self.pause(path);
            self.inner.size(path)
        }
        fn list(&self, path: &str) -> Vec<String> {
            self.pause(path);
            self.inner.list(path)
        }
        fn uuid(&self) -> Option<String> {
            self.inner.uuid()
        }
        fn label(&self) -> Option<String> {
            self.inner.label()
        }
        fn fs_type(&self) -> &'static str {
            self.inner.fs_type()
        }
    }

    const TIMEOUT: Duration = Duration::from_millis(400);
    // Long enough that two rounds on a loaded 2-core machine end before a stalled read
    // returns (1.5 s was not: the second round then saw the disk answer again).
    const STALL: Duration = Duration::from_millis(3000);

    fn extlinux(label: &str) -> String {
        format!("DEFAULT {label}\nLABEL {label}\n  KERNEL /boot/vmlinuz-{label}\n  APPEND ro\n")
    }

    /// Disks given as directories: `stalls[i]` are the paths on which disk
    /// `i` stops answering; `slow_open` disks take [`STALL`] to open. Counts
    /// the opens.
    fn opener(stalls: Vec<Vec<&'static str>>, slow_open: Vec<usize>, opens: Arc<AtomicUsize>) -> Arc<Opener> {
        Arc::new(move |p: &Path, i: usize, _: &mut Vec<DiscoveryError>| {
            opens.fetch_add(1, Ordering::SeqCst);
            if slow_open.contains(&i) {
                std::thread::sleep(STALL);
            }
            let mut v = crate::source::dir::volume(p, i);
            let stall = stalls.get(i).cloned().unwrap_or_default();
            v.fs = Box::new(Stalling {
                inner: v.fs,
                stall: stall.into_iter().map(str::to_string).collect(),
                for_: STALL,
            });
            vec![v]
        })
    }

    fn messages(d: &Discovery) -> Vec<String> {
        d.errors.iter().map(|e| format!("{}: {}", e.path, e.problem)).collect()
    }

    /// Three disks: a healthy one, one that stops answering after its
    /// config was read (checking the kernel), one that never opens. The
    /// healthy one's entry shows within the deadline; the others are named,
    /// and nothing they half-answered (a "kernel not found") is kept.
    #[test]
    fn a_disk_that_stops_answering_costs_only_its_own_entries() {
        let disks: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|l| {
                tree(&[
                    ("boot/extlinux/extlinux.conf", &extlinux(l)),
                    (&format!("boot/vmlinuz-{l}"), "kernel"),
                ])
            })
            .collect();
        let paths: Vec<PathBuf> = disks.iter().map(|d| d.path().to_path_buf()).collect();
        let opens = Arc::new(AtomicUsize::new(0));
        let open = opener(vec![vec![], vec!["/boot/vmlinuz-b"]], vec![2], opens.clone());
        let mut threads = Threads::default();
        let start = Instant::now();
        let d = threads.open_with(&paths, &open, TIMEOUT).discover();
        let took = start.elapsed();
        // Opening (all disks at once) and the checks each have the deadline at most.
        assert!(took < TIMEOUT * 2 + Duration::from_millis(500), "{took:?}");
        let kernels: Vec<&str> = d.entries.iter().map(|e| e.kernel.as_str()).collect();
        assert_eq!(kernels, ["/boot/vmlinuz-a"]);
        assert!(d.entries[0].default);
        let msgs = messages(&d);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        let b = &msgs
            .iter()
            .find(|m| m.starts_with(&paths[1].display().to_string()))
            .unwrap();
        assert!(
            b.contains("stopped answering after 0.4 s, left out (looking up ") && b.ends_with(":/boot/vmlinuz-b)"),
            "{b}"
        );
        let c = format!(
            "{}: stopped answering after 0.4 s, left out (opening its partitions)",
            paths[2].display()
        );
        assert!(msgs.contains(&c), "{msgs:?}");

        // The next round does not start a second thread on the disks whose
        // first is still blocked; the healthy one is opened again.
        let before = opens.load(Ordering::SeqCst);
        let d = threads.open_with(&paths, &open, TIMEOUT).discover();
        assert_eq!(opens.load(Ordering::SeqCst), before + 1);
        assert_eq!(d.entries.len(), 1);
        let msgs = messages(&d);
        for p in &paths[1..] {
            let m = format!(
                "{}: stopped answering after 0.4 s, left out (still inside a read from an earlier round)",
                p.display()
            );
            assert!(msgs.iter().any(|x| x.starts_with(&m)), "{msgs:?}");
        }
        // Once their reads return, they are opened again.
        std::thread::sleep(STALL);
        let d = threads.open_with(&paths, &open, TIMEOUT).discover();
        assert_eq!(opens.load(Ordering::SeqCst), before + 4);
        assert_eq!(d.entries.len(), 1, "{:?}", messages(&d));
    }

    /// After discovery, files stream through the disk's thread in chunks;
    /// a disk that stops in the middle of a kernel fails the read within
    /// the deadline instead of blocking the caller.
    #[test]
    fn reads_after_discovery_stream_and_have_a_deadline() {
        let big: String = (0..3 * CHUNK + 123)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let disk = tree(&[
            ("boot/extlinux/extlinux.conf", &extlinux("a")),
            ("boot/vmlinuz-a", &big),
            ("boot/stuck", &big),
        ]);
        let open = opener(vec![vec!["/boot/stuck"]], vec![], Arc::new(AtomicUsize::new(0)));
        let d = Threads::default()
            .open_with(&[disk.path().to_path_buf()], &open, TIMEOUT)
            .discover();
        let fs = d.volumes[0].fs.as_ref();
        let mut out = Vec::new();
        assert_eq!(
            fs.copy_to("/boot/vmlinuz-a", u64::MAX, &mut out).unwrap(),
            big.len() as u64
        );
        assert!(out == big.as_bytes());
        assert_eq!(fs.read_range("/boot/vmlinuz-a", 5, 3).unwrap(), &big.as_bytes()[5..8]);
        assert_eq!(fs.size("/boot/vmlinuz-a"), Some(big.len() as u64));
        assert_eq!(fs.list("/boot"), ["extlinux", "stuck", "vmlinuz-a"]);
        assert!(matches!(fs.read("/nothing", 10), Err(FsError::NotFound(_))));
        // Discovery's budget does not apply any more: each answer has the deadline.
        std::thread::sleep(TIMEOUT);
        assert!(fs.is_file("/boot/vmlinuz-a"));
        let start = Instant::now();
        let e = fs.copy_to("/boot/stuck", u64::MAX, &mut Vec::new()).unwrap_err();
        assert!(start.elapsed() < TIMEOUT * 2, "{:?}", start.elapsed());
        assert!(e.to_string().contains("stopped answering"), "{e}");
        // Given up: the next call fails at once.
        let start = Instant::now();
        assert!(fs.read("/boot/vmlinuz-a", u64::MAX).is_err());
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
