//! syslinux / extlinux / isolinux configs (and U-Boot's extlinux.conf, which
//! uses the same keywords), read the way syslinux 6 and its menu modules do.
//!
//! Faithfulness notes (syslinux `doc/syslinux.txt`, `doc/menu.txt`):
//! - keywords are case-insensitive; a LABEL's name is the rest of the line;
//! - relative paths (KERNEL, INITRD, INCLUDE, CONFIG) resolve against the
//!   working directory, which is the directory of the config file syslinux
//!   started with (or switched to with CONFIG), not that of an INCLUDEd file;
//! - a KERNEL whose extension is `.c32 .com .cbt .bin .bs .bss .0 .img` is a
//!   COMBOOT/COM32 module, boot sector, PXE program or disk image, not Linux,
//!   and so are BOOT/BSS/PXE/FDIMAGE/COMBOOT/COM32/CONFIG/LOCALBOOT labels and
//!   `memdisk`: we skip them (kexec can only start Linux);
//! - a LABEL without any kernel line boots a file named like the label;
//! - INITRD takes a comma-separated list; without it, the last `initrd=` in
//!   APPEND is used, and stays in the APPEND text (syslinux passes it on);
//! - `APPEND -` means nothing; a label without APPEND uses the global one;
//! - TIMEOUT is in tenths of a second; 0 (the default) means wait forever;
//! - submenus (MENU BEGIN … MENU END) are flattened into one list; MENU HIDE
//!   entries and MENU EXIT/QUIT items are not shown;
//! - syslinux prepends `BOOT_IMAGE=<kernel as written>` to the command line:
//!   [`ExtEntry::kernel_arg`] keeps that argument for the caller.
//!
//! The default entry is what syslinux boots when nobody presses a key. It
//! depends on who runs the menu (checked with real syslinux 6.04 booted in
//! QEMU, `scripts/syslinux-oracle`, corpus cases `syslinux-def-*`):
//! - a menu module (`UI menu.c32`/`vesamenu.c32`, or a `DEFAULT` that is a
//!   module, e.g. `DEFAULT vesamenu.c32`): ONTIMEOUT if set (the menu boots it
//!   on timeout whatever is highlighted); else, only with a `UI` line, the
//!   label the last DEFAULT names (menu.c32 honours DEFAULT over MENU DEFAULT
//!   only "if UI is found"; a MENU HIDE label does not count); else the top
//!   menu's MENU DEFAULT (one inside a submenu only preselects there); else
//!   the first entry;
//! - no menu module (ldlinux alone): the last DEFAULT, booted at once; with
//!   `PROMPT 1`, or without any DEFAULT, the `boot:` prompt times out to
//!   ONTIMEOUT when set. MENU lines mean nothing to ldlinux; with neither
//!   DEFAULT nor ONTIMEOUT it boots nothing, and hopboot takes the MENU
//!   DEFAULT (as U-Boot does with an extlinux.conf), else the first entry.
//!
//! A default naming no label (first word) but an existing kernel file is a
//! command line, as typed at the `boot:` prompt. A default hopboot cannot
//! kexec (a module, LOCALBOOT) leaves the first entry as the default.

use crate::format::{BootFormat, Config, Found};
use crate::fs::{join, FsView};
use crate::model::{BootEntry, DiscoveryError, Format, Problem, Volume};

/// Where syslinux-family configs are looked for, in this order.
pub const CONFIG_PATHS: &[&str] = &[
    "/extlinux/extlinux.conf",
    "/boot/extlinux/extlinux.conf",
    "/extlinux.conf",
    "/boot/extlinux.conf",
    "/syslinux/syslinux.cfg",
    "/boot/syslinux/syslinux.cfg",
    "/isolinux/isolinux.cfg",
    "/syslinux.cfg",
    "/boot/isolinux/isolinux.cfg",
];

/// Deepest INCLUDE nesting (syslinux's own limit), and most CONFIG restarts.
const MAX_DEPTH: usize = 16;
/// Most config lines processed in one parse.
const MAX_LINES: usize = 200_000;
/// Most LABELs kept.
const MAX_LABELS: usize = 4096;
/// Most bytes read in one parse, INCLUDEs and CONFIG switches together: a
/// few `INCLUDE` lines of a big file would otherwise read it 10^5 times
/// (MAX_LINES counts only the lines processed, not the bytes read).
const MAX_READ_BYTES: usize = 16 << 20;

/// One bootable (Linux) menu entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtEntry {
    /// The LABEL name.
    pub label: String,
    /// MENU LABEL without `^` hotkey markers, else the LABEL.
    pub title: String,
    /// Kernel: absolute path in the filesystem.
    pub kernel: String,
    /// The kernel argument as written (syslinux passes it as `BOOT_IMAGE=`).
    pub kernel_arg: String,
    /// Initrds, absolute paths, in load order.
    pub initrds: Vec<String>,
    /// The command line (APPEND text, verbatim).
    pub append: String,
}

/// The menu a syslinux config describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtMenu {
    /// Linux entries in menu order (submenus flattened).
    pub entries: Vec<ExtEntry>,
    /// Index of the default entry (`None` only when there are no entries).
    pub default: Option<usize>,
    /// Problems found (unreadable config, runaway includes, non-Linux default…).
    pub errors: Vec<String>,
}

/// How a label boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// KERNEL: decided by the file's extension.
    ByExtension,
    /// LINUX: a Linux kernel whatever its name.
    Linux,
    /// CONFIG: restart with another config file.
    Config,
    /// BOOT, BSS, PXE, FDIMAGE, COMBOOT, COM32, LOCALBOOT.
    Other,
}

#[derive(Debug, Default)]
struct Label {
    name: String,
    menu_label: Option<String>,
    kernel: Option<(Kind, String)>,
    append: Option<String>,
    initrd: Option<String>,
    hidden: bool,
    exit: bool,
    localboot: bool,
}

/// How a config's file names become paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Names {
    /// A filesystem: joined to the working directory and normalised.
    #[default]
    Local,
    /// PXELINUX: the working directory is a text prefix
    /// ([`crate::format::pxelinux::resolve`]).
    Pxe,
}

/// Everything one pass over a config (and its includes) produced.
#[derive(Default)]
struct State {
    names: Names,
    cwd: String,
    labels: Vec<Label>,
    current: Option<usize>,
    menu_depth: usize,
    top_menu_default: Option<usize>,
    global_append: Option<String>,
    /// The last DEFAULT line.
    default_cmd: Option<String>,
    ontimeout: Option<String>,
    /// A UI line was seen: a menu module runs, and it honours DEFAULT.
    ui: bool,
    /// PROMPT's value is not 0: ldlinux's `boot:` prompt waits (TIMEOUT).
    prompt: bool,
    in_text: bool,
    lines: usize,
    /// Bytes read so far, this pass and earlier ones (see [`MAX_READ_BYTES`]).
    read: usize,
    /// A CONFIG outside any label: (config path, working directory).
    restart: Option<(String, String)>,
}

fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((d, _)) => d.to_string(),
    }
}

/// Splits off the first whitespace-separated word.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim()),
        None => (s, ""),
    }
}

/// Whether a KERNEL file name is a syslinux module or image rather than Linux.
fn is_module(file: &str) -> bool {
    const EXT: &[&str] = &["c32", "com", "cbt", "bin", "bs", "bss", "0", "img"];
    let base = file.rsplit('/').next().unwrap_or(file);
    if base.eq_ignore_ascii_case("memdisk") {
        return true;
    }
    match base.rsplit_once('.') {
        Some((_, ext)) => EXT.iter().any(|e| ext.eq_ignore_ascii_case(e)),
        None => false,
    }
}

/// `name` as a path from working directory `cwd`.
fn resolve(names: Names, cwd: &str, name: &str) -> String {
    match names {
        Names::Local => join(cwd, name),
        Names::Pxe => crate::format::pxelinux::resolve(cwd, name),
    }
}

/// The directory of `path` (a CONFIG switch without a directory).
fn dir_in(names: Names, path: &str) -> String {
    match names {
        Names::Local => dir_of(path),
        // The text up to and including the last '/'.
        Names::Pxe => path.rfind('/').map(|i| path[..=i].to_string()).unwrap_or_default(),
    }
}

impl State {
    fn resolve(&self, name: &str) -> String {
        resolve(self.names, &self.cwd, name)
    }

    fn label(&mut self) -> Option<&mut Label> {
        self.labels.get_mut(self.current?)
    }

    /// Runs one config file; `depth` counts INCLUDE nesting.
    fn run_file(&mut self, fs: &dyn FsView, path: &str, depth: usize, errors: &mut Vec<String>) {
        if depth > MAX_DEPTH {
            errors.push(format!("{path}: INCLUDE nested more than {MAX_DEPTH} deep; not read"));
            return;
        }
        if self.read > MAX_READ_BYTES {
            return; // reported when the budget ran out
        }
        // A file costs at least a block, so empty INCLUDEs count too.
        self.read = self.read.saturating_add(4096);
        let text = match fs.read_text(path) {
            Ok(t) => t,
            Err(e) if depth == 0 => {
                errors.push(e.to_string());
                return;
            }
            Err(e) => {
                // syslinux skips a missing INCLUDE silently.
                log::debug!("include {path}: {e}");
                return;
            }
        };
        self.read = self.read.saturating_add(text.len());
        if self.read > MAX_READ_BYTES {
            errors.push(format!(
                "{path}: more than {MAX_READ_BYTES} bytes of config read; the rest is ignored"
            ));
            return;
        }
        for line in text.lines() {
            if self.restart.is_some() {
                return;
            }
            self.lines += 1;
            if self.lines > MAX_LINES {
                errors.push(format!("{path}: more than {MAX_LINES} config lines; rest ignored"));
                self.restart = None;
                return;
            }
            self.line(fs, line, depth, errors);
        }
    }

    fn line(&mut self, fs: &dyn FsView, line: &str, depth: usize, errors: &mut Vec<String>) {
        // syslinux skips leading blanks and keeps trailing ones: an APPEND
        // line's trailing spaces reach the kernel (real syslinux 6.04, booted
        // by scripts/syslinux-oracle).
        let untrimmed = line.trim_start();
        let line = line.trim();
        if self.in_text {
            if line.eq_ignore_ascii_case("endtext") {
                self.in_text = false;
            }
            return;
        }
        if line.is_empty() || line.starts_with('#') {
            return;
        }
        let (kw, rest) = word(line);
        match kw.to_ascii_lowercase().as_str() {
            "menu" => self.menu(fs, rest, depth, errors),
            "text" => self.in_text = word(rest).0.eq_ignore_ascii_case("help"),
            "label" => {
                if self.labels.len() >= MAX_LABELS {
                    self.current = None;
                    return;
                }
                self.labels.push(Label {
                    name: rest.to_string(),
                    ..Default::default()
                });
                self.current = Some(self.labels.len() - 1);
            }
            k @ ("kernel" | "linux" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" | "com32" | "config") => {
                let kind = match k {
                    "kernel" => Kind::ByExtension,
                    "linux" => Kind::Linux,
                    "config" => Kind::Config,
                    _ => Kind::Other,
                };
                if let Some(l) = self.label() {
                    l.kernel = Some((kind, rest.to_string()));
                } else if kind == Kind::Config {
                    // CONFIG outside a label: syslinux restarts with that file.
                    let (file, dir) = word(rest);
                    let file = self.resolve(file);
                    let dir = if dir.is_empty() {
                        dir_in(self.names, &file)
                    } else {
                        self.resolve(word(dir).0)
                    };
                    self.restart = Some((file, dir));
                }
            }
            "localboot" => {
                if let Some(l) = self.label() {
                    l.localboot = true;
                }
            }
            "append" => {
                let value = untrimmed[kw.len()..].trim_start().to_string();
                match self.label() {
                    Some(l) => l.append = Some(value),
                    None => self.global_append = Some(value),
                }
            }
            "initrd" => {
                if let Some(l) = self.label() {
                    l.initrd = Some(rest.to_string());
                }
            }
            "default" => self.default_cmd = Some(rest.to_string()),
            "ontimeout" => self.ontimeout = Some(rest.to_string()),
            "ui" => self.ui = true,
            // syslinux reads the number with atoi: anything but a leading 0 is on.
            "prompt" => {
                self.prompt = word(rest)
                    .0
                    .trim_start_matches('0')
                    .starts_with(|c: char| c.is_ascii_digit())
            }
            "include" => self.include(fs, rest, depth, errors),
            // TIMEOUT (hopboot's own countdown rules its menu), SAY, PATH, DISPLAY, F1…F12, TOTALTIMEOUT, IPAPPEND,
            // SYSAPPEND, SERIAL, FONT, KBDMAP, IMPLICIT… change nothing we show.
            _ => {}
        }
    }

    fn menu(&mut self, fs: &dyn FsView, rest: &str, depth: usize, errors: &mut Vec<String>) {
        let (sub, arg) = word(rest);
        match sub.to_ascii_lowercase().as_str() {
            "label" => {
                if let Some(l) = self.label() {
                    l.menu_label = Some(arg.to_string());
                }
            }
            // Only the top-level menu's default is the one that boots.
            "default" if self.menu_depth == 0 => self.top_menu_default = self.current,
            "hide" => {
                if let Some(l) = self.label() {
                    l.hidden = true;
                }
            }
            "exit" | "quit" => {
                if let Some(l) = self.label() {
                    l.exit = true;
                }
            }
            "begin" => {
                self.menu_depth += 1;
                self.current = None;
            }
            "end" => {
                self.menu_depth = self.menu_depth.saturating_sub(1);
                self.current = None;
            }
            "include" => self.include(fs, arg, depth, errors),
            _ => {}
        }
    }

    fn include(&mut self, fs: &dyn FsView, arg: &str, depth: usize, errors: &mut Vec<String>) {
        let (file, _tag) = word(arg);
        if !file.is_empty() {
            let path = self.resolve(file);
            self.run_file(fs, &path, depth + 1, errors);
        }
    }

    fn find_label(&self, cmd: &str) -> Option<usize> {
        let cmd = cmd.trim();
        let first = word(cmd).0;
        self.labels
            .iter()
            .position(|l| l.name == cmd)
            .or_else(|| self.labels.iter().position(|l| l.name == first))
    }
}

/// The Linux entry a label makes, if it makes one. A MENU HIDE label is
/// left out unless it is the default (syslinux still boots it on timeout).
fn entry(fs: &dyn FsView, st: &State, l: &Label, is_default: bool) -> Option<ExtEntry> {
    if (l.hidden && !is_default) || l.exit || l.localboot {
        return None;
    }
    let (kernel_arg, extra) = match &l.kernel {
        Some((Kind::Linux, k)) => word(k),
        Some((Kind::ByExtension, k)) if !is_module(word(k).0) => word(k),
        Some(_) => return None,
        None => {
            // No kernel line: the label names the kernel file, if there is one.
            let implicit = word(&l.name).0;
            if implicit.is_empty() || is_module(implicit) || !fs.is_file(&st.resolve(implicit)) {
                return None;
            }
            (implicit, "")
        }
    };
    if kernel_arg.is_empty() {
        return None;
    }
    let append = match l.append.as_deref().or(st.global_append.as_deref()) {
        Some(a) if a.trim_end() == "-" => String::new(),
        None => String::new(),
        Some(a) => a.to_string(),
    };
    let append = [extra, append.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let title = l
        .menu_label
        .as_deref()
        .map(|m| m.replace('^', "").trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| l.name.clone());
    Some(ExtEntry {
        label: l.name.clone(),
        title,
        kernel: st.resolve(kernel_arg),
        kernel_arg: kernel_arg.to_string(),
        initrds: initrds(st, l.initrd.as_deref(), &append),
        append,
    })
}

/// INITRD's list, else the last `initrd=` option of the command line.
fn initrds(st: &State, initrd: Option<&str>, append: &str) -> Vec<String> {
    let list = match initrd {
        Some(i) => word(i).0,
        None => append
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("initrd="))
            .next_back()
            .unwrap_or(""),
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| st.resolve(s))
        .collect()
}

/// Reads the syslinux config at `config_path` (with its INCLUDEs and CONFIG
/// switches) from `fs` and builds the menu. Never fails: problems go to
/// [`ExtMenu::errors`].
pub fn parse(fs: &dyn FsView, config_path: &str) -> ExtMenu {
    let path = join("/", config_path);
    let cwd = dir_of(&path);
    parse_in(fs, Names::Local, path, cwd)
}

/// Reads a PXELINUX config: `config` is the name as fetched (already
/// resolved against the prefix, e.g. `boot/pxelinux.cfg/default` or a URL)
/// and `prefix` the working directory, a text prefix to which every
/// unqualified name in the config is appended ([`crate::format::pxelinux`]).
/// The paths in the result are names in that form, for a network `FsView`.
pub fn parse_pxe(fs: &dyn FsView, config: &str, prefix: &str) -> ExtMenu {
    parse_in(fs, Names::Pxe, config.to_string(), prefix.to_string())
}

fn parse_in(fs: &dyn FsView, names: Names, mut path: String, mut cwd: String) -> ExtMenu {
    let config_path = path.clone();
    let mut errors = Vec::new();
    let mut restarts = 0usize;
    let mut read = 0usize;
    loop {
        let mut st = State {
            names,
            cwd: cwd.clone(),
            read,
            ..Default::default()
        };
        st.run_file(fs, &path, 0, &mut errors);
        read = st.read;
        // A CONFIG line outside a label, or a default label of type CONFIG
        // (Rufus/unetbootin's `syslinux.cfg` stubs): start again there.
        let next = st.restart.clone().or_else(|| {
            let i = default_label(&st)?;
            match st.labels.get(i)?.kernel.as_ref()? {
                (Kind::Config, arg) => {
                    let (file, _) = word(arg);
                    let file = st.resolve(file);
                    let app = st.labels.get(i)?.append.as_deref().map(|a| word(a).0).unwrap_or("");
                    let dir = if app.is_empty() {
                        dir_in(st.names, &file)
                    } else {
                        st.resolve(app)
                    };
                    Some((file, dir))
                }
                _ => None,
            }
        });
        let Some((p, d)) = next else {
            return build(fs, &st, errors);
        };
        restarts += 1;
        if restarts > MAX_DEPTH {
            errors.push(format!("{config_path}: more than {MAX_DEPTH} CONFIG switches; stopped"));
            return build(fs, &st, errors);
        }
        path = p;
        cwd = d;
    }
}

/// What syslinux boots unattended: a label, or a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unattended<'a> {
    Label(usize),
    Command(&'a str),
}

impl State {
    /// A DEFAULT/ONTIMEOUT value: the label it names, else a command line.
    fn pick<'a>(&self, cmd: &'a str) -> Unattended<'a> {
        match self.find_label(cmd) {
            Some(i) => Unattended::Label(i),
            None => Unattended::Command(cmd),
        }
    }
}

/// What syslinux boots when nobody presses a key (see the module notes), or
/// `None` when nothing names it (the first entry then).
fn unattended(st: &State) -> Option<Unattended<'_>> {
    let default = st.default_cmd.as_deref().map(|c| st.pick(c));
    let menu_module = st.ui || matches!(default, Some(Unattended::Command(c)) if is_module(word(c).0));
    if menu_module {
        // menu.c32 / vesamenu.c32 (com32/menu): ONTIMEOUT, DEFAULT under UI,
        // MENU DEFAULT, first.
        if let Some(c) = st.ontimeout.as_deref() {
            return Some(st.pick(c));
        }
        if st.ui {
            if let Some(Unattended::Label(i)) = default {
                if st.labels.get(i).is_some_and(|l| !l.hidden) {
                    return default;
                }
            }
        }
        return st.top_menu_default.map(Unattended::Label);
    }
    // ldlinux alone: DEFAULT boots at once unless PROMPT makes it wait; a
    // `boot:` prompt that times out runs ONTIMEOUT if there is one.
    // With neither, syslinux boots nothing (it waits at `boot:`); hopboot
    // takes the MENU DEFAULT as U-Boot, which reads extlinux.conf too, does.
    match (default, st.ontimeout.as_deref()) {
        (Some(d), _) if !st.prompt => Some(d),
        // PROMPT on, or no DEFAULT: the `boot:` prompt times out.
        (_, Some(c)) => Some(st.pick(c)),
        (Some(d), None) => Some(d),
        (None, None) => st.top_menu_default.map(Unattended::Label),
    }
}

/// The label syslinux boots unattended, if it is a label.
fn default_label(st: &State) -> Option<usize> {
    match unattended(st)? {
        Unattended::Label(i) => Some(i),
        Unattended::Command(_) => None,
    }
}

fn build(fs: &dyn FsView, st: &State, errors: Vec<String>) -> ExtMenu {
    let mut entries = Vec::new();
    let mut index_of_label: Vec<Option<usize>> = Vec::new();
    let unattended = unattended(st);
    let default_li = match unattended {
        Some(Unattended::Label(i)) => Some(i),
        _ => None,
    };
    for (i, l) in st.labels.iter().enumerate() {
        let e = entry(fs, st, l, default_li == Some(i));
        index_of_label.push(e.as_ref().map(|_| entries.len()));
        entries.extend(e);
    }
    let mut default = None;
    if let Some(li) = default_li {
        default = index_of_label.get(li).copied().flatten();
        if default.is_none() {
            if let Some(l) = st.labels.get(li) {
                let what = match &l.kernel {
                    _ if l.localboot => "LOCALBOOT",
                    _ if l.exit => "MENU EXIT",
                    Some((_, k)) => k.as_str(),
                    None => "no kernel file",
                };
                // Not an error of the config: hopboot simply cannot kexec it
                // (as with GRUB's chainloader entries, left out silently).
                log::info!(
                    "default entry '{}' is not a Linux kernel ({what}); the first entry is the default",
                    l.name
                );
            }
        }
    } else if let Some(e) = unattended.and_then(|u| match u {
        Unattended::Command(c) => command_line_default(fs, st, c),
        Unattended::Label(_) => None,
    }) {
        // DEFAULT/ONTIMEOUT names no label: syslinux boots it as a typed
        // command line.
        default = Some(entries.len());
        entries.push(e);
    }
    ExtMenu {
        default: default.or((!entries.is_empty()).then_some(0)),
        entries,
        errors,
    }
}

/// ONTIMEOUT/DEFAULT as a kernel command line (`DEFAULT vmlinuz root=/dev/sda1`),
/// when its first word is an existing Linux kernel file.
fn command_line_default(fs: &dyn FsView, st: &State, cmd: &str) -> Option<ExtEntry> {
    let (kernel_arg, args) = word(cmd);
    let kernel = st.resolve(kernel_arg);
    if kernel_arg.is_empty() || is_module(kernel_arg) || !fs.is_file(&kernel) {
        return None;
    }
    // Typed command lines get the global APPEND in front of their options.
    let append = [st.global_append.as_deref().unwrap_or(""), args]
        .iter()
        .filter(|s| !s.is_empty() && **s != "-")
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Some(ExtEntry {
        label: kernel_arg.to_string(),
        title: cmd.trim().to_string(),
        kernel,
        kernel_arg: kernel_arg.to_string(),
        initrds: initrds(st, None, &append),
        append,
    })
}

/// syslinux as a [`BootFormat`]: the first config of [`CONFIG_PATHS`] a volume has.
pub struct Extlinux;

impl BootFormat for Extlinux {
    fn name(&self) -> &'static str {
        "extlinux"
    }

    fn configs(&self, volumes: &[Volume], vi: usize) -> Vec<Config> {
        let found = volumes
            .get(vi)
            .and_then(|v| CONFIG_PATHS.iter().find(|p| v.fs.is_file(p)));
        found
            .map(|path| Config::file("extlinux", vi, path.to_string()))
            .into_iter()
            .collect()
    }

    fn read(&self, volumes: &[Volume], config: &Config) -> Found {
        let mut found = Found::default();
        let Some(vol) = volumes.get(config.volume) else {
            return found;
        };
        let menu = parse(vol.fs.as_ref(), &config.path);
        let where_ = format!("{}:{}", vol.name, config.path);
        let error = |p: Problem| DiscoveryError::new(where_.clone(), p);
        found
            .errors
            .extend(menu.errors.iter().map(|m| error(Problem::Config(m.clone()))));
        for (i, e) in menu.entries.iter().enumerate() {
            if !vol.fs.is_file(&e.kernel) {
                found.errors.push(error(Problem::KernelMissing {
                    entry: Some(e.title.clone()),
                    kernel: e.kernel.clone(),
                    volume: vol.name.clone(),
                }));
                continue;
            }
            if menu.default == Some(i) {
                found.default.get_or_insert(found.entries.len());
            }
            found.entries.push(BootEntry {
                title: e.title.clone(),
                format: Format::Extlinux,
                kernel: e.kernel.clone(),
                initrds: e.initrds.clone(),
                cmdline: e.append.clone(),
                default: false,
                device: vol.name.clone(),
                id: e.label.clone(),
                volume: config.volume,
                boot_image: Some(e.kernel_arg.clone()),
            });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;
    use std::path::Path;

    use crate::fs::dir::test_tree as tree;

    fn titles(m: &ExtMenu) -> Vec<&str> {
        m.entries.iter().map(|e| e.title.as_str()).collect()
    }

    /// /boot/extlinux.conf as Alpine's update-extlinux writes it.
    const ALPINE: &str = "# Generated by update-extlinux 6.04_pre1-r15
DEFAULT menu.c32
PROMPT 0
MENU TITLE Alpine/Linux Boot Menu
MENU HIDDEN
MENU AUTOBOOT Alpine will be booted automatically in # seconds.
TIMEOUT 10
LABEL lts
  MENU DEFAULT
  MENU LABEL Linux lts
  LINUX vmlinuz-lts
  INITRD intel-ucode.img,amd-ucode.img,initramfs-lts
  APPEND root=UUID=5a1ab7a2-5f3c-4a36-8a12-2b1f5e0b6c2d modules=sd-mod,usb-storage,ext4 quiet rootfstype=ext4

MENU SEPARATOR
";

    #[test]
    fn alpine_update_extlinux() {
        let d = tree(&[("boot/extlinux.conf", ALPINE)]);
        let m = parse(&DirFs::new(d.path()), "/boot/extlinux.conf");
        assert_eq!(m.errors, Vec::<String>::new());
        assert_eq!(m.entries.len(), 1);
        let e = &m.entries[0];
        assert_eq!((e.label.as_str(), e.title.as_str()), ("lts", "Linux lts"));
        assert_eq!(e.kernel, "/boot/vmlinuz-lts");
        assert_eq!(e.kernel_arg, "vmlinuz-lts");
        assert_eq!(
            e.initrds,
            ["/boot/intel-ucode.img", "/boot/amd-ucode.img", "/boot/initramfs-lts"]
        );
        assert!(e.append.starts_with("root=UUID=5a1ab7a2") && e.append.ends_with("rootfstype=ext4"));
        assert_eq!(m.default, Some(0));
    }

    /// Arch wiki's /boot/syslinux/syslinux.cfg: `../` paths, COM32 tools skipped.
    #[test]
    fn arch_syslinux_cfg() {
        let cfg = "DEFAULT arch
PROMPT 0        # Set to 1 if you always want to display the boot: prompt
TIMEOUT 50
UI menu.c32
MENU TITLE Arch Linux
MENU COLOR border       30;44   #40ffffff #a0000000 std

LABEL arch
    MENU LABEL Arch Linux
    LINUX ../vmlinuz-linux
    APPEND root=/dev/sda3 rw
    INITRD ../initramfs-linux.img

LABEL archfallback
    MENU LABEL Arch Linux Fallback
    LINUX ../vmlinuz-linux
    APPEND root=/dev/sda3 rw
    INITRD ../intel-ucode.img,../initramfs-linux-fallback.img

LABEL hdt
        MENU LABEL HDT (Hardware Detection Tool)
        COM32 hdt.c32

LABEL reboot
        MENU LABEL Reboot
        COM32 reboot.c32
";
        let d = tree(&[("boot/syslinux/syslinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/boot/syslinux/syslinux.cfg");
        assert_eq!(titles(&m), ["Arch Linux", "Arch Linux Fallback"]);
        assert_eq!(m.entries[0].kernel, "/boot/vmlinuz-linux");
        assert_eq!(m.entries[0].initrds, ["/boot/initramfs-linux.img"]);
        assert_eq!(
            m.entries[1].initrds,
            ["/boot/intel-ucode.img", "/boot/initramfs-linux-fallback.img"]
        );
        assert_eq!(m.default, Some(0));
        assert!(m.errors.is_empty());
    }

    /// syslinux skips the blanks before a value and keeps those after it.
    #[test]
    fn append_keeps_trailing_blanks_as_syslinux_does() {
        let cfg = "label a\n kernel /k\n  APPEND \t quiet splash  \nlabel b\n kernel /k\n APPEND -  \n";
        let d = tree(&[("syslinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
        assert_eq!(m.entries[0].append, "quiet splash  ");
        assert_eq!(m.entries[1].append, "", "`APPEND -` with trailing blanks is still `-`");
    }

    #[test]
    fn keywords_are_case_insensitive_and_append_rules() {
        let cfg = "append console=ttyS0
label one
kernel /vmlinuz one=1
label two
 KeRnEl /vmlinuz
 APPEND -
label three
 linux /kernel.img
 append initrd=/a.gz,/b.gz quiet initrd=/c.gz
label four
 kernel /vmlinuz
 initrd /i.img
 append initrd=/ignored.gz quiet
label five
 kernel /boot/memdisk
 initrd /dos.img
label six
 kernel chain.c32
 append hd0 1
label seven
 localboot 0x80
label eight
 menu hide
 kernel /vmlinuz
";
        let d = tree(&[("syslinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
        let labels: Vec<&str> = m.entries.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["one", "two", "three", "four"]);
        assert_eq!(m.entries[0].append, "one=1 console=ttyS0");
        assert_eq!(m.entries[1].append, "");
        // LINUX forces a kernel even with an image-like extension.
        assert_eq!(m.entries[2].kernel, "/kernel.img");
        assert_eq!(m.entries[2].initrds, ["/c.gz"]);
        assert_eq!(m.entries[2].append, "initrd=/a.gz,/b.gz quiet initrd=/c.gz");
        assert_eq!(m.entries[3].initrds, ["/i.img"]);
        assert_eq!(m.entries[3].append, "initrd=/ignored.gz quiet");
        assert_eq!(m.default, Some(0));
    }

    /// Index of the default entry of `cfg` (four labels a b c d after `head`,
    /// `MENU DEFAULT` on c when `menu_default`, b hidden when `hide_b`).
    fn default_of(head: &str, menu_default: bool, hide_b: bool) -> Option<usize> {
        let mut cfg = format!("{head}\nTIMEOUT 20\n");
        for l in ["a", "b", "c", "d"] {
            cfg += &format!("LABEL {l}\n  MENU LABEL Entry {l}\n");
            if l == "c" && menu_default {
                cfg += "  MENU DEFAULT\n";
            }
            if l == "b" && hide_b {
                cfg += "  MENU HIDE\n";
            }
            cfg += &format!("  LINUX vmlinuz-{l}\n  APPEND entry={l}\n");
        }
        let d = tree(&[("boot/syslinux/syslinux.cfg", cfg.as_str())]);
        let m = parse(&DirFs::new(d.path()), "/boot/syslinux/syslinux.cfg");
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        m.default
    }

    /// What real syslinux 6.04 booted on timeout (Debian 12's SYSLINUX in QEMU,
    /// scripts/syslinux-oracle; the corpus cases syslinux-def-*): menu.c32 and
    /// vesamenu.c32 take DEFAULT over MENU DEFAULT only when a UI line
    /// started them, and ONTIMEOUT over both.
    #[test]
    fn menu_module_default_rules() {
        const A: Option<usize> = Some(0);
        const B: Option<usize> = Some(1);
        const C: Option<usize> = Some(2);
        const D: Option<usize> = Some(3);
        for module in ["menu.c32", "vesamenu.c32"] {
            // UI <module>: DEFAULT b wins over MENU DEFAULT c.
            let ui = format!("UI {module}\nPROMPT 0");
            assert_eq!(default_of(&ui, false, false), A, "{ui}");
            assert_eq!(default_of(&format!("{ui}\nDEFAULT b"), false, false), B);
            assert_eq!(default_of(&ui, true, false), C);
            assert_eq!(default_of(&format!("{ui}\nDEFAULT b"), true, false), B);
            assert_eq!(default_of(&format!("{ui}\nDEFAULT b\nONTIMEOUT d"), true, false), D);
            // DEFAULT <module> (an earlier `DEFAULT b` is overridden, and the
            // menu ignores DEFAULT without UI): MENU DEFAULT, else the first.
            let module_last = format!("DEFAULT b\nDEFAULT {module}\nPROMPT 0");
            assert_eq!(default_of(&format!("DEFAULT {module}"), false, false), A);
            assert_eq!(default_of(&module_last, false, false), A, "{module_last}");
            assert_eq!(default_of(&format!("DEFAULT {module}"), true, false), C);
            assert_eq!(default_of(&module_last, true, false), C);
            assert_eq!(default_of(&format!("{module_last}\nONTIMEOUT d"), true, false), D);
        }
        // UI with DEFAULT naming a MENU HIDE label: the menu ignores it.
        assert_eq!(default_of("UI menu.c32\nDEFAULT b", true, true), Some(1));
        let d = tree(&[(
            "s.cfg",
            "UI menu.c32\nDEFAULT b\nLABEL a\n LINUX /k\nLABEL b\n MENU HIDE\n LINUX /k\n\
             LABEL c\n MENU DEFAULT\n LINUX /k\n",
        )]);
        let m = parse(&DirFs::new(d.path()), "/s.cfg");
        assert_eq!(titles(&m), ["a", "c"]);
        assert_eq!(m.default, Some(1));
    }

    /// No menu module (no UI, DEFAULT not a module): ldlinux boots DEFAULT at
    /// once and ignores MENU DEFAULT; a `boot:` prompt (PROMPT 1, or no DEFAULT)
    /// times out to ONTIMEOUT. Measured with real syslinux 6.04
    /// (`make-default-cases --ldlinux`, `syslinux-oracle --timeout-only`).
    #[test]
    fn ldlinux_alone_default_rules() {
        let b = Some(1);
        assert_eq!(
            default_of("DEFAULT b\nONTIMEOUT d\nPROMPT 0", true, false),
            b,
            "ld-label"
        );
        assert_eq!(default_of("DEFAULT b\nPROMPT 1", true, false), b, "ld-prompt");
        assert_eq!(
            default_of("DEFAULT b\nONTIMEOUT d\nPROMPT 1", true, false),
            Some(3),
            "ld-prompt-ontimeout"
        );
        assert_eq!(
            default_of("DEFAULT menu.c32\nDEFAULT b\nPROMPT 0", true, false),
            b,
            "ld-module-then-label: the last DEFAULT boots, no menu"
        );
        assert_eq!(
            default_of("ONTIMEOUT d\nPROMPT 0", true, false),
            Some(3),
            "ld-ontimeout-only"
        );
        // syslinux waits at `boot:` for ever ("No DEFAULT or UI configuration
        // directive found!"); hopboot's rule: MENU DEFAULT, else the first entry.
        assert_eq!(default_of("PROMPT 0", true, false), Some(2), "ld-none");
        assert_eq!(default_of("PROMPT 0", false, false), Some(0), "ld-none");
        // A hidden label is still what ldlinux boots.
        assert_eq!(default_of("DEFAULT b", false, true), Some(1));
    }

    #[test]
    fn defaults_in_submenus_and_default_options() {
        let cfg = "UI menu.c32
DEFAULT b
label a
 kernel /k
label b
 kernel /k
menu begin sub
 label c
  menu default
  kernel /k
menu end
label d
 kernel /k
";
        let d = tree(&[("extlinux.conf", cfg)]);
        let fs = DirFs::new(d.path());
        let set = |text: String| std::fs::write(d.path().join("extlinux.conf"), text).unwrap();
        // MENU DEFAULT inside a submenu preselects only there.
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(1));
        set(cfg.replace("DEFAULT b\n", ""));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(0));
        // A top-level MENU DEFAULT counts; under UI, DEFAULT still wins.
        set(cfg.replace("label d\n", "label d\n menu default\n"));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(1));
        set(cfg
            .replace("label d\n", "label d\n menu default\n")
            .replace("DEFAULT b\n", ""));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(3));
        // Under UI, DEFAULT naming a label in a submenu opens the menu there.
        set(cfg.replace("DEFAULT b", "DEFAULT c"));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(2));
        set(format!("ONTIMEOUT c\n{cfg}"));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(2));
        // DEFAULT with extra options still finds the label by its first word.
        set(cfg.replace("DEFAULT b", "DEFAULT d single"));
        assert_eq!(parse(&fs, "/extlinux.conf").default, Some(3));
        // PROMPT's value as syslinux's atoi reads it.
        let ld = "DEFAULT b\nONTIMEOUT d\nlabel a\n kernel /k\nlabel b\n kernel /k\nlabel d\n kernel /k\n";
        for (prompt, want) in [("0", 1), ("00", 1), ("1", 2), ("01", 2), ("2", 2), ("x", 1)] {
            set(format!("PROMPT {prompt}\n{ld}"));
            assert_eq!(parse(&fs, "/extlinux.conf").default, Some(want), "PROMPT {prompt}");
        }
    }

    #[test]
    fn ontimeout_command_line_under_a_menu() {
        let d = tree(&[
            (
                "syslinux.cfg",
                "UI menu.c32\nDEFAULT a\nONTIMEOUT vmlinuz root=/dev/sdb1\nlabel a\n kernel vmlinuz\n",
            ),
            ("vmlinuz", "k"),
        ]);
        let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
        assert_eq!(titles(&m), ["a", "vmlinuz root=/dev/sdb1"]);
        assert_eq!(m.default, Some(1));
        assert_eq!(m.entries[1].append, "root=/dev/sdb1");
    }

    #[test]
    fn hidden_entries_stay_out_unless_default() {
        let cfg = "DEFAULT secret\nlabel shown\n kernel /k\nlabel secret\n menu hide\n kernel /k2\n\
                   label other\n menu hide\n kernel /k3\n";
        let d = tree(&[("syslinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
        assert_eq!(titles(&m), ["shown", "secret"]);
        assert_eq!(m.default, Some(1));
    }

    #[test]
    fn non_linux_default_is_skipped_and_first_entry_used() {
        let cfg = "DEFAULT xen\nlabel xen\n kernel mboot.c32\n append xen.gz --- vmlinuz --- initrd.img\n\
                   label linux\n kernel vmlinuz\n";
        let d = tree(&[("isolinux/isolinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/isolinux/isolinux.cfg");
        assert_eq!(titles(&m), ["linux"]);
        assert_eq!(m.entries[0].kernel, "/isolinux/vmlinuz");
        assert_eq!(m.default, Some(0));
        // A default hopboot cannot kexec (mboot.c32) is not a fault of the config:
        // left out without an error, like GRUB's chainloader entries.
        assert!(m.errors.is_empty(), "{:?}", m.errors);
    }

    #[test]
    fn implicit_kernel_and_command_line_default() {
        let d = tree(&[
            ("syslinux.cfg", "label vmlinuz\nlabel missing\nlabel back\n menu exit\n"),
            ("vmlinuz", "k"),
        ]);
        let fs = DirFs::new(d.path());
        let m = parse(&fs, "/syslinux.cfg");
        assert_eq!(titles(&m), ["vmlinuz"]);
        assert_eq!(m.entries[0].kernel, "/vmlinuz");
        std::fs::write(
            d.path().join("syslinux.cfg"),
            "DEFAULT vmlinuz root=/dev/sda1 initrd=initrd.gz\nAPPEND console=tty0\nTIMEOUT 0\n",
        )
        .unwrap();
        let m = parse(&fs, "/syslinux.cfg");
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.default, Some(0));
        assert_eq!(m.entries[0].append, "console=tty0 root=/dev/sda1 initrd=initrd.gz");
        assert_eq!(m.entries[0].initrds, ["/initrd.gz"]);
    }

    #[test]
    fn include_resolves_against_the_working_directory() {
        let d = tree(&[
            (
                "boot/syslinux/syslinux.cfg",
                "INCLUDE menus/main.cfg\nMENU INCLUDE /etc/extra.cfg tag\n",
            ),
            (
                "boot/syslinux/menus/main.cfg",
                "INCLUDE entries.cfg\nLABEL a\n KERNEL vmlinuz\n",
            ),
            // Relative to the working directory (/boot/syslinux), not to menus/.
            ("boot/syslinux/entries.cfg", "LABEL b\n KERNEL vmlinuz\n"),
            ("etc/extra.cfg", "LABEL c\n KERNEL /vmlinuz\n"),
        ]);
        let m = parse(&DirFs::new(d.path()), "/boot/syslinux/syslinux.cfg");
        assert_eq!(titles(&m), ["b", "a", "c"]);
        assert_eq!(m.entries[0].kernel, "/boot/syslinux/vmlinuz");
        assert_eq!(m.entries[2].kernel, "/vmlinuz");
    }

    #[test]
    fn include_loops_and_missing_files() {
        let d = tree(&[("loop.cfg", "LABEL x\n KERNEL /k\nINCLUDE loop.cfg\n")]);
        let m = parse(&DirFs::new(d.path()), "/loop.cfg");
        assert_eq!(m.entries.len(), MAX_DEPTH + 1);
        assert!(m.errors.iter().any(|e| e.contains("nested")));
        let m = parse(&DirFs::new(d.path()), "/nope.cfg");
        assert!(m.entries.is_empty() && m.default.is_none());
        assert_eq!(m.errors.len(), 1);
    }

    #[test]
    fn config_switches_file_and_working_directory() {
        let d = tree(&[
            // Rufus-style stub: the default label is a CONFIG.
            (
                "syslinux.cfg",
                "DEFAULT loadconfig\nLABEL loadconfig\n CONFIG /isolinux/isolinux.cfg\n APPEND /isolinux/\n",
            ),
            (
                "isolinux/isolinux.cfg",
                "LABEL live\n KERNEL vmlinuz\n APPEND initrd=initrd.img boot=live\n",
            ),
            // CONFIG before any LABEL switches files; inside a label it is the label's type.
            ("top.cfg", "CONFIG sub/real.cfg\nLABEL lost\n KERNEL /k\n"),
            ("sub/real.cfg", "LABEL real\n KERNEL vmlinuz\n"),
            ("a.cfg", "CONFIG b.cfg\n"),
            ("b.cfg", "CONFIG a.cfg\n"),
        ]);
        let fs = DirFs::new(d.path());
        let m = parse(&fs, "/syslinux.cfg");
        assert_eq!(titles(&m), ["live"]);
        assert_eq!(m.entries[0].kernel, "/isolinux/vmlinuz");
        assert_eq!(m.entries[0].initrds, ["/isolinux/initrd.img"]);
        let m = parse(&fs, "/top.cfg");
        assert_eq!(titles(&m), ["real"]);
        assert_eq!(m.entries[0].kernel, "/sub/vmlinuz");
        let m = parse(&fs, "/a.cfg");
        assert!(m.entries.is_empty());
        assert!(m.errors.iter().any(|e| e.contains("CONFIG switches")));
    }

    #[test]
    fn text_help_blocks_are_skipped() {
        let cfg = "label a\n text help\n label fake\n kernel /evil\n endtext\n kernel /good\n";
        let d = tree(&[("syslinux.cfg", cfg)]);
        let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].kernel, "/good");
    }

    /// A u-root isolinux tree, from the copies in tests/corpus (committed,
    /// so the test never skips).
    fn corpus(name: &str) -> Option<std::path::PathBuf> {
        let case = match name {
            "debian_10_install" => "uroot-isolinux-debian10",
            "debian_9_install" => "uroot-isolinux-debian9",
            "fedora_27_install" => "uroot-isolinux-fedora27",
            "qubes_3_2_install" => "uroot-isolinux-qubes32",
            other => panic!("unknown corpus tree {other}"),
        };
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/corpus")
            .join(case)
            .join("root");
        assert!(p.is_dir(), "{} missing", p.display());
        Some(p)
    }

    /// Debian 10 netinst: vesamenu with submenus; real syslinux preselects
    /// "Graphical install" (top-level MENU DEFAULT; the later `default
    /// installdark*` and `menu default` lines sit inside the dark submenu, and
    /// the last DEFAULT is vesamenu.c32). u-root's JSON differs: it gives a
    /// `MENU LABEL` that follows `MENU BEGIN` to the previous LABEL (so
    /// "Install" shows as "^Advanced options"), and keeps the `^` markers.
    #[test]
    fn uroot_debian_10_install() {
        let Some(c) = corpus("debian_10_install") else { return };
        let m = parse(&DirFs::new(&c), "/isolinux/isolinux.cfg");
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        // File order, submenus (advanced, adspk, dark, dark/advanced) in place.
        assert_eq!(
            titles(&m),
            [
                "Graphical install",
                "Install",
                "Graphical expert install",
                "Graphical rescue mode",
                "Graphical automated install",
                "Expert install",
                "Rescue mode",
                "Automated install",
                "Expert speech install",
                "Rescue speech mode",
                "Automated speech install",
                "Graphical install",
                "Install",
                "Graphical expert install",
                "Graphical rescue mode",
                "Graphical automated install",
                "Expert install",
                "Rescue mode",
                "Automated install",
                "Install with speech synthesis",
            ]
        );
        let d = &m.entries[m.default.unwrap()];
        assert_eq!(d.label, "installgui");
        assert_eq!(d.kernel, "/install.amd/vmlinuz");
        assert_eq!(d.initrds, ["/install.amd/gtk/initrd.gz"]);
        // The file's trailing space stays, as real syslinux passes it on.
        assert_eq!(d.append, "vga=788 initrd=/install.amd/gtk/initrd.gz --- quiet ");
        // "help" (CONFIG prompt.cfg) and the "Back.." items are not Linux entries.
        assert!(m.entries.iter().all(|e| e.label != "help" && e.label != "mainmenu"));
    }

    #[test]
    fn uroot_debian_9_install() {
        let Some(c) = corpus("debian_9_install") else { return };
        let m = parse(&DirFs::new(&c), "/isolinux/isolinux.cfg");
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        let d = &m.entries[m.default.unwrap()];
        assert_eq!(d.title, "Debian GNU/Linux Live (kernel 4.9.0-3-amd64)");
        assert_eq!(d.kernel, "/live/vmlinuz-4.9.0-3-amd64");
        assert_eq!(d.initrds, ["/live/initrd.img-4.9.0-3-amd64"]);
        assert_eq!(m.entries.len(), 80);
        let last = m.entries.last().unwrap();
        assert_eq!(last.title, "Debian Installer with Speech Synthesis");
        assert_eq!(last.append, "initrd=/d-i/gtk/initrd.gz speakup.synth=soft");
    }

    /// Fedora 27 live: `^` markers dropped, MENU DEFAULT on "check" (syslinux
    /// preselects it, keeping file order: u-root moves it to the top instead),
    /// memtest (no extension: a Linux-protocol image) kept, localboot dropped.
    #[test]
    fn uroot_fedora_27_install() {
        let Some(c) = corpus("fedora_27_install") else { return };
        let m = parse(&DirFs::new(&c), "/isolinux/isolinux.cfg");
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        assert_eq!(
            titles(&m),
            [
                "Start Fedora-Workstation-Live 27",
                "Test this media & start Fedora-Workstation-Live 27",
                "Start Fedora-Workstation-Live 27 in basic graphics mode",
                "Run a memory test",
            ]
        );
        assert_eq!(m.default, Some(1));
        assert_eq!(m.entries[0].kernel, "/isolinux/vmlinuz");
        assert_eq!(m.entries[0].initrds, ["/isolinux/initrd.img"]);
        assert_eq!(m.entries[3].kernel, "/isolinux/memtest");
        assert!(m.entries[3].initrds.is_empty());
    }

    /// Qubes 3.2: the Xen entries go through mboot.c32 (multiboot), which
    /// kexec cannot start; only memtest is left, and the default ("check",
    /// an mboot entry) is reported.
    #[test]
    fn uroot_qubes_3_2_install() {
        let Some(c) = corpus("qubes_3_2_install") else { return };
        let m = parse(&DirFs::new(&c), "/isolinux/isolinux.cfg");
        assert_eq!(titles(&m), ["Run a memory test"]);
        assert_eq!(m.default, Some(0));
        assert!(m.errors.is_empty(), "{:?}", m.errors);
    }

    #[test]
    fn hostile_input_never_panics() {
        let words = [
            "label",
            "kernel",
            "linux",
            "append",
            "initrd",
            "menu",
            "default",
            "begin",
            "end",
            "include",
            "config",
            "text",
            "help",
            "endtext",
            "-",
            "a.c32",
            "x",
            "/",
            "..",
            "ontimeout",
            "timeout",
            "9",
            "\n",
            "\n",
            "\n",
            " ",
            ",",
            "initrd=",
            "^",
            "hide",
            "exit",
            "localboot",
            "label",
        ];
        let mut seed = 0x1234_5678_9abc_def1u64;
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..(seed % 120) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(words[(seed % words.len() as u64) as usize]);
                s.push(' ');
            }
            let d = tree(&[("syslinux.cfg", &s), ("x", "k")]);
            let m = parse(&DirFs::new(d.path()), "/syslinux.cfg");
            assert!(m.default.is_none() == m.entries.is_empty());
        }
    }
}
