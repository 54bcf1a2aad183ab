//! TPM 2.0 measurements (issue 14): before kexec, what is booted is extended
//! into the TPM's PCRs the way GRUB does it, so attestation policies and
//! sealed secrets written for GRUB understand a boot through hopboot, and a
//! canonical event log (CEL-JSON, as systemd writes `tpm2-measure.log`) goes
//! to the booted system in a cpio archive after the initrds.
//!
//! GRUB's convention (grub-core/commands/tpm.c, the GRUB manual's "Measured
//! Boot"; docs/trust.md says where hopboot differs):
//! - PCR 8: strings. The kernel command line is measured with the event
//!   text `kernel_cmdline: <line>`: the digest is of the line alone, without
//!   the prefix and without a NUL; the line is what follows `BOOT_IMAGE=`
//!   (GRUB measures the arguments of `linux`, kernel path first, before it
//!   puts `BOOT_IMAGE=` in front).
//! - PCR 9: files, each with its name as the event text; the digest is of
//!   the file's bytes. hopboot measures the kernel and each initrd, in the
//!   order GRUB reads them (kernel, then the command line into PCR 8, then
//!   the initrds).
//! - Every event is `EV_IPL` (13), its event data the text with its NUL.
//!
//! The TPM is reached through `/dev/tpmrm0` (the kernel's resource manager)
//! or `/dev/tpm0`, with command buffers built here (TPM 2.0 Library, Part 3:
//! `TPM2_GetCapability` for the allocated PCR banks, `TPM2_PCR_Extend` with a
//! digest for every allocated bank hopboot can compute). Responses are
//! parsed defensively: a wrong size or a short field is an error, never a
//! panic. No TPM: the boot goes on, and says once that it was not measured.

use crate::kexec::Boot;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::Mutex;

/// GRUB's PCR for strings: commands and command lines.
pub const STRING_PCR: u32 = 8;
/// GRUB's PCR for the files it reads.
pub const FILE_PCR: u32 = 9;
/// `EV_IPL` (TCG PC Client Platform Firmware Profile, event types): the type
/// of every GRUB measurement.
pub const EV_IPL: u32 = 0x0d;
/// Where the event log is in the booted system's initramfs (the cpio archive
/// hopboot adds after the initrds). `/.extra/` is where systemd-stub puts
/// what it passes to the initrd; `hopboot/` keeps it apart from its files.
pub const LOG_IN_INITRD: &str = ".extra/hopboot/tpm2-measure.log";
/// The TPM devices, in the order they are tried.
pub const DEVICES: [&str; 2] = ["/dev/tpmrm0", "/dev/tpm0"];

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_PCR_EXTEND: u32 = 0x0000_0182;
const TPM_CC_GET_CAPABILITY: u32 = 0x0000_017a;
const TPM_CAP_PCRS: u32 = 5;
/// The password session with an empty password: PCRs 0-15 need no other.
const TPM_RS_PW: u32 = 0x4000_0009;
/// The kernel's TPM_BUFSIZE: no command or response is longer.
const MAX_RESPONSE: usize = 4096;
/// More banks than any TPM has (TPM_ALG_ID is 16 bits, a real TPM has a few).
const MAX_BANKS: u32 = 16;

/// A hash algorithm of a PCR bank that hopboot can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// TPM_ALG_SHA1.
    Sha1,
    /// TPM_ALG_SHA256.
    Sha256,
    /// TPM_ALG_SHA384.
    Sha384,
    /// TPM_ALG_SHA512.
    Sha512,
}

impl Alg {
    /// Its TPM_ALG_ID.
    pub fn id(self) -> u16 {
        match self {
            Alg::Sha1 => 0x0004,
            Alg::Sha256 => 0x000b,
            Alg::Sha384 => 0x000c,
            Alg::Sha512 => 0x000d,
        }
    }

    /// The algorithm of a TPM_ALG_ID, when hopboot has it.
    pub fn from_id(id: u16) -> Option<Alg> {
        [Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512]
            .into_iter()
            .find(|a| a.id() == id)
    }

    /// Its name in CEL-JSON (`hashAlg`) and in sysfs (`pcr-sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Sha1 => "sha1",
            Alg::Sha256 => "sha256",
            Alg::Sha384 => "sha384",
            Alg::Sha512 => "sha512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Alg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Alg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Alg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Alg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The PCR after extending `pcr` with `digest`: H(pcr || digest).
    pub fn extend(self, pcr: &[u8], digest: &[u8]) -> Vec<u8> {
        self.digest(&[pcr, digest].concat())
    }
}

/// A PCR bank the TPM has allocated: its algorithm and which PCRs it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bank {
    /// TPM_ALG_ID.
    pub alg: u16,
    /// Bit N: PCR N is in the bank (PCRs 0-31).
    pub pcrs: u32,
}

impl Bank {
    /// Whether `pcr` is allocated in this bank.
    pub fn has(&self, pcr: u32) -> bool {
        pcr < 32 && self.pcrs & (1 << pcr) != 0
    }
}

/// What went wrong talking to the TPM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TpmError {
    /// Shorter than the field being read.
    #[error("TPM response cut short ({0})")]
    Short(&'static str),
    /// The header's size is not what arrived.
    #[error("TPM response says {said} bytes, {got} arrived")]
    Size {
        /// The header's responseSize.
        said: u32,
        /// Bytes read.
        got: usize,
    },
    /// The TPM refused the command.
    #[error("the TPM answered {0:#x}")]
    Rc(u32),
    /// Not a TPM 2.0 response, or not the one asked for.
    #[error("not a TPM 2.0 response: {0}")]
    Corrupt(&'static str),
    /// Reading or writing the device failed.
    #[error("{0}")]
    Io(String),
}

/// Reads big-endian fields from a response, each read checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TpmError> {
        if self.0.len() < n {
            return Err(TpmError::Short(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, TpmError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, TpmError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes(b.try_into().map_err(|_| TpmError::Short(what))?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, TpmError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes(b.try_into().map_err(|_| TpmError::Short(what))?))
    }
}

/// A command: header (tag, size filled in, code) then `body`.
fn command(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(body.len().saturating_add(10)).unwrap_or(u32::MAX);
    let mut c = Vec::with_capacity(body.len().saturating_add(10));
    c.extend_from_slice(&tag.to_be_bytes());
    c.extend_from_slice(&size.to_be_bytes());
    c.extend_from_slice(&code.to_be_bytes());
    c.extend_from_slice(body);
    c
}

/// `TPM2_GetCapability(TPM_CAP_PCRS)`: the allocated PCR banks.
pub fn get_pcr_banks_command() -> Vec<u8> {
    let mut body = Vec::with_capacity(12);
    body.extend_from_slice(&TPM_CAP_PCRS.to_be_bytes());
    body.extend_from_slice(&0u32.to_be_bytes()); // property: from the first bank
    body.extend_from_slice(&MAX_BANKS.to_be_bytes()); // propertyCount
    command(TPM_ST_NO_SESSIONS, TPM_CC_GET_CAPABILITY, &body)
}

/// `TPM2_PCR_Extend(pcr, digests)` with the empty-password session.
pub fn pcr_extend_command(pcr: u32, digests: &[(Alg, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&pcr.to_be_bytes()); // pcrHandle: a PCR's handle is its number
                                                // Authorization area: one TPMS_AUTH_COMMAND of 9 bytes.
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(&TPM_RS_PW.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes()); // nonce: empty
    body.push(0); // sessionAttributes
    body.extend_from_slice(&0u16.to_be_bytes()); // hmac: the empty password
                                                 // TPML_DIGEST_VALUES.
    let count = u32::try_from(digests.len()).unwrap_or(u32::MAX);
    body.extend_from_slice(&count.to_be_bytes());
    for (alg, d) in digests {
        body.extend_from_slice(&alg.id().to_be_bytes());
        body.extend_from_slice(d);
    }
    command(TPM_ST_SESSIONS, TPM_CC_PCR_EXTEND, &body)
}

/// Checks a response's header (size, return code, tag) and returns what follows it.
pub fn response_body(resp: &[u8]) -> Result<&[u8], TpmError> {
    let mut c = Cursor(resp);
    let tag = c.u16("tag")?;
    let said = c.u32("responseSize")?;
    let rc = c.u32("responseCode")?;
    if usize::try_from(said).ok() != Some(resp.len()) {
        return Err(TpmError::Size { said, got: resp.len() });
    }
    if rc != 0 {
        return Err(TpmError::Rc(rc));
    }
    if tag != TPM_ST_NO_SESSIONS && tag != TPM_ST_SESSIONS {
        return Err(TpmError::Corrupt("unknown tag"));
    }
    Ok(c.0)
}

/// The banks in a `TPM2_GetCapability(TPM_CAP_PCRS)` response.
pub fn parse_pcr_banks(resp: &[u8]) -> Result<Vec<Bank>, TpmError> {
    let mut c = Cursor(response_body(resp)?);
    let _more_data = c.u8("moreData")?;
    if c.u32("capability")? != TPM_CAP_PCRS {
        return Err(TpmError::Corrupt("not the PCR capability asked for"));
    }
    let count = c.u32("TPML_PCR_SELECTION.count")?;
    if count > MAX_BANKS {
        return Err(TpmError::Corrupt("more PCR banks than asked for"));
    }
    let mut banks = Vec::new();
    for _ in 0..count {
        let alg = c.u16("TPMS_PCR_SELECTION.hash")?;
        let n = c.u8("sizeofSelect")?;
        let select = c.take(usize::from(n), "pcrSelect")?;
        // Bit i of byte j is PCR 8j+i; PCRs past 31 are not ones hopboot uses.
        let pcrs = select
            .iter()
            .take(4)
            .enumerate()
            .fold(0u32, |acc, (j, &b)| acc | (u32::from(b) << (8 * j)));
        banks.push(Bank { alg, pcrs });
    }
    if !c.0.is_empty() {
        return Err(TpmError::Corrupt("bytes after the PCR banks"));
    }
    Ok(banks)
}

/// Checks a `TPM2_PCR_Extend` response: success, with its (empty) session.
pub fn parse_extend_response(resp: &[u8]) -> Result<(), TpmError> {
    let mut c = Cursor(response_body(resp)?);
    if resp.get(..2) != Some(&TPM_ST_SESSIONS.to_be_bytes()[..]) {
        return Err(TpmError::Corrupt("PCR_Extend answered without its session"));
    }
    let params = c.u32("parameterSize")?;
    if params != 0 {
        return Err(TpmError::Corrupt("PCR_Extend returned parameters"));
    }
    // TPMS_AUTH_RESPONSE: nonce, attributes, hmac.
    let nonce = c.u16("nonce size")?;
    c.take(usize::from(nonce), "nonce")?;
    c.u8("sessionAttributes")?;
    let hmac = c.u16("hmac size")?;
    c.take(usize::from(hmac), "hmac")?;
    if !c.0.is_empty() {
        return Err(TpmError::Corrupt("bytes after the session"));
    }
    Ok(())
}

/// An open TPM character device.
struct Device {
    file: std::fs::File,
    path: &'static str,
}

impl Device {
    /// The first of [`DEVICES`] that opens; `Ok(None)` when there is none.
    fn open() -> Result<Option<Device>, String> {
        for path in DEVICES {
            match std::fs::OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => return Ok(Some(Device { file, path })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{path}: {e}")),
            }
        }
        Ok(None)
    }

    /// Sends one command and reads its response (the kernel's TPM driver
    /// takes a whole command per write and returns the response to a read).
    fn transact(&mut self, cmd: &[u8]) -> Result<Vec<u8>, TpmError> {
        let io = |e: std::io::Error| TpmError::Io(format!("{}: {e}", self.path));
        self.file.write_all(cmd).map_err(io)?;
        let mut buf = vec![0u8; MAX_RESPONSE];
        let n = self.file.read(&mut buf).map_err(io)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// One thing to measure, GRUB's way: `bytes` are hashed into `pcr`, the
/// event data is `text` and a NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement<'a> {
    /// The PCR.
    pub pcr: u32,
    /// The event's text (`kernel_cmdline: …`, a file's path).
    pub text: String,
    /// What is hashed.
    pub bytes: &'a [u8],
    /// The SHA-256 of `bytes` when it is already known (the signature check
    /// hashed the kernel and initrds first), so the SHA-256 bank does not
    /// hash them again.
    pub sha256: Option<[u8; 32]>,
}

/// A measured event, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The PCR.
    pub pcr: u32,
    /// The event type ([`EV_IPL`]).
    pub event_type: u32,
    /// The event data: the text and its NUL.
    pub data: Vec<u8>,
    /// One digest per bank extended.
    pub digests: Vec<(Alg, Vec<u8>)>,
}

/// What GRUB would measure for this boot, in its order: the kernel (PCR 9),
/// the command line (PCR 8), each initrd (PCR 9).
pub fn boot_measurements<'a>(boot: &'a Boot<'_>) -> Vec<Measurement<'a>> {
    let kernel = &boot.entry.kernel;
    // A UKI's kernel is its .linux section (GRUB would measure the whole file).
    let kernel_name = if kernel.to_ascii_lowercase().ends_with(".efi") {
        format!("{kernel}:.linux")
    } else {
        kernel.clone()
    };
    let line = boot.cmdline.strip_prefix("BOOT_IMAGE=").unwrap_or(boot.cmdline);
    let (kernel_sha256, initrd_sha256s) = boot.images.known_sha256s();
    let mut m = vec![
        Measurement {
            pcr: FILE_PCR,
            text: kernel_name,
            bytes: &boot.images.kernel,
            sha256: kernel_sha256,
        },
        Measurement {
            pcr: STRING_PCR,
            text: format!("kernel_cmdline: {line}"),
            bytes: line.as_bytes(),
            sha256: None,
        },
    ];
    for (i, (name, bytes)) in boot.images.initrds().enumerate() {
        m.push(Measurement {
            pcr: FILE_PCR,
            text: name.to_string(),
            bytes,
            sha256: initrd_sha256s.and_then(|d| d.get(i)).copied(),
        });
    }
    m
}

/// The events for `items` in the banks `algs`.
pub fn events(items: &[Measurement<'_>], algs: &[Alg]) -> Vec<Event> {
    // One algorithm after the other: hashing on a thread per bank cost 12 KB
    // of binary for little (SHA-1 and SHA-256 run on the CPU's SHA extensions).
    let per_alg: Vec<Vec<Vec<u8>>> = algs
        .iter()
        .map(|&a| {
            items
                .iter()
                .map(|m| match (a, m.sha256) {
                    (Alg::Sha256, Some(d)) => d.to_vec(),
                    _ => a.digest(m.bytes),
                })
                .collect()
        })
        .collect();
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut data = m.text.as_bytes().to_vec();
            data.push(0);
            let digests = algs
                .iter()
                .zip(&per_alg)
                .filter_map(|(&a, ds)| Some((a, ds.get(i)?.clone())))
                .collect();
            Event {
                pcr: m.pcr,
                event_type: EV_IPL,
                data,
                digests,
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One CEL-JSON record as a JSON-SEQ item (RFC 7464: RS, the JSON text, LF),
/// as systemd appends to `/run/log/systemd/tpm2-measure.log`; the content is
/// the TCG `pcclient_std` kind (event type and hex event data), as in the CEL
/// specification's JSON example.
pub fn cel_record(recnum: u64, e: &Event) -> String {
    let mut o = format!("\u{1e}{{\"recnum\":{recnum},\"pcr\":{},\"digests\":[", e.pcr);
    for (i, (alg, d)) in e.digests.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(o, "{comma}{{\"hashAlg\":\"{}\",\"digest\":\"{}\"}}", alg.name(), hex(d));
    }
    let event_type = match e.event_type {
        EV_IPL => "\"EV_IPL\"".to_string(),
        n => n.to_string(),
    };
    let _ = writeln!(
        o,
        "],\"content_type\":\"pcclient_std\",\"content\":{{\"event_type\":{event_type},\"event_data\":\"{}\"}}}}",
        hex(&e.data)
    );
    o
}

/// A newc cpio archive carrying `log` at [`LOG_IN_INITRD`] (its directories
/// first: the kernel creates no parents), readable by all.
pub fn log_archive(log: &[u8]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let namesize = u32::try_from(name.len().saturating_add(1)).unwrap_or(u32::MAX);
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
        // devminor, rdevmajor, rdevminor, namesize, check.
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let mut out = Vec::with_capacity(log.len().saturating_add(512));
    let mut ino = 0x686f_7000; // apart from the numbers image builders count from 0
    let mut dir = String::new();
    let parents: Vec<&str> = LOG_IN_INITRD.split('/').collect();
    for part in parents.iter().take(parents.len().saturating_sub(1)) {
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(part);
        entry(&mut out, ino, 0o040755, &dir, &[]);
        ino += 1;
    }
    entry(&mut out, ino, 0o100444, LOG_IN_INITRD, log);
    entry(&mut out, 0, 0, "TRAILER!!!", &[]);
    out
}

/// The log kept across boot attempts of this process: the PCRs keep every
/// extend, so the log keeps every record (a refused load, the shell).
struct State {
    log: Vec<u8>,
    recnum: u64,
    /// `recnum` when [`gate`] last put the log into an initrd.
    in_initrd: u64,
    said_absent: bool,
    /// What [`gate_deferred`] hashed and logged into the loaded kernel's
    /// initrd, for [`commit`] to extend when that kernel is booted.
    pending: Vec<Event>,
}

static STATE: Mutex<State> = Mutex::new(State {
    log: Vec::new(),
    recnum: 0,
    in_initrd: 0,
    said_absent: false,
    pending: Vec::new(),
});

/// Whether events were measured since [`gate`] last put the log into an
/// initrd (the rescue shell's): a kernel loaded before then carries a log
/// that no longer explains the PCRs, and must be loaded (and measured) again.
pub fn log_grew_since_load() -> bool {
    let st = state();
    st.recnum != st.in_initrd
}

/// The log so far as the archive for the initrd.
fn archive_for_initrd() -> Vec<u8> {
    let mut st = state();
    st.in_initrd = st.recnum;
    log_archive(&st.log)
}

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The events for `items` in the TPM's allocated banks (each digest only for
/// a bank that has its PCR), and the device to extend them in. `Ok(None)`:
/// there is no TPM (said once).
fn prepare(items: &[Measurement<'_>]) -> Result<Option<(Device, Vec<Event>)>, String> {
    let Some(mut dev) = Device::open()? else {
        let mut st = state();
        if !std::mem::replace(&mut st.said_absent, true) {
            log::warn!("no TPM ({}): booting without measurements", DEVICES.join(", "));
        }
        return Ok(None);
    };
    let banks = dev
        .transact(&get_pcr_banks_command())
        .and_then(|r| parse_pcr_banks(&r))
        .map_err(|e| format!("{}: reading the PCR banks: {e}", dev.path))?;
    let pcrs: Vec<u32> = items.iter().map(|m| m.pcr).collect();
    let mut algs = Vec::new();
    for b in banks.iter().filter(|b| pcrs.iter().any(|&p| b.has(p))) {
        match Alg::from_id(b.alg) {
            Some(a) => algs.push(a),
            None => log::warn!("TPM bank {:#06x}: an algorithm hopboot lacks, left unmeasured", b.alg),
        }
    }
    let events = events(items, &algs)
        .into_iter()
        .map(|e| Event {
            digests: e
                .digests
                .iter()
                .filter(|(a, _)| banks.iter().any(|b| b.alg == a.id() && b.has(e.pcr)))
                .cloned()
                .collect(),
            ..e
        })
        .collect();
    Ok(Some((dev, events)))
}

/// Extends `events` in `dev`, in order, logging each as it goes in.
fn extend(dev: &mut Device, events: &[Event]) -> Result<(), String> {
    for e in events {
        dev.transact(&pcr_extend_command(e.pcr, &e.digests))
            .and_then(|r| parse_extend_response(&r))
            .map_err(|err| format!("{}: extending PCR {}: {err}", dev.path, e.pcr))?;
        let mut st = state();
        let n = st.recnum;
        let rec = cel_record(n, e);
        st.log.extend_from_slice(rec.as_bytes());
        st.recnum += 1;
    }
    Ok(())
}

/// "PCRs 8, 9 (sha1, sha256)" for the log line: each PCR once, in order,
/// and each bank once, in the order met (a few items: inserted in place, not
/// sorted, which would add a sort's code to the binary).
fn describe(events: &[Event]) -> String {
    let mut numbers: Vec<u32> = Vec::new();
    let mut algs: Vec<&str> = Vec::new();
    for e in events {
        if !numbers.contains(&e.pcr) {
            let at = numbers.iter().position(|&n| n > e.pcr).unwrap_or(numbers.len());
            numbers.insert(at, e.pcr);
        }
        for (a, _) in &e.digests {
            if !algs.contains(&a.name()) {
                algs.push(a.name());
            }
        }
    }
    let pcrs: Vec<String> = numbers.iter().map(u32::to_string).collect();
    format!("PCRs {} ({})", pcrs.join(", "), algs.join(", "))
}

/// Measures `items` into the TPM now and logs them. `Ok(false)`: there is
/// no TPM (said once). A failing TPM is an `Err` for the caller to report;
/// what was extended before the failure is in the log.
pub fn measure(items: &[Measurement<'_>]) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let Some((mut dev, events)) = prepare(items)? else {
        return Ok(false);
    };
    let hashed = started.elapsed();
    extend(&mut dev, &events)?;
    log::info!(
        "measured {} events into {} in {} ms ({} ms hashing)",
        events.len(),
        describe(&events),
        started.elapsed().as_millis(),
        hashed.as_millis()
    );
    Ok(true)
}

/// The gate for [`crate::kexec::load`] when loading is booting (`hopboot
/// load`): measures the kernel, the command line and the initrds now, and
/// adds the event log to the initrd. A TPM that fails does not stop the
/// boot (GRUB's default too): it is said loudly.
pub fn gate(boot: &mut Boot<'_>) -> Result<(), String> {
    let measured = measure(&boot_measurements(boot));
    match measured {
        Ok(false) => {}
        Ok(true) => boot.initrd_tail = archive_for_initrd(),
        Err(e) => {
            log::error!("TPM: {e}; this boot's measurements are incomplete");
            boot.initrd_tail = archive_for_initrd();
        }
    }
    Ok(())
}

/// The gate for PID 1, which loads the default entry while the menu counts
/// down and may then boot another: hashes what GRUB would measure and puts
/// the log, as it will be once they are extended, into the initrd, but
/// extends the PCRs only in [`commit`], when this kernel is booted. A load
/// that is not booted leaves no trace in the PCRs. Replaces what an earlier
/// load left pending.
pub fn gate_deferred(boot: &mut Boot<'_>) -> Result<(), String> {
    let started = std::time::Instant::now();
    state().pending.clear();
    match prepare(&boot_measurements(boot)) {
        Ok(None) => {}
        Ok(Some((_, events))) => {
            let mut st = state();
            let mut log = st.log.clone();
            for (i, e) in events.iter().enumerate() {
                log.extend_from_slice(cel_record(st.recnum + i as u64, e).as_bytes());
            }
            st.in_initrd = st.recnum;
            boot.initrd_tail = log_archive(&log);
            log::info!(
                "hashed {} events for {} in {} ms: extended when this entry boots",
                events.len(),
                describe(&events),
                started.elapsed().as_millis()
            );
            st.pending = events;
        }
        Err(e) => {
            log::error!("TPM: {e}; this boot's measurements are incomplete");
            boot.initrd_tail = archive_for_initrd();
        }
    }
    Ok(())
}

/// Extends what [`gate_deferred`] left pending: the kernel about to be
/// booted. Call it just before the kexec reboot. A failing TPM is said
/// loudly and does not stop the boot.
pub fn commit() {
    let events = std::mem::take(&mut state().pending);
    if events.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let r = Device::open().and_then(|dev| {
        let mut dev = dev.ok_or_else(|| "the TPM is gone".to_string())?;
        extend(&mut dev, &events)
    });
    match r {
        Ok(()) => log::info!(
            "measured {} events into {} in {} ms",
            events.len(),
            describe(&events),
            started.elapsed().as_millis()
        ),
        Err(e) => log::error!("TPM: {e}; this boot's measurements are incomplete"),
    }
}

/// Before the rescue shell opens: one event in PCRs 8 and 9 so a secret
/// sealed to a normal boot's values (GRUB-style policies use 8 and 9)
/// cannot be unsealed from the shell, whatever is extended after it.
pub fn measure_shell(shell: &str) {
    let items: Vec<Measurement<'_>> = [STRING_PCR, FILE_PCR]
        .into_iter()
        .map(|pcr| Measurement {
            pcr,
            text: format!("hopboot_shell: {shell}"),
            bytes: shell.as_bytes(),
            sha256: None,
        })
        .collect();
    if let Err(e) = measure(&items) {
        log::error!("TPM: {e}; the shell event is not measured");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn get_capability_is_encoded_as_the_spec_lays_it_out() {
        assert_eq!(
            hex(&get_pcr_banks_command()),
            concat!(
                "8001",     // TPM_ST_NO_SESSIONS
                "00000016", // 22 bytes
                "0000017a", // TPM_CC_GetCapability
                "00000005", // TPM_CAP_PCRS
                "00000000", // from the first bank
                "00000010"  // up to 16 banks
            )
        );
    }

    #[test]
    fn pcr_extend_carries_a_password_session_and_every_digest() {
        let c = pcr_extend_command(8, &[(Alg::Sha1, vec![0xaa; 20]), (Alg::Sha256, vec![0xbb; 32])]);
        let expect = format!(
            "8002{:08x}00000182{}{}{}0004{}000b{}",
            c.len(),
            "00000008",                   // PCR 8
            "00000009400000090000000000", // 9-byte auth: TPM_RS_PW, no nonce, attributes 0, no hmac
            "00000002",                   // two digests
            "aa".repeat(20),
            "bb".repeat(32)
        );
        assert_eq!(hex(&c), expect);
        assert_eq!(c.len(), 10 + 4 + 4 + 9 + 4 + 22 + 34);
    }

    /// A GetCapability(PCRS) answer: sha1 with no PCR allocated, sha256,
    /// sha384 and sha512 with all 24.
    const BANKS: &str = concat!(
        "80010000002b00000000", // tag, size 43, success
        "00",                   // moreData
        "00000005",             // TPM_CAP_PCRS
        "00000004",             // four banks
        "000403000000",
        "000b03ffffff",
        "000c03ffffff",
        "000d03ffffff"
    );

    #[test]
    fn pcr_banks_parse() {
        let banks = parse_pcr_banks(&unhex(BANKS)).unwrap();
        assert_eq!(banks.len(), 4);
        assert_eq!(
            banks[1],
            Bank {
                alg: 0x000b,
                pcrs: 0x00ff_ffff
            }
        );
        assert!(banks[1].has(8) && banks[1].has(9) && !banks[1].has(24));
        assert!(!banks[0].has(8));
    }

    #[test]
    fn bad_responses_are_errors() {
        let good = unhex(BANKS);
        assert!(parse_pcr_banks(&good).is_ok());
        // Every truncation: a size mismatch or a short field, never a panic.
        for n in 0..good.len() {
            assert!(parse_pcr_banks(&good[..n]).is_err(), "cut at {n}");
        }
        // A size field that lies.
        let mut lie = good.clone();
        lie[5] ^= 1;
        assert!(matches!(parse_pcr_banks(&lie), Err(TpmError::Size { .. })));
        // An error code.
        assert_eq!(
            parse_pcr_banks(&unhex("80010000000a00000101")),
            Err(TpmError::Rc(0x101))
        );
        // A bank count far past the data.
        let mut many = good.clone();
        many[18] = 0x7f;
        assert!(parse_pcr_banks(&many).is_err());
        // Trailing bytes.
        let mut more = good.clone();
        more.push(0);
        more[5] += 1;
        assert_eq!(
            parse_pcr_banks(&more),
            Err(TpmError::Corrupt("bytes after the PCR banks"))
        );
        // Every byte flipped: no panic.
        for i in 0..good.len() {
            let mut f = good.clone();
            f[i] ^= 0xff;
            let _ = parse_pcr_banks(&f);
        }
    }

    #[test]
    fn extend_response_parses() {
        // tag 8002, size 19, success, parameterSize 0, nonce 0, attrs 01, hmac 0.
        let ok = unhex(concat!("80020000001300000000", "00000000", "0000", "01", "0000"));
        assert_eq!(parse_extend_response(&ok), Ok(()));
        // TPM_RC_VALUE on a bad PCR.
        assert_eq!(
            parse_extend_response(&unhex("80010000000a00000184")),
            Err(TpmError::Rc(0x184))
        );
        for n in 0..ok.len() {
            assert!(parse_extend_response(&ok[..n]).is_err());
        }
        // Success without the session it must carry.
        let mut nosess = ok.clone();
        nosess[1] = 0x01;
        assert!(parse_extend_response(&nosess).is_err());
    }

    #[test]
    fn digests_and_extend_match_known_values() {
        assert_eq!(
            hex(&Alg::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&Alg::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(Alg::Sha384.digest(b"").len(), 48);
        // extend = H(old || digest)
        let d = Alg::Sha256.digest(b"x");
        assert_eq!(
            Alg::Sha256.extend(&[0; 32], &d),
            Alg::Sha256.digest(&[vec![0; 32], d].concat())
        );
    }

    fn entry(kernel: &str, image: Option<&str>) -> crate::model::BootEntry {
        crate::model::BootEntry {
            title: "t".into(),
            format: crate::model::Format::Scan,
            kernel: kernel.into(),
            initrds: vec![],
            cmdline: String::new(),
            default: true,
            device: "vda1".into(),
            id: "t".into(),
            volume: 0,
            boot_image: image.map(str::to_string),
        }
    }

    /// A kernel and two initrds, "ONE" and "TWO".
    fn two_initrds() -> crate::kexec::Images {
        crate::kexec::Images::new(
            b"KERNEL".to_vec(),
            b"ONETWO".to_vec(),
            vec![("/boot/one".into(), 0..3), ("/boot/two".into(), 3..6)],
        )
    }

    #[test]
    fn measurements_follow_grub() {
        let images = two_initrds();
        let e = entry("/boot/vmlinuz", Some("/boot/vmlinuz"));
        let boot = Boot {
            entry: &e,
            images: &images,
            cmdline: "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro",
            initrd_tail: Vec::new(),
        };
        let m = boot_measurements(&boot);
        let got: Vec<(u32, &str, &[u8])> = m.iter().map(|m| (m.pcr, m.text.as_str(), m.bytes)).collect();
        assert_eq!(
            got,
            vec![
                (9, "/boot/vmlinuz", &b"KERNEL"[..]),
                // The digest is of the line without the prefix, as GRUB's
                // grub_tpm_verify_string; BOOT_IMAGE= is not in what GRUB measures.
                (
                    8,
                    "kernel_cmdline: /boot/vmlinuz root=/dev/vda1 ro",
                    &b"/boot/vmlinuz root=/dev/vda1 ro"[..]
                ),
                (9, "/boot/one", &b"ONE"[..]),
                (9, "/boot/two", &b"TWO"[..]),
            ]
        );
        let ev = events(&m, &[Alg::Sha256, Alg::Sha1]);
        assert_eq!(ev[1].data, b"kernel_cmdline: /boot/vmlinuz root=/dev/vda1 ro\0");
        assert_eq!(ev[1].event_type, EV_IPL);
        assert_eq!(
            ev[1].digests[0],
            (Alg::Sha256, Alg::Sha256.digest(b"/boot/vmlinuz root=/dev/vda1 ro"))
        );
        assert_eq!(ev[3].digests[1], (Alg::Sha1, Alg::Sha1.digest(b"TWO")));
    }

    /// After the signature check hashed the kernel and initrds (through the
    /// images' memo), the SHA-256 bank takes those digests; before, nothing is
    /// known and the bank hashes the bytes itself. Either way the same events.
    #[test]
    fn the_sha256_bank_reuses_the_signature_checks_digests() {
        let images = two_initrds();
        let e = entry("/boot/vmlinuz", Some("/boot/vmlinuz"));
        let boot = Boot {
            entry: &e,
            images: &images,
            cmdline: "BOOT_IMAGE=/boot/vmlinuz ro",
            initrd_tail: Vec::new(),
        };
        let before = boot_measurements(&boot);
        assert!(before.iter().all(|m| m.sha256.is_none()));
        let cold = events(&before, &[Alg::Sha1, Alg::Sha256]);
        // What the signature check does (Policy::check).
        assert_eq!(images.kernel_sha256().to_vec(), Alg::Sha256.digest(b"KERNEL"));
        assert_eq!(images.initrd_sha256s()[1].to_vec(), Alg::Sha256.digest(b"TWO"));
        let after = boot_measurements(&boot);
        let known: Vec<bool> = after.iter().map(|m| m.sha256.is_some()).collect();
        // The command line (PCR 8) is hashed by the TPM code alone.
        assert_eq!(known, [true, false, true, true]);
        assert_eq!(events(&after, &[Alg::Sha1, Alg::Sha256]), cold);
    }

    #[test]
    fn a_uki_kernel_is_named_by_its_section() {
        let images = crate::kexec::Images::new(b"K".to_vec(), Vec::new(), vec![]);
        let e = entry("/EFI/Linux/x.EFI", None);
        let boot = Boot {
            entry: &e,
            images: &images,
            cmdline: "quiet",
            initrd_tail: Vec::new(),
        };
        let m = boot_measurements(&boot);
        assert_eq!(m[0].text, "/EFI/Linux/x.EFI:.linux");
        assert_eq!(m[1].text, "kernel_cmdline: quiet");
    }

    #[test]
    fn cel_json_record() {
        let e = Event {
            pcr: 8,
            event_type: EV_IPL,
            data: b"kernel_cmdline: ro\0".to_vec(),
            digests: vec![(Alg::Sha256, vec![0xab; 32]), (Alg::Sha1, vec![1; 20])],
        };
        let r = cel_record(3, &e);
        assert_eq!(
            r,
            format!(
                "\u{1e}{{\"recnum\":3,\"pcr\":8,\"digests\":[{{\"hashAlg\":\"sha256\",\"digest\":\"{}\"}},{{\"hashAlg\":\"sha1\",\"digest\":\"{}\"}}],\"content_type\":\"pcclient_std\",\"content\":{{\"event_type\":\"EV_IPL\",\"event_data\":\"{}\"}}}}\n",
                "ab".repeat(32),
                "01".repeat(20),
                hex(b"kernel_cmdline: ro\0")
            )
        );
    }

    #[test]
    fn the_log_archive_is_newc_with_its_directories() {
        let a = log_archive(b"LOG");
        assert_eq!(a.len() % 4, 0);
        let text = String::from_utf8_lossy(&a);
        let names: Vec<&str> = [
            ".extra\0",
            ".extra/hopboot\0",
            ".extra/hopboot/tpm2-measure.log\0",
            "TRAILER!!!\0",
        ]
        .into_iter()
        .filter(|n| text.contains(n))
        .collect();
        assert_eq!(names.len(), 4, "{text:?}");
        // The file's header: mode 0100444, size 3, namesize 32; then name, padding, data.
        let at = text.find(".extra/hopboot/tpm2-measure.log\0").unwrap();
        let header = &text[at - 110..at];
        assert!(header.starts_with("070701"));
        assert_eq!(&header[14..22], "00008124");
        assert_eq!(&header[54..62], "00000003");
        assert_eq!(&header[94..102], "00000020");
        let data_at = (at + 32).next_multiple_of(4);
        assert_eq!(&a[data_at..data_at + 3], b"LOG");
    }

    /// What measuring costs on the real-size case: an 8 MB kernel and a 30 MB
    /// initrd, in the banks TPMs have: sha256; sha1 + sha256 (most); these and
    /// sha384; and sha512 too (swtpm's default allocation).
    ///
    /// `cargo test --release -p hopboot-loader --lib tpm::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_hashing_a_real_size_boot() {
        let kernel = vec![0x5au8; 8 << 20];
        let initrd: Vec<u8> = (0..30u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let items = [
            Measurement {
                pcr: 9,
                text: "k".into(),
                bytes: &kernel,
                sha256: None,
            },
            Measurement {
                pcr: 9,
                text: "i".into(),
                bytes: &initrd,
                sha256: None,
            },
        ];
        for algs in [
            vec![Alg::Sha256],
            vec![Alg::Sha1, Alg::Sha256],
            vec![Alg::Sha1, Alg::Sha256, Alg::Sha384],
            vec![Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512],
        ] {
            let mut ms: Vec<f64> = (0..7)
                .map(|_| {
                    let t = std::time::Instant::now();
                    std::hint::black_box(events(&items, &algs));
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            let names: Vec<&str> = algs.iter().map(|a| a.name()).collect();
            eprintln!(
                "TPM-BENCH {}: median {:.0} ms (min {:.0}, max {:.0}) for 38 MiB",
                names.join("+"),
                ms[3],
                ms[0],
                ms[6]
            );
        }
    }
}
