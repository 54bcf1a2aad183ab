//! iPXE scripts (`#!ipxe`): the subset real netboot setups use, run without
//! a network or a user, into boot entries.
//!
//! [`run`] is a pure function over the script text, the settings DHCP gave
//! (`${net0/mac}`…) and a `fetch` callback for scripts reached with
//! `chain`; the network source ([`crate::net::boot`]) calls it.
//!
//! Semantics, from iPXE's documentation (ipxe.org/scripting, ipxe.org/cmd/*)
//! and its sources (`src/core/exec.c`, `src/image/script.c`, checked at
//! 0062c07 / 0365d2e):
//!
//! - A script starts with `#!ipxe` (or `#!gpxe`) and a blank. Lines end at
//!   `\n`, a trailing `\r` is dropped and a trailing `\` joins the next line.
//!   A line whose first word starts with `:` defines a label; the rest of
//!   that line is a command like any other.
//! - A line is split at blanks *first*, then each word has its `${…}`
//!   settings expanded (innermost first, an unknown setting is empty, a
//!   `:type` suffix formats it): a value with blanks stays one argument.
//!   A word starting with `#` ends the line. `&&`, `||` and `;` separate
//!   commands: the next one runs if the last that ran succeeded, failed, or
//!   always. An empty command succeeds, so `cmd ||` never fails.
//! - A line whose status is failure ends the script with that failure
//!   (`chain` of a script returns it to the caller); `exit [n]` ends the
//!   script with status n. `goto label` continues at the first line with
//!   that label (the label's line runs) and skips the rest of its own line;
//!   a missing label is a failure.
//! - `kernel`/`imgselect`/`imgload` fetch and select an image, `initrd`/
//!   `imgfetch`/`module` fetch one, `imgargs` sets an image's arguments,
//!   `imgfree` drops images, `boot`/`chain`/`imgexec` run the selected or
//!   given image. URIs are relative to the script's own URI. An image is
//!   named by the last part of its URI unless `--name` says otherwise, and a
//!   new image replaces an older one of the same name. A Linux kernel is
//!   booted with every other fetched image as an initrd.
//! - `menu`/`item`/`choose`: `choose` stores the chosen item's label in a
//!   setting (usually followed by `goto ${setting}`); the default is
//!   `--default`, else an item marked `--default`, else the first item.
//!
//! What hopboot makes of it: every `choose` is followed down each of its
//! items (each a copy of the interpreter's state), and each `boot` of a
//! Linux kernel reached becomes one entry, titled by the items chosen on
//! the way ("Linux installers > Debian 12"). A path that comes back to a
//! `choose` it already went through (a "back" item, a retry loop) ends
//! there. `dhcp`, `ifopen`, `echo`, `sleep` and other commands that only
//! talk to the network or the screen succeed without doing anything;
//! `prompt` and `read` fail as if nobody answered; `shell`, `sanboot`,
//! `reboot` end the path without an entry; unknown commands are reported
//! and fail, as in an iPXE build without them. Images that are not Linux
//! (`memdisk`, `wimboot`, PXE programs `*.0`/`*.kpxe`/`*.pxe`, COM32
//! modules) end the path without an entry. Kept out on purpose: iPXE's
//! "magic initrd" (an `initrd` with a path argument is reported, its file
//! passed as a plain initrd), signature checks (`imgverify` is unknown, so
//! it fails), a previously selected kernel becoming an initrd.
//!
//! Bounds, as the GRUB interpreter's (`format::grub`): commands in all
//! ([`MAX_STEPS`]) and per path ([`MAX_PATH_STEPS`]: `:a goto a` ends with
//! an error), paths followed ([`MAX_PATHS`]), nested menus
//! ([`MAX_MENU_DEPTH`]), `chain` depth ([`MAX_CHAIN_DEPTH`]), distinct
//! scripts fetched ([`MAX_FETCHES`]), script size ([`MAX_SCRIPT_BYTES`]),
//! expansions per word and the length of a value.

use crate::model::{BootEntry, Format};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::rc::Rc;

/// Most commands run (or skipped) over all paths of one [`run`].
pub const MAX_STEPS: usize = 200_000;
/// Most commands on one path: an endless `goto` loop stops here.
pub const MAX_PATH_STEPS: usize = 20_000;
/// Most paths (menu items followed).
pub const MAX_PATHS: usize = 2_048;
/// Most menus nested on one path.
pub const MAX_MENU_DEPTH: usize = 16;
/// Deepest `chain` of scripts.
pub const MAX_CHAIN_DEPTH: usize = 8;
/// Most distinct URIs fetched through the callback.
pub const MAX_FETCHES: usize = 64;
/// Largest script run.
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;
/// Most entries kept.
pub const MAX_ENTRIES: usize = 1_024;
/// Most `${…}` expansions in one word.
const MAX_EXPANSIONS: usize = 256;
/// Longest word or setting value after expansion.
const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most distinct errors kept.
const MAX_ERRORS: usize = 50;

/// What the `fetch` callback found at a URI that `chain` (or `boot` with a
/// URI) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The resource, as text: run as a script if it starts like one, else
    /// taken as an image. The caller need not read more than
    /// [`MAX_SCRIPT_BYTES`] (a longer file is not run).
    Text(String),
    /// Not a script (a kernel, a binary): the caller looked at its start.
    Image,
    /// Could not be fetched, and why.
    Failed(String),
}

/// One Linux boot an iPXE script can make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpxeEntry {
    /// The menu items chosen to reach it, `" > "`-joined; else `iPXE: <kernel name>`.
    pub title: String,
    /// The item labels, `/`-joined; else the kernel's image name.
    pub id: String,
    /// The kernel's absolute URI.
    pub kernel: String,
    /// Initrd URIs in load order.
    pub initrds: Vec<String>,
    /// The kernel's arguments.
    pub cmdline: String,
}

/// Everything a script can boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpxeMenu {
    /// Entries in menu order.
    pub entries: Vec<IpxeEntry>,
    /// The one the script boots unattended (default items all the way).
    pub default: Option<usize>,
    /// The first menu's `choose --timeout`, in milliseconds (0: wait forever).
    pub timeout_ms: Option<u64>,
    /// Problems: unknown commands, failed fetches, budgets run out.
    pub errors: Vec<String>,
}

/// Whether `text` is an iPXE script (iPXE's `script_probe`).
pub fn is_script(text: &str) -> bool {
    let b = text.as_bytes();
    (b.starts_with(b"#!ipxe") || b.starts_with(b"#!gpxe")) && b.get(6).is_some_and(|c| is_space(*c))
}

/// iPXE's `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The settings one NIC gives: `net0/mac`, `netX/mac` and `mac` (and the
/// same for `ip`), the way iPXE names the last opened device's settings.
pub fn nic_settings(nic: &str, mac: &[u8], ip: Option<Ipv4Addr>) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    for scope in [format!("{nic}/"), "netX/".to_string(), String::new()] {
        s.insert(format!("{scope}mac"), mac.clone());
        if let Some(ip) = ip {
            s.insert(format!("{scope}ip"), ip.to_string());
        }
    }
    s
}

/// Resolves `rel` against `base` the way a browser would (RFC 3986 §5.2):
/// `http://h/a/b.ipxe` + `k/vmlinuz` is `http://h/a/k/vmlinuz`.
pub fn resolve_uri(base: &str, rel: &str) -> String {
    if scheme_len(rel).is_some() {
        return rel.to_string();
    }
    let Some(slen) = scheme_len(base) else {
        // A plain path (a TFTP name): relative to its directory.
        if rel.starts_with('/') {
            return rel.to_string();
        }
        return match base.rfind('/') {
            Some(i) => format!("{}{rel}", &base[..=i]),
            None => rel.to_string(),
        };
    };
    let scheme = &base[..slen];
    let rest = &base[slen + 1..];
    if let Some(r) = rel.strip_prefix("//") {
        return format!("{scheme}://{r}");
    }
    let (authority, path_part) = match rest.strip_prefix("//") {
        Some(a) => {
            let end = a.find(['/', '?', '#']).unwrap_or(a.len());
            (format!("//{}", &a[..end]), &a[end..])
        }
        None => (String::new(), rest),
    };
    let base_path = &path_part[..path_part.find(['?', '#']).unwrap_or(path_part.len())];
    if rel.is_empty() {
        return format!(
            "{scheme}:{authority}{}",
            &path_part[..path_part.find('#').unwrap_or(path_part.len())]
        );
    }
    let split = rel.find(['?', '#']).unwrap_or(rel.len());
    let (rel_path, tail) = (&rel[..split], &rel[split..]);
    let path = if rel_path.is_empty() {
        base_path.to_string()
    } else if rel_path.starts_with('/') {
        remove_dots(rel_path)
    } else {
        let dir = match base_path.rfind('/') {
            Some(i) => &base_path[..=i],
            None if !authority.is_empty() => "/",
            None => "",
        };
        remove_dots(&format!("{dir}{rel_path}"))
    };
    format!("{scheme}:{authority}{path}{tail}")
}

/// The length of `s`'s scheme (`http` in `http://…`), if it has one.
fn scheme_len(s: &str) -> Option<usize> {
    let i = s.find(':')?;
    let scheme = &s[..i];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(i)
}

/// RFC 3986's remove_dot_segments, on a path.
fn remove_dots(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').collect();
    let last = segs.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => trailing = i == last,
            ".." => {
                out.pop();
                trailing = i == last;
            }
            "" if i == 0 && absolute => {}
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut p = out.join("/");
    if absolute {
        p.insert(0, '/');
    }
    if trailing && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// How a command is separated from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    End,
    And,
    Or,
    Always,
}

#[derive(Debug)]
struct Cmd {
    words: Vec<String>,
    sep: Sep,
}

#[derive(Debug)]
struct Line {
    number: usize,
    label: Option<String>,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
struct Script {
    uri: String,
    lines: Vec<Line>,
}

/// Splits a script into lines, labels and commands (nothing expanded yet).
fn parse(uri: &str, text: &str) -> Script {
    let mut lines = Vec::new();
    let mut pending = String::new();
    let mut start = 1;
    for (i, raw) in text.split('\n').enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(raw);
        let full = std::mem::take(&mut pending);
        lines.push(parse_line(start, &full));
    }
    if !pending.is_empty() {
        lines.push(parse_line(start, &pending));
    }
    Script {
        uri: uri.to_string(),
        lines,
    }
}

fn parse_line(number: usize, line: &str) -> Line {
    let trimmed = line.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let (label, rest) = match trimmed.strip_prefix(':') {
        Some(after) => {
            let end = after
                .find(|c: char| c.is_ascii() && is_space(c as u8))
                .unwrap_or(after.len());
            (Some(after[..end].to_string()), &after[end..])
        }
        None => (None, trimmed),
    };
    let mut cmds = Vec::new();
    let mut words = Vec::new();
    for w in rest
        .split(|c: char| c.is_ascii() && is_space(c as u8))
        .filter(|w| !w.is_empty())
    {
        let sep = match w {
            "&&" => Sep::And,
            "||" => Sep::Or,
            ";" => Sep::Always,
            w if w.starts_with('#') => break,
            w => {
                words.push(w.to_string());
                continue;
            }
        };
        cmds.push(Cmd {
            words: std::mem::take(&mut words),
            sep,
        });
    }
    cmds.push(Cmd { words, sep: Sep::End });
    Line { number, label, cmds }
}

/// Expands `${name}` and `${name:type}` in `word`, innermost first.
fn expand(word: &str, settings: &BTreeMap<String, String>) -> Result<String, String> {
    let mut s = word.to_string();
    for _ in 0..MAX_EXPANSIONS {
        let mut start = None;
        let mut span = None;
        let b = s.as_bytes();
        for i in 0..b.len() {
            if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
                start = Some(i);
            } else if b[i] == b'}' {
                if let Some(st) = start {
                    span = Some((st, i));
                    break;
                }
            }
        }
        let Some((st, end)) = span else {
            return Ok(s);
        };
        let value = setting(&s[st + 2..end], settings);
        let next = format!("{}{value}{}", &s[..st], &s[end + 1..]);
        if next.len() > MAX_VALUE_BYTES {
            return Err(format!("`{word}` expands to more than {MAX_VALUE_BYTES} bytes"));
        }
        s = next;
    }
    Err(format!("`{word}`: more than {MAX_EXPANSIONS} expansions"))
}

/// A setting's value, formatted by its `:type` (unknown settings are empty).
fn setting(spec: &str, settings: &BTreeMap<String, String>) -> String {
    let (name, ty) = split_type(spec);
    let Some(v) = settings.get(name) else {
        return String::new();
    };
    let hex_bytes = || -> Option<Vec<&str>> {
        let parts: Vec<&str> = v.split(':').collect();
        parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
            .then_some(parts)
    };
    match ty {
        Some("hexhyp") => hex_bytes().map_or_else(|| v.clone(), |p| p.join("-")),
        Some("hexraw") => hex_bytes().map_or_else(|| v.clone(), |p| p.concat()),
        Some("uristring") => v
            .bytes()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect(),
        _ => v.clone(),
    }
}

/// `net0/mac:hexhyp` → (`net0/mac`, `hexhyp`).
fn split_type(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (spec, None),
    }
}

#[derive(Debug, Clone)]
struct Frame {
    script: Rc<Script>,
    line: usize,
    cmd: usize,
    process: bool,
    ok: bool,
    /// Started by `chain --replace`: its end ends the caller too.
    replace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageKind {
    Kernel,
    Initrd,
}

#[derive(Debug, Clone)]
struct Image {
    name: String,
    uri: String,
    args: Vec<String>,
    kind: ImageKind,
}

#[derive(Debug, Clone)]
struct Item {
    label: Option<String>,
    text: String,
    default: bool,
}

#[derive(Debug, Clone, Default)]
struct Menu {
    items: Vec<Item>,
}

/// One path's interpreter state: what `choose` copies.
#[derive(Debug, Clone)]
struct State {
    frames: Vec<Frame>,
    settings: BTreeMap<String, String>,
    images: Vec<Image>,
    selected: Option<String>,
    menus: BTreeMap<String, Menu>,
    titles: Vec<String>,
    ids: Vec<String>,
    /// The `choose` commands taken on this path (script, line, command).
    chosen: Vec<(usize, usize, usize)>,
    on_default: bool,
    steps: usize,
}

enum Cached {
    Script(Rc<Script>),
    Image,
    Failed(String),
}

struct Ctx<'f> {
    fetch: &'f mut dyn FnMut(&str) -> Fetched,
    cache: HashMap<String, Cached>,
    steps: usize,
    paths: usize,
    out: IpxeMenu,
    errors_left_out: usize,
}

impl Ctx<'_> {
    fn error(&mut self, e: String) {
        if self.out.errors.contains(&e) {
            return;
        }
        if self.out.errors.len() < MAX_ERRORS {
            self.out.errors.push(e);
        } else {
            self.errors_left_out += 1;
        }
    }

    fn fetch(&mut self, uri: &str) -> &Cached {
        if !self.cache.contains_key(uri) {
            let c = if self.cache.len() >= MAX_FETCHES {
                Cached::Failed(format!("not fetched: more than {MAX_FETCHES} scripts"))
            } else {
                match (self.fetch)(uri) {
                    Fetched::Text(t) if is_script(&t) && t.len() <= MAX_SCRIPT_BYTES => {
                        Cached::Script(Rc::new(parse(uri, &t)))
                    }
                    Fetched::Text(t) if is_script(&t) => {
                        Cached::Failed(format!("script larger than {MAX_SCRIPT_BYTES} bytes"))
                    }
                    Fetched::Text(_) | Fetched::Image => Cached::Image,
                    Fetched::Failed(e) => Cached::Failed(e),
                }
            };
            self.cache.insert(uri.to_string(), c);
        }
        match self.cache.get(uri) {
            Some(c) => c,
            None => &Cached::Image, // inserted just above
        }
    }
}

/// Runs `script` (fetched from `uri`) with `settings`, following every
/// menu item; `fetch` is asked for each script `chain` reaches (once per
/// URI). Never fails: problems go to [`IpxeMenu::errors`].
pub fn run(
    script: &str,
    uri: &str,
    settings: &BTreeMap<String, String>,
    fetch: &mut dyn FnMut(&str) -> Fetched,
) -> IpxeMenu {
    let mut ctx = Ctx {
        fetch,
        cache: HashMap::new(),
        steps: 0,
        paths: 1,
        out: IpxeMenu::default(),
        errors_left_out: 0,
    };
    if !is_script(script) {
        ctx.out
            .errors
            .push(format!("{uri}: not an iPXE script (no #!ipxe line)"));
        return ctx.out;
    }
    if script.len() > MAX_SCRIPT_BYTES {
        ctx.out
            .errors
            .push(format!("{uri}: larger than {MAX_SCRIPT_BYTES} bytes; not run"));
        return ctx.out;
    }
    let st = State {
        frames: vec![Frame {
            script: Rc::new(parse(uri, script)),
            line: 0,
            cmd: 0,
            process: true,
            ok: true,
            replace: false,
        }],
        settings: settings.clone(),
        images: Vec::new(),
        selected: None,
        menus: BTreeMap::new(),
        titles: Vec::new(),
        ids: Vec::new(),
        chosen: Vec::new(),
        on_default: true,
        steps: 0,
    };
    run_path(&mut ctx, st);
    if ctx.errors_left_out > 0 {
        ctx.out
            .errors
            .push(format!("and {} more problems", ctx.errors_left_out));
    }
    ctx.out
}

/// What one command did.
enum Step {
    /// Finished with this status; go on.
    Done(bool),
    /// Control moved (goto, chain, exit): nothing to complete.
    Moved,
    /// The path is over (booted, or left iPXE).
    End,
}

fn run_path(ctx: &mut Ctx, mut st: State) {
    loop {
        if ctx.steps >= MAX_STEPS {
            ctx.error(format!("stopped after {MAX_STEPS} commands in all"));
            return;
        }
        if st.steps >= MAX_PATH_STEPS {
            let at = where_(&st);
            ctx.error(format!("{at}: stopped after {MAX_PATH_STEPS} commands (a loop?)"));
            return;
        }
        let Some(frame) = st.frames.last() else { return };
        let script = frame.script.clone();
        let Some(line) = script.lines.get(frame.line) else {
            // The script ran to its end: success for whoever chained it.
            if !end_script(ctx, &mut st, true) {
                return;
            }
            continue;
        };
        let Some(cmd) = line.cmds.get(frame.cmd) else {
            // Cannot happen (a line always has a command); move on.
            if let Some(f) = st.frames.last_mut() {
                f.line += 1;
                f.cmd = 0;
            }
            continue;
        };
        ctx.steps += 1;
        st.steps += 1;
        let (process, prev) = (frame.process, frame.ok);
        let step = if process {
            exec(ctx, &mut st, &script, line, cmd)
        } else {
            Step::Done(prev)
        };
        match step {
            Step::Done(ok) => {
                if !complete(ctx, &mut st, ok) {
                    return;
                }
            }
            Step::Moved => {}
            Step::End => return,
        }
    }
}

/// "uri:line" of the current command.
fn where_(st: &State) -> String {
    match st.frames.last() {
        Some(f) => {
            let n = f.script.lines.get(f.line).map_or(0, |l| l.number);
            format!("{}:{n}", f.script.uri)
        }
        None => String::new(),
    }
}

/// Applies a command's status to the line it is on. `false`: the path is over.
fn complete(ctx: &mut Ctx, st: &mut State, ok: bool) -> bool {
    let Some(f) = st.frames.last_mut() else { return false };
    let sep = f
        .script
        .lines
        .get(f.line)
        .and_then(|l| l.cmds.get(f.cmd))
        .map_or(Sep::End, |c| c.sep);
    f.ok = ok;
    match sep {
        Sep::End => {
            if ok {
                f.line += 1;
                f.cmd = 0;
                f.process = true;
                true
            } else {
                let (uri, n) = (f.script.uri.clone(), f.script.lines.get(f.line).map_or(0, |l| l.number));
                let words = f
                    .script
                    .lines
                    .get(f.line)
                    .map(|l| l.cmds.iter().map(|c| c.words.join(" ")).collect::<Vec<_>>().join(" … "))
                    .unwrap_or_default();
                if st.frames.len() == 1 {
                    ctx.error(format!("{uri}:{n}: script stopped: `{words}` failed"));
                }
                end_script(ctx, st, false)
            }
        }
        Sep::And => {
            f.cmd += 1;
            f.process = ok;
            true
        }
        Sep::Or => {
            f.cmd += 1;
            f.process = !ok;
            true
        }
        Sep::Always => {
            f.cmd += 1;
            f.process = true;
            true
        }
    }
}

/// Ends the current script with status `ok`: back in the chaining script,
/// or the end of the path. `false`: the path is over.
fn end_script(ctx: &mut Ctx, st: &mut State, ok: bool) -> bool {
    let Some(f) = st.frames.pop() else { return false };
    if st.frames.is_empty() {
        return false;
    }
    if f.replace {
        return end_script(ctx, st, ok);
    }
    complete(ctx, st, ok)
}

/// Options of one command: (long name, short name, takes a value).
type OptSpec = &'static [(&'static str, char, bool)];

const IMAGE_OPTS: OptSpec = &[
    ("name", 'n', true),
    ("timeout", 't', true),
    ("autofree", 'a', false),
    ("replace", 'r', false),
];

/// Splits `args` into options (up to the first other word or `--`) and the rest.
fn options(args: &[String], spec: OptSpec) -> Result<(BTreeMap<&'static str, String>, &[String]), String> {
    let mut opts = BTreeMap::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        let (found, inline) = if let Some(long) = a.strip_prefix("--") {
            let (n, v) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            (spec.iter().find(|s| s.0 == n), v)
        } else if a.len() == 2 && a.starts_with('-') {
            (spec.iter().find(|s| a.ends_with(s.1)), None)
        } else {
            break;
        };
        let Some(&(name, _, takes)) = found else {
            return Err(format!("unknown option `{a}`"));
        };
        let value = if takes {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("option `{a}` needs a value"))?
                }
            }
        } else {
            String::new()
        };
        opts.insert(name, value);
        i += 1;
    }
    Ok((opts, args.get(i..).unwrap_or(&[])))
}

/// The image name iPXE gives a URI: its last path part.
fn image_name(uri: &str) -> String {
    let path = &uri[..uri.find(['?', '#']).unwrap_or(uri.len())];
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Whether an image hopboot boots is something kexec cannot start.
fn not_linux(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let ext = n.rsplit_once('.').map(|(_, e)| e);
    n == "memdisk"
        || n.starts_with("wimboot")
        || matches!(
            ext,
            Some("0" | "pxe" | "kpxe" | "kkpxe" | "kkkpxe" | "c32" | "com" | "iso" | "img")
        )
}

fn exec(ctx: &mut Ctx, st: &mut State, script: &Rc<Script>, line: &Line, cmd: &Cmd) -> Step {
    let at = format!("{}:{}", script.uri, line.number);
    let mut args = Vec::with_capacity(cmd.words.len());
    for w in &cmd.words {
        match expand(w, &st.settings) {
            Ok(v) => args.push(v),
            Err(e) => {
                ctx.error(format!("{at}: {e}"));
                return Step::Done(false);
            }
        }
    }
    let Some((name, rest)) = args.split_first() else {
        return Step::Done(true); // an empty command succeeds
    };
    match name.as_str() {
        // Talk to the network or the screen only: done already, or not needed.
        "echo" | "sleep" | "dhcp" | "ifopen" | "ifconf" | "ifclose" | "ifstat" | "iflinkwait" | "ntp" | "console"
        | "colour" | "cpair" | "show" | "imgstat" | "params" | "param" | "menu-timeout" => Step::Done(true),
        // Nobody answers.
        "prompt" | "read" | "login" => Step::Done(false),
        // Leave the script for something that is not a kernel we boot.
        "exit" => {
            let ok = rest.first().is_none_or(|s| s.trim() == "0");
            if end_script(ctx, st, ok) {
                Step::Moved
            } else {
                Step::End
            }
        }
        "shell" | "reboot" | "poweroff" | "sanboot" => Step::End,
        "set" => {
            let Some((key, value)) = rest.split_first() else {
                return Step::Done(false);
            };
            let key = split_type(key).0.to_string();
            let value = value.join(" ");
            if value.len() > MAX_VALUE_BYTES {
                ctx.error(format!("{at}: value of `{key}` longer than {MAX_VALUE_BYTES} bytes"));
                return Step::Done(false);
            }
            if value.is_empty() {
                st.settings.remove(&key);
            } else {
                st.settings.insert(key, value);
            }
            Step::Done(true)
        }
        "clear" => match rest.first() {
            Some(k) => {
                st.settings.remove(split_type(k).0);
                Step::Done(true)
            }
            None => Step::Done(false),
        },
        "isset" => Step::Done(rest.len() == 1 && rest.first().is_some_and(|v| !v.is_empty())),
        "iseq" => Step::Done(rest.len() == 2 && rest.first() == rest.get(1)),
        "goto" => {
            let Some(target) = rest.first() else {
                return Step::Done(false);
            };
            match script
                .lines
                .iter()
                .position(|l| l.label.as_deref() == Some(target.as_str()))
            {
                Some(i) => {
                    if let Some(f) = st.frames.last_mut() {
                        f.line = i;
                        f.cmd = 0;
                        f.process = true;
                    }
                    Step::Moved
                }
                None => Step::Done(false),
            }
        }
        "cpuid" => {
            // `cpuid --ext 29`: long mode, what netboot menus test for x86_64.
            let long_mode =
                rest.len() == 2 && rest.first().is_some_and(|a| a == "--ext") && rest.get(1).is_some_and(|b| b == "29");
            if long_mode {
                Step::Done(cfg!(target_arch = "x86_64"))
            } else {
                ctx.error(format!(
                    "{at}: `cpuid {}`: only `cpuid --ext 29` is known",
                    rest.join(" ")
                ));
                Step::Done(false)
            }
        }
        "menu" => {
            let spec: OptSpec = &[("name", 'n', true), ("delete", 'd', false)];
            let Ok((opts, _title)) = options(rest, spec) else {
                return Step::Done(false);
            };
            let key = opts.get("name").cloned().unwrap_or_default();
            if opts.contains_key("delete") {
                st.menus.remove(&key);
            } else {
                st.menus.insert(key, Menu::default());
            }
            Step::Done(true)
        }
        "item" => {
            let spec: OptSpec = &[
                ("menu", 'm', true),
                ("key", 'k', true),
                ("default", 'd', false),
                ("gap", 'g', false),
            ];
            let (opts, words) = match options(rest, spec) {
                Ok(x) => x,
                Err(e) => {
                    ctx.error(format!("{at}: item: {e}"));
                    return Step::Done(false);
                }
            };
            let key = opts.get("menu").cloned().unwrap_or_default();
            let Some(menu) = st.menus.get_mut(&key) else {
                return Step::Done(false);
            };
            let gap = opts.contains_key("gap") || words.is_empty();
            let (label, text) = if gap {
                (None, words.join(" "))
            } else {
                let (l, t) = words
                    .split_first()
                    .map_or((String::new(), &[][..]), |(l, t)| (l.clone(), t));
                let text = t.join(" ");
                (Some(l), text)
            };
            if menu.items.len() < 4096 {
                menu.items.push(Item {
                    label,
                    text,
                    default: opts.contains_key("default"),
                });
            }
            Step::Done(true)
        }
        "choose" => choose(ctx, st, script, line, rest, &at),
        "kernel" | "imgselect" | "imgload" | "initrd" | "imgfetch" | "module" => {
            let (opts, words) = match options(rest, IMAGE_OPTS) {
                Ok(x) => x,
                Err(e) => {
                    ctx.error(format!("{at}: {name}: {e}"));
                    return Step::Done(false);
                }
            };
            let Some((target, iargs)) = words.split_first() else {
                return Step::Done(false);
            };
            let kernel = matches!(name.as_str(), "kernel" | "imgselect" | "imgload");
            if kernel {
                if let Some(img) = st.images.iter_mut().find(|i| &i.name == target) {
                    // An image fetched already, by name.
                    img.kind = ImageKind::Kernel;
                    if !iargs.is_empty() {
                        img.args = iargs.to_vec();
                    }
                    st.selected = Some(target.clone());
                    return Step::Done(true);
                }
            } else if !iargs.is_empty() {
                ctx.error(format!(
                    "{at}: `{name} {target} {}`: iPXE's magic initrd (a path for the file) is not supported; passed as a plain initrd",
                    iargs.join(" ")
                ));
            }
            let uri = resolve_uri(&script.uri, target);
            let img = Image {
                name: opts.get("name").cloned().unwrap_or_else(|| image_name(&uri)),
                uri,
                args: iargs.to_vec(),
                kind: if kernel { ImageKind::Kernel } else { ImageKind::Initrd },
            };
            if kernel {
                st.selected = Some(img.name.clone());
            }
            add_image(st, img);
            Step::Done(true)
        }
        "imgargs" => {
            let Ok((_, words)) = options(rest, &[("name", 'n', true)]) else {
                return Step::Done(false);
            };
            let Some((target, iargs)) = words.split_first() else {
                return Step::Done(false);
            };
            match st.images.iter_mut().find(|i| &i.name == target) {
                Some(img) => {
                    img.args = iargs.to_vec();
                    Step::Done(true)
                }
                None => Step::Done(false),
            }
        }
        "imgfree" => {
            match rest.first() {
                Some(n) => st.images.retain(|i| &i.name != n),
                None => st.images.clear(),
            }
            if st
                .selected
                .as_ref()
                .is_some_and(|s| !st.images.iter().any(|i| &i.name == s))
            {
                st.selected = None;
            }
            Step::Done(true)
        }
        "boot" | "chain" | "imgexec" => boot(ctx, st, script, name, rest, &at),
        other => {
            ctx.error(format!("{at}: unknown command `{other}`"));
            Step::Done(false)
        }
    }
}

fn add_image(st: &mut State, img: Image) {
    st.images.retain(|i| i.name != img.name);
    if st.images.len() < 256 {
        st.images.push(img);
    }
}

fn boot(ctx: &mut Ctx, st: &mut State, script: &Rc<Script>, name: &str, rest: &[String], at: &str) -> Step {
    let (opts, words) = match options(rest, IMAGE_OPTS) {
        Ok(x) => x,
        Err(e) => {
            ctx.error(format!("{at}: {name}: {e}"));
            return Step::Done(false);
        }
    };
    let Some((target, iargs)) = words.split_first() else {
        // The selected image.
        let Some(sel) = st.selected.clone() else {
            return Step::Done(false);
        };
        return emit(ctx, st, &sel);
    };
    if st.images.iter().any(|i| &i.name == target) {
        if let Some(img) = st.images.iter_mut().find(|i| &i.name == target) {
            img.kind = ImageKind::Kernel;
            if !iargs.is_empty() {
                img.args = iargs.to_vec();
            }
        }
        return emit(ctx, st, target);
    }
    let uri = resolve_uri(&script.uri, target);
    let fetched = match ctx.fetch(&uri) {
        Cached::Script(s) => Ok(Some(s.clone())),
        Cached::Image => Ok(None),
        Cached::Failed(e) => Err(e.clone()),
    };
    match fetched {
        Err(e) => {
            ctx.error(format!("{at}: {uri}: {e}"));
            Step::Done(false)
        }
        Ok(Some(chained)) => {
            if st.frames.len() > MAX_CHAIN_DEPTH {
                ctx.error(format!(
                    "{at}: {uri}: chained more than {MAX_CHAIN_DEPTH} deep; not run"
                ));
                return Step::Done(false);
            }
            st.frames.push(Frame {
                script: chained,
                line: 0,
                cmd: 0,
                process: true,
                ok: true,
                replace: opts.contains_key("replace"),
            });
            Step::Moved
        }
        Ok(None) => {
            let img = Image {
                name: opts.get("name").cloned().unwrap_or_else(|| image_name(&uri)),
                uri,
                args: iargs.to_vec(),
                kind: ImageKind::Kernel,
            };
            let n = img.name.clone();
            add_image(st, img);
            emit(ctx, st, &n)
        }
    }
}

/// Boots image `name`: an entry if it is a Linux kernel. The path ends.
fn emit(ctx: &mut Ctx, st: &State, name: &str) -> Step {
    let Some(k) = st.images.iter().find(|i| i.name == name) else {
        return Step::Done(false);
    };
    if not_linux(&k.name) {
        log::info!("iPXE path {:?} boots {} (not Linux): no entry", st.titles, k.uri);
        return Step::End;
    }
    if ctx.out.entries.len() >= MAX_ENTRIES {
        ctx.error(format!("more than {MAX_ENTRIES} entries; the rest left out"));
        return Step::End;
    }
    let entry = IpxeEntry {
        title: if st.titles.is_empty() {
            format!("iPXE: {}", k.name)
        } else {
            st.titles.join(" > ")
        },
        id: if st.ids.is_empty() {
            k.name.clone()
        } else {
            st.ids.join("/")
        },
        kernel: k.uri.clone(),
        initrds: st
            .images
            .iter()
            .filter(|i| i.kind == ImageKind::Initrd && i.name != k.name)
            .map(|i| i.uri.clone())
            .collect(),
        cmdline: k.args.join(" "),
    };
    if st.on_default && ctx.out.default.is_none() {
        ctx.out.default = Some(ctx.out.entries.len());
    }
    ctx.out.entries.push(entry);
    Step::End
}

fn choose(ctx: &mut Ctx, st: &mut State, script: &Rc<Script>, line: &Line, rest: &[String], at: &str) -> Step {
    let spec: OptSpec = &[
        ("menu", 'm', true),
        ("default", 'd', true),
        ("timeout", 't', true),
        ("retimeout", 'r', true),
        ("keep", 'k', false),
    ];
    let (opts, words) = match options(rest, spec) {
        Ok(x) => x,
        Err(e) => {
            ctx.error(format!("{at}: choose: {e}"));
            return Step::Done(false);
        }
    };
    let Some(setting_name) = words.first() else {
        return Step::Done(false);
    };
    let setting_name = split_type(setting_name).0.to_string();
    let key = opts.get("menu").cloned().unwrap_or_default();
    let menu = if opts.contains_key("keep") {
        st.menus.get(&key).cloned()
    } else {
        st.menus.remove(&key)
    };
    let Some(menu) = menu else {
        return Step::Done(false);
    };
    let items: Vec<&Item> = menu.items.iter().filter(|i| i.label.is_some()).collect();
    if items.is_empty() {
        return Step::Done(false);
    }
    let default = opts
        .get("default")
        .and_then(|d| items.iter().position(|i| i.label.as_deref() == Some(d.as_str())))
        .or_else(|| items.iter().position(|i| i.default))
        .unwrap_or(0);
    if st.chosen.is_empty() && ctx.out.timeout_ms.is_none() {
        ctx.out.timeout_ms = Some(opts.get("timeout").and_then(|t| t.trim().parse().ok()).unwrap_or(0));
    }
    let site = (
        Rc::as_ptr(script) as usize,
        line.number,
        st.frames.last().map_or(0, |f| f.cmd),
    );
    if st.chosen.contains(&site) {
        // Back at a menu this path went through: its items are followed already.
        return Step::End;
    }
    if st.chosen.len() >= MAX_MENU_DEPTH {
        ctx.error(format!(
            "{at}: menus nested more than {MAX_MENU_DEPTH} deep; not followed"
        ));
        return Step::End;
    }
    for (i, item) in items.iter().enumerate() {
        if ctx.paths >= MAX_PATHS {
            ctx.error(format!("{at}: more than {MAX_PATHS} menu paths; the rest not followed"));
            break;
        }
        ctx.paths += 1;
        let label = item.label.clone().unwrap_or_default();
        let mut next = st.clone();
        next.settings.insert(setting_name.clone(), label.clone());
        next.titles.push(if item.text.trim().is_empty() {
            label.clone()
        } else {
            item.text.trim().to_string()
        });
        next.ids.push(label);
        next.chosen.push(site);
        next.on_default = st.on_default && i == default;
        if complete(ctx, &mut next, true) {
            run_path(ctx, next);
        }
    }
    Step::End
}

/// The script's entries as boot entries of source `ipxe`, read from volume
/// `volume` (the network source's), shown with `device`.
pub fn entries(menu: &IpxeMenu, volume: usize, device: &str) -> Vec<BootEntry> {
    menu.entries
        .iter()
        .enumerate()
        .map(|(i, e)| BootEntry {
            title: e.title.clone(),
            format: Format::Ipxe,
            kernel: e.kernel.clone(),
            initrds: e.initrds.clone(),
            cmdline: e.cmdline.clone(),
            default: menu.default == Some(i),
            device: device.to_string(),
            id: e.id.clone(),
            volume,
            boot_image: None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
