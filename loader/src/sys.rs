//! Raw syscalls that nix does not wrap. Every wrapper takes borrowed fds and a
//! `CStr`, so callers stay safe; each `unsafe` block says why its pointers and
//! lengths are valid.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Opens `path` below the directory `root` with openat2(2): every component,
/// symlinks included, is resolved with `root` as `/` (`RESOLVE_IN_ROOT`, so
/// `..` and absolute links stay inside), never through a magic link
/// (`/proc/PID/fd/…`) and never into another mounted filesystem
/// (`RESOLVE_NO_XDEV`). `flags` are open(2) flags; `O_CLOEXEC` is added, and
/// unless `O_PATH` is set `O_NOCTTY` and `O_NONBLOCK` (a FIFO must not block
/// the open). Needs Linux 5.6: older kernels answer `ENOSYS`.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    path: &std::path::Path,
    flags: nix::fcntl::OFlag,
) -> io::Result<std::fs::File> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    use std::os::fd::{FromRawFd, OwnedFd};
    // openat2 takes nothing but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC with O_PATH.
    let extra = if flags.contains(OFlag::O_PATH) {
        OFlag::O_CLOEXEC
    } else {
        OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK
    };
    let how = OpenHow::new()
        .flags(flags | extra)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | ResolveFlag::RESOLVE_NO_XDEV);
    let fd = openat2(root.as_raw_fd(), path, how).map_err(io::Error::from)?;
    // SAFETY: openat2 has just returned `fd`, a new descriptor that nothing
    // else in the process owns or will close; the OwnedFd takes it over.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(std::fs::File::from(owned))
}

/// `KEXEC_FILE_UNLOAD` from `<linux/kexec.h>`.
const KEXEC_FILE_UNLOAD: libc::c_ulong = 0x1;
/// `KEXEC_FILE_NO_INITRAMFS` from `<linux/kexec.h>`.
const KEXEC_FILE_NO_INITRAMFS: libc::c_ulong = 0x4;

/// Loads `kernel` (and `initrd`, if any) as the next kernel with `cmdline`,
/// see kexec_file_load(2). The kernel reads both files itself, verifies the
/// image format (and its signature when the running kernel demands one) and
/// keeps them until `reboot(LINUX_REBOOT_CMD_KEXEC)` or an unload.
pub fn kexec_file_load(kernel: BorrowedFd<'_>, initrd: Option<BorrowedFd<'_>>, cmdline: &CStr) -> io::Result<()> {
    let (initrd_fd, flags) = match initrd {
        Some(fd) => (fd.as_raw_fd(), 0),
        None => (-1, KEXEC_FILE_NO_INITRAMFS),
    };
    let len = cmdline.to_bytes_with_nul().len();
    // SAFETY: `kernel` and `initrd` are borrowed, so both fds stay open for the
    // whole call; `cmdline` is NUL-terminated and `len` counts that NUL, as
    // kexec_file_load(2) requires; the kernel only reads the buffer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            kernel.as_raw_fd(),
            initrd_fd,
            len,
            cmdline.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `KEXEC_ARCH_X86_64` from `<linux/kexec.h>` (architecture in the high 16 bits of the flags).
const KEXEC_ARCH_X86_64: libc::c_ulong = 62 << 16;

/// One `struct kexec_segment`.
#[repr(C)]
struct KexecSegment {
    buf: *const libc::c_void,
    bufsz: libc::size_t,
    mem: libc::c_ulong,
    memsz: libc::size_t,
}

/// Loads the segments (see [`crate::bzimage`]) as the next kernel, to start at
/// physical address `entry`, with the classic kexec_load(2). The kernel copies
/// every buffer during the call, so they may be dropped afterwards.
pub fn kexec_load(entry: u64, segments: &[crate::bzimage::Segment<'_>]) -> io::Result<()> {
    let raw: Vec<KexecSegment> = segments
        .iter()
        .map(|s| KexecSegment {
            buf: s.buf.as_ptr().cast(),
            bufsz: s.buf.len(),
            mem: s.mem as libc::c_ulong,
            memsz: s.memsz as libc::size_t,
        })
        .collect();
    // SAFETY: `raw` holds `raw.len()` initialised `struct kexec_segment`s whose
    // `buf`/`bufsz` describe live slices borrowed from `segments` for the whole
    // call; the kernel only reads them (copy_from_user) and keeps no pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            entry as libc::c_ulong,
            raw.len() as libc::c_ulong,
            raw.as_ptr(),
            KEXEC_ARCH_X86_64,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Fills `buf` from the kernel's random pool if that is initialised; `false`
/// (and `buf` untouched) when it is not yet or the call fails.
pub fn random_if_ready(buf: &mut [u8]) -> bool {
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes; with
    // GRND_NONBLOCK the call returns at once, writing at most that many bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    usize::try_from(n).is_ok_and(|n| n == buf.len())
}

/// `BLKROSET` from `<linux/fs.h>`: `_IO(0x12, 93)`.
const BLKROSET: libc::c_ulong = 0x125d;

/// Marks the block device `dev` read-only in the kernel (BLKROSET), so that
/// nothing, not even a filesystem's own recovery on a read-only mount, can
/// write to it until it is set writable again. Nothing is written to the disk.
pub fn block_set_readonly(dev: &std::fs::File) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `dev` is an open file for the whole call; BLKROSET reads one
    // `int` through the pointer, which points at `one`, alive until return.
    let rc = unsafe { libc::ioctl(dev.as_raw_fd(), BLKROSET as _, &one as *const libc::c_int) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `FS_IOC_GETFLAGS` / `FS_IOC_SETFLAGS` from `<linux/fs.h>`: `_IOR('f', 1, long)`,
/// `_IOW('f', 2, long)` (the kernel reads and writes an `int` through them).
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
/// `FS_IMMUTABLE_FL`: `chattr +i`.
const FS_IMMUTABLE_FL: libc::c_int = 0x10;

/// Clears the immutable attribute of `f` (`chattr -i`), if set (a filesystem
/// without attributes: nothing to do). efivarfs sets it on
/// every variable the kernel does not know to be safe to delete (systemd-boot's
/// among them): it must be cleared before the variable can be removed.
pub fn clear_immutable(f: &std::fs::File) -> io::Result<()> {
    let mut flags: libc::c_int = 0;
    // SAFETY: `f` is open for the whole call; FS_IOC_GETFLAGS writes one `int`
    // through the pointer, which points at `flags`, alive until return.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS as _, &mut flags as *mut libc::c_int) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        // A filesystem without attributes has nothing to clear.
        return match err.raw_os_error() {
            Some(libc::ENOTTY | libc::EOPNOTSUPP) => Ok(()),
            _ => Err(err),
        };
    }
    if flags & FS_IMMUTABLE_FL == 0 {
        return Ok(());
    }
    let cleared = flags & !FS_IMMUTABLE_FL;
    // SAFETY: as above; FS_IOC_SETFLAGS reads one `int` from `cleared`.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS as _, &cleared as *const libc::c_int) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Unloads a kernel loaded by [`kexec_file_load`]; succeeds when none is loaded.
pub fn kexec_file_unload() -> io::Result<()> {
    // SAFETY: with KEXEC_FILE_UNLOAD the kernel ignores the fds and the
    // cmdline pointer (NULL, length 0), so no memory is handed over.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            -1,
            -1,
            0usize,
            std::ptr::null::<libc::c_char>(),
            KEXEC_FILE_UNLOAD,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Signals a terminal or Ctrl-Alt-Del can send to init.
const JOB_SIGNALS: [nix::sys::signal::Signal; 8] = {
    use nix::sys::signal::Signal::*;
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE]
};

/// Ignores the [`JOB_SIGNALS`], so PID 1 is never stopped or killed by them.
pub fn ignore_job_signals() {
    use nix::sys::signal::{signal, SigHandler};
    for s in JOB_SIGNALS {
        // SAFETY: SIG_IGN installs no Rust handler, so no code runs in signal
        // context; changing a disposition to "ignore" is always sound.
        let _ = unsafe { signal(s, SigHandler::SigIgn) };
    }
}

/// Restores default dispositions of the [`JOB_SIGNALS`] (for a child such as a rescue shell).
pub fn default_job_signals() {
    use nix::sys::signal::{signal, SigHandler};
    for s in JOB_SIGNALS {
        // SAFETY: SIG_DFL installs no handler; always sound.
        let _ = unsafe { signal(s, SigHandler::SigDfl) };
    }
}

/// Starts `prog` (no arguments, PID 1's environment) as the leader of a new
/// session whose controlling terminal is `tty`, also its standard input,
/// output and error, with the default action for the [`JOB_SIGNALS`] PID 1
/// ignores; returns its pid. A rescue shell so has job control: Ctrl-C
/// interrupts what it runs, and PID 1, outside that session, is never the
/// target of a terminal's signal. (`std::process` would do the same through
/// `pre_exec`, which brings its whole fork path into the binary: 15 KB.)
pub fn spawn_session(prog: &CStr, tty: BorrowedFd<'_>) -> io::Result<i32> {
    let fd = tty.as_raw_fd();
    let argv: [*const libc::c_char; 2] = [prog.as_ptr(), std::ptr::null()];
    // SAFETY: fork(2) takes nothing. The child, a copy of a multi-threaded
    // process, makes only async-signal-safe calls below (no allocation, no
    // lock) on values prepared before the fork and ends in exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        return if pid < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(pid)
        };
    }
    // SAFETY: in the child: setsid and ioctl take no pointer (TIOCSCTTY's
    // argument is an int, 0: do not steal the terminal); signal installs no
    // handler (SIG_DFL); dup2/fcntl act on fds the child owns; `argv` is a
    // NULL-terminated array of C strings that outlive the call; _exit never
    // returns. A failed setsid or TIOCSCTTY leaves a shell without job
    // control, which still runs.
    unsafe {
        libc::setsid();
        libc::ioctl(fd, libc::TIOCSCTTY, 0);
        for s in JOB_SIGNALS {
            libc::signal(s as libc::c_int, libc::SIG_DFL);
        }
        for target in 0..3 {
            if fd == target {
                // The same fd: only its close-on-exec flag goes.
                libc::fcntl(fd, libc::F_SETFD, 0);
            } else {
                libc::dup2(fd, target);
            }
        }
        libc::execv(prog.as_ptr(), argv.as_ptr());
        libc::_exit(127)
    }
}

/// Runs `argv[0]` (looked up in `PATH`) with `argv`, the caller's environment
/// and standard error, and waits for it; returns its exit status (a signal
/// `n` as `128 + n`) and up to `max` bytes of its standard output. For the
/// CLI's few calls of system tools (`std::process::Command` costs the static
/// binary 25 KB; posix_spawn is what it uses underneath).
pub fn run(argv: &[&CStr], max: usize) -> io::Result<(i32, Vec<u8>)> {
    use std::io::Read;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut args: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    args.push(std::ptr::null_mut());
    let prog = argv.first().ok_or(io::ErrorKind::InvalidInput)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: `actions` is initialised by posix_spawn_file_actions_init
    // before use and destroyed after; the dup2 action names fds that stay
    // open for the whole call (`write_end`: dup2 clears close-on-exec on the
    // copy); `args` is a NULL-terminated array of pointers to C strings that
    // outlive the call (posix_spawn does not write through them despite the
    // `*mut` type); `environ` is the process's own environment.
    let rc = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawn_file_actions_adddup2(&mut actions, write_end.as_raw_fd(), 1);
        extern "C" {
            static environ: *const *mut libc::c_char;
        }
        let rc = libc::posix_spawnp(
            &mut pid,
            prog.as_ptr(),
            &actions,
            std::ptr::null(),
            args.as_ptr(),
            environ,
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        rc
    };
    drop(write_end);
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let mut out = Vec::new();
    // Read what fits, then drain the rest so the child never blocks on a full pipe.
    let mut pipe = std::fs::File::from(read_end);
    let _ = (&mut pipe).take(max as u64).read_to_end(&mut out);
    let _ = io::copy(&mut pipe, &mut io::sink());
    let status = loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => break code,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    Ok((status, out))
}
