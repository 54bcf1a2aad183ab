//! A GRUB 2 interpreter for the grub-script that `grub-mkconfig` and distro
//! installers generate: it runs grub.cfg the way GRUB's `normal` module would
//! (variables, `if`/`test`, functions, `source`, `load_env`, `search`), then
//! "boots" each menu entry on paper to learn its kernel, initrds and command
//! line, and works out GRUB's default entry.
//!
//! Faithfulness notes (GRUB 2.06 `normal` module behaviour):
//! - a menu entry's body runs when it is chosen, so it sees the variables as
//!   they are at the end of the script, not where the entry was defined;
//! - a `submenu` body runs in a new context that only sees exported variables;
//! - `default` is an index, a title, an id, or a `>`-separated path of those;
//!   an unknown value falls back to entry 0.

mod blscfg;
pub mod script;

use crate::fs::Kind;
use script::{parse_recovering, Cmd, Part, Word};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// Most commands executed in one run: guards against hostile configs.
const MAX_STEPS: usize = 200_000;
/// Deepest nesting of submenus.
const MAX_DEPTH: usize = 16;
/// Deepest nesting of function calls and `source`/`configfile` together.
/// grub-emu 2.06 runs a self-calling function body 29 times and a
/// self-sourcing file (below grub.cfg) 28 times before it stops with
/// "maximum recursion depth exceeded"; the rest of the config still runs.
const MAX_CALL_DEPTH: usize = 29;
const MAX_SOURCE_DEPTH: usize = 28;
/// Most `for`/`while`/`until` iterations in one run.
const MAX_LOOP_ITERATIONS: usize = 10_000;
/// Most bytes of work in one run: files read, text made by variable
/// expansion, environments and script bodies copied. The caps above count
/// commands, but one command can cost a whole file: without this budget
/// `set a="$a$a"` grows a value to gigabytes, and a few `source` lines of a
/// big file (or `load_env`, `blscfg` in a loop) read it 10^5 times.
const MAX_WORK: usize = 16 << 20;
/// What one file read, listing, file test or `search` costs at least.
const MIN_CHARGE: usize = 4 << 10;
/// Most menu entries and submenus kept, per menu and flattened.
const MAX_ENTRIES: usize = 1024;

/// What an interpreter may ask of the machine. Devices are GRUB-style names
/// the host hands out (from `search`, or the config's own device).
pub trait GrubHost {
    /// Kind of a file, `None` when missing. `dev` is `None` for "no device".
    fn kind(&self, dev: &str, path: &str) -> Option<Kind>;
    /// Size of a file.
    fn size(&self, dev: &str, path: &str) -> Option<u64>;
    /// Reads a text file (config, grubenv).
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String>;
    /// `search`: the first device with the file / fs UUID / fs label /
    /// partition UUID / partition label.
    fn search(&self, by: SearchBy, value: &str) -> Option<String>;
    /// Names in a directory (for `blscfg`); none by default.
    fn list(&self, dev: &str, path: &str) -> Vec<String> {
        let _ = (dev, path);
        Vec::new()
    }
}

/// What `search` looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchBy {
    /// `--file`
    File,
    /// `--fs-uuid`
    FsUuid,
    /// `--label`
    Label,
    /// `--part-uuid`: the GPT unique partition GUID, or `SSSSSSSS-PP` on MBR
    /// (what Linux calls `PARTUUID=`). Not in upstream GRUB 2.12; from the
    /// patch series posted to grub-devel (and CoreOS/Flatcar's GRUB).
    PartUuid,
    /// `--part-label`: the GPT partition name (`PARTLABEL=`); same origin.
    PartLabel,
}

/// A file as GRUB names it: a device and a path on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubPath {
    /// Device name (`hd0,gpt2`); the `$root` of the moment when none was written.
    pub device: String,
    /// Absolute path on that device.
    pub path: String,
}

/// One bootable menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEntry {
    /// Its own title.
    pub title: String,
    /// `--id`, when given.
    pub id: Option<String>,
    /// The `linux` file.
    pub kernel: GrubPath,
    /// The kernel argument exactly as written (for `BOOT_IMAGE=`).
    pub kernel_arg: String,
    /// `initrd` files, in order.
    pub initrds: Vec<GrubPath>,
    /// The command line GRUB builds from the arguments after the kernel on
    /// the `linux` line (see [`loader_cmdline`]), without `BOOT_IMAGE=`.
    pub cmdline: String,
    /// Made by `blscfg` (Fedora/RHEL) from a Boot Loader Spec snippet.
    pub bls: bool,
}

/// The result of running a grub.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrubMenu {
    /// Bootable entries in menu order, submenus flattened in place.
    pub entries: Vec<GrubEntry>,
    /// Index in `entries` of GRUB's default.
    pub default: Option<usize>,
    /// The `timeout` variable, in seconds.
    pub timeout: Option<u32>,
    /// Problems: syntax errors, unreadable files, entries without a kernel.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Env {
    vars: HashMap<String, String>,
    exported: HashSet<String>,
}

impl Env {
    fn get(&self, k: &str) -> &str {
        self.vars.get(k).map(String::as_str).unwrap_or("")
    }
    fn set(&mut self, k: &str, v: &str) {
        self.vars.insert(k.to_string(), v.to_string());
    }
    /// Bytes of names and values: what a copy costs.
    fn bytes(&self) -> usize {
        self.vars.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
    /// A new context as `grub_env_context_open` makes it: exported variables only.
    fn exported_only(&self) -> Env {
        let vars = self
            .vars
            .iter()
            .filter(|(k, _)| self.exported.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Env {
            vars,
            exported: self.exported.clone(),
        }
    }
}

#[derive(Debug, Clone)]
enum Item {
    Entry {
        title: String,
        id: Option<String>,
        params: Vec<String>,
        body: Vec<Cmd>,
        /// Made by `blscfg` from a BLS snippet.
        bls: bool,
    },
    Submenu {
        title: String,
        id: Option<String>,
        params: Vec<String>,
        body: Vec<Cmd>,
    },
}

impl Item {
    fn matches(&self, key: &str) -> bool {
        let (Item::Entry { title, id, .. } | Item::Submenu { title, id, .. }) = self;
        title == key || id.as_deref() == Some(key)
    }
}

/// What running an entry's body recorded.
#[derive(Debug, Default)]
struct Boot {
    linux: Option<(GrubPath, String, String)>,
    initrds: Vec<GrubPath>,
}

struct Interp<'h> {
    host: &'h dyn GrubHost,
    env: Env,
    functions: HashMap<String, Vec<Cmd>>,
    menu: Vec<Item>,
    errors: Vec<String>,
    steps: usize,
    depth: usize,
    params: Vec<String>,
    boot: Option<Boot>,
    file: String,
    /// A pending `break`/`continue`/`return`.
    ctrl: Option<Ctrl>,
    /// Loops running in the current function (or script).
    loops: usize,
    /// Function calls in progress.
    calls: usize,
    /// Loop iterations so far.
    iterations: usize,
    /// Bytes of work so far (see [`MAX_WORK`]).
    work: Cell<usize>,
    /// Whether "stopped" was reported.
    stop_reported: bool,
    /// Whether "too many entries" was reported.
    entries_capped: bool,
}

/// Control flow leaving a command list early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctrl {
    /// `break N`: leave N loops.
    Break(usize),
    /// `continue N`: leave N-1 loops and go on with the next iteration of the Nth.
    Continue(usize),
    /// `return`: leave the function.
    Return,
}

/// Runs the grub.cfg at `path` on device `dev`, as GRUB's normal mode would.
pub fn run(host: &dyn GrubHost, dev: &str, path: &str) -> GrubMenu {
    let mut it = Interp {
        host,
        env: Env::default(),
        functions: HashMap::new(),
        menu: Vec::new(),
        errors: Vec::new(),
        steps: 0,
        depth: 0,
        params: Vec::new(),
        boot: None,
        file: path.to_string(),
        ctrl: None,
        loops: 0,
        calls: 0,
        iterations: 0,
        work: Cell::new(0),
        stop_reported: false,
        entries_capped: false,
    };
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    // Variables GRUB itself sets before reading grub.cfg, all exported.
    let prefix = format!("({dev}){dir}");
    for (k, v) in [
        ("root", dev),
        ("prefix", prefix.as_str()),
        ("cmdpath", prefix.as_str()),
        ("grub_cpu", "x86_64"),
        ("grub_platform", "efi"),
        ("feature_200_final", "y"),
        ("feature_chainloader_bpb", "y"),
        ("feature_ntldr", "y"),
        ("feature_platform_search_hint", "y"),
        ("feature_default_font_path", "y"),
        ("feature_all_video_module", "y"),
        ("feature_menuentry_id", "y"),
        ("feature_menuentry_options", "y"),
        ("feature_nativedisk_cmd", "y"),
        ("feature_timeout_style", "y"),
    ] {
        it.env.set(k, v);
        it.env.exported.insert(k.to_string());
    }
    it.env.set("config_directory", &prefix);
    it.env.set("config_file", &format!("({dev}){path}"));
    match host.read_text(dev, path) {
        Ok(src) => {
            it.charge(src.len());
            it.run_source(&src)
        }
        Err(e) => it.errors.push(format!("{path}: {e}")),
    }
    it.finish()
}

/// Splits a GRUB file name into device and path: `(hd0,gpt2)/boot/x` or `/boot/x` (on `$root`).
fn split_path(name: &str, root: &str) -> GrubPath {
    if let Some(rest) = name.strip_prefix('(') {
        if let Some((dev, path)) = rest.split_once(')') {
            let path = if path.is_empty() { "/" } else { path };
            return GrubPath {
                device: dev.to_string(),
                path: crate::fs::join("/", path),
            };
        }
    }
    GrubPath {
        device: root.to_string(),
        path: crate::fs::join("/", name),
    }
}

/// Roughly the bytes a copy of `cmds` takes: what copying a body costs.
fn weight(cmds: &[Cmd]) -> usize {
    let words = |ws: &[Word]| -> usize {
        ws.iter()
            .flat_map(|w| &w.0)
            .map(|p| match p {
                Part::Lit(s, _) | Part::Var(s, _) => s.len() + 32,
            })
            .sum()
    };
    cmds.iter()
        .map(|c| {
            64 + match c {
                Cmd::Simple { words: w, .. } => words(w),
                Cmd::If { branches, otherwise } => {
                    branches.iter().map(|(c, b)| weight(c) + weight(b)).sum::<usize>() + weight(otherwise)
                }
                Cmd::Menu { args, body, .. } => words(args) + weight(body),
                Cmd::Function { name, body } => name.len() + weight(body),
                Cmd::For {
                    var, words: w, body, ..
                } => var.len() + words(w) + weight(body),
                Cmd::While { cond, body, .. } => weight(cond) + weight(body),
            }
        })
        .sum()
}

impl Interp<'_> {
    /// Counts `n` bytes of work (see [`MAX_WORK`]).
    fn charge(&self, n: usize) {
        self.work.set(self.work.get().saturating_add(n));
    }

    /// Whether the run is over its command or work budget: nothing more runs.
    fn stopped(&self) -> bool {
        self.steps > MAX_STEPS || self.work.get() > MAX_WORK
    }

    fn run_source(&mut self, src: &str) {
        let (cmds, errors) = parse_recovering(src);
        for e in errors {
            self.errors.push(format!("{}: {e}", self.file));
        }
        // A script's own `break`/`continue`/`return` end at its boundary.
        let saved_loops = std::mem::replace(&mut self.loops, 0);
        for c in &cmds {
            self.exec(c);
            if self.stopped() {
                break;
            }
            if self.ctrl == Some(Ctrl::Return) {
                break;
            }
            self.ctrl = None;
        }
        self.ctrl = None;
        self.loops = saved_loops;
    }

    fn exec_list(&mut self, cmds: &[Cmd]) -> i32 {
        let mut rc = 0;
        for c in cmds {
            rc = self.exec(c);
            if self.stopped() || self.ctrl.is_some() {
                break;
            }
        }
        rc
    }

    /// Counts one loop iteration; `false` once the cap is reached.
    fn iteration(&mut self, line: usize) -> bool {
        self.iterations += 1;
        if self.iterations > MAX_LOOP_ITERATIONS {
            if self.iterations == MAX_LOOP_ITERATIONS + 1 {
                self.errors.push(format!(
                    "{}:{line}: loops stopped after {MAX_LOOP_ITERATIONS} iterations",
                    self.file
                ));
            }
            return false;
        }
        !self.stopped()
    }

    /// After a loop body: whether the loop goes on, consuming its own
    /// `break`/`continue`.
    fn loop_continues(&mut self) -> bool {
        match self.ctrl {
            None => true,
            Some(Ctrl::Return) => false,
            Some(Ctrl::Break(n)) => {
                self.ctrl = (n > 1).then_some(Ctrl::Break(n - 1));
                false
            }
            Some(Ctrl::Continue(n)) => {
                if n > 1 {
                    self.ctrl = Some(Ctrl::Continue(n - 1));
                    false
                } else {
                    self.ctrl = None;
                    true
                }
            }
        }
    }

    fn run_for(&mut self, var: &str, words: &[Word], body: &[Cmd], line: usize) -> i32 {
        let items = self.expand_all(words);
        let mut rc = 0;
        self.loops += 1;
        for item in items {
            if !self.iteration(line) {
                break;
            }
            self.env.set(var, &item);
            rc = self.exec_list(body);
            if !self.loop_continues() {
                break;
            }
        }
        self.loops -= 1;
        rc
    }

    fn run_while(&mut self, until: bool, cond: &[Cmd], body: &[Cmd], line: usize) -> i32 {
        let mut rc = 0;
        self.loops += 1;
        while self.iteration(line) {
            let c = self.exec_list(cond);
            if self.ctrl.is_some() {
                if self.loop_continues() {
                    continue;
                }
                break;
            }
            if (c == 0) == until {
                break;
            }
            rc = self.exec_list(body);
            if !self.loop_continues() {
                break;
            }
        }
        self.loops -= 1;
        rc
    }

    fn expand(&self, w: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for p in &w.0 {
            if self.stopped() {
                break;
            }
            match p {
                Part::Lit(s, quoted) => {
                    self.charge(s.len());
                    cur.push_str(s);
                    has |= *quoted || !s.is_empty();
                }
                Part::Var(name, true) => {
                    let v = self.var(name);
                    self.charge(v.len());
                    cur.push_str(&v);
                    has = true;
                }
                Part::Var(name, false) => {
                    let v = self.var(name);
                    self.charge(v.len());
                    let mut pieces = v.split([' ', '\t', '\n']).filter(|s| !s.is_empty()).peekable();
                    if v.starts_with([' ', '\t', '\n']) && has {
                        fields.push(std::mem::take(&mut cur));
                        has = false;
                    }
                    while let Some(piece) = pieces.next() {
                        cur.push_str(piece);
                        has = true;
                        if pieces.peek().is_some() {
                            fields.push(std::mem::take(&mut cur));
                        }
                    }
                    if v.ends_with([' ', '\t', '\n']) && has {
                        fields.push(std::mem::take(&mut cur));
                        has = false;
                    }
                }
            }
        }
        if has {
            fields.push(cur);
        }
        fields
    }

    fn var(&self, name: &str) -> String {
        if let Ok(n) = name.parse::<usize>() {
            return if n == 0 {
                String::new()
            } else {
                self.params.get(n - 1).cloned().unwrap_or_default()
            };
        }
        match name {
            "#" => self.params.len().to_string(),
            "@" | "*" => self.params.join(" "),
            _ => self.env.get(name).to_string(),
        }
    }

    fn expand_all(&self, words: &[Word]) -> Vec<String> {
        words.iter().flat_map(|w| self.expand(w)).collect()
    }

    fn exec(&mut self, c: &Cmd) -> i32 {
        self.steps += 1;
        if self.stopped() {
            self.report_stop();
            return 1;
        }
        let rc = match c {
            Cmd::Simple { words, line } => {
                let args = self.expand_all(words);
                self.simple(&args, *line)
            }
            Cmd::If { branches, otherwise } => {
                let mut ran = None;
                for (cond, body) in branches {
                    if self.exec_list(cond) == 0 {
                        ran = Some(self.exec_list(body));
                        break;
                    }
                }
                match ran {
                    Some(rc) => rc,
                    None => self.exec_list(otherwise),
                }
            }
            Cmd::Menu {
                submenu,
                args,
                body,
                line,
            } => {
                let args = self.expand_all(args);
                self.define_menu(*submenu, &args, body, *line)
            }
            Cmd::Function { name, body } => {
                self.charge(weight(body));
                self.functions.insert(name.clone(), body.clone());
                0
            }
            Cmd::For { var, words, body, line } => self.run_for(var, words, body, *line),
            Cmd::While {
                until,
                cond,
                body,
                line,
            } => self.run_while(*until, cond, body, *line),
        };
        self.env.set("?", &rc.to_string());
        rc
    }

    fn define_menu(&mut self, submenu: bool, args: &[String], body: &[Cmd], line: usize) -> i32 {
        let mut title = None;
        let mut id = None;
        let mut params = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--class" | "--users" | "--hotkey" | "--source" => {
                    it.next();
                }
                "--id" => id = it.next().cloned(),
                "--unrestricted" => {}
                a if a.starts_with("--id=") => id = Some(a.trim_start_matches("--id=").to_string()),
                a if a.starts_with("--class=") || a.starts_with("--users=") || a.starts_with("--hotkey=") => {}
                a if title.is_none() => title = Some(a.to_string()),
                a => params.push(a.to_string()),
            }
        }
        let Some(title) = title else {
            self.errors
                .push(format!("{}:{line}: menuentry without a title", self.file));
            return 1;
        };
        if self.menu.len() >= MAX_ENTRIES {
            self.too_many_entries();
            return 1;
        }
        self.charge(weight(body));
        let body = body.to_vec();
        self.menu.push(if submenu {
            Item::Submenu {
                title,
                id,
                params,
                body,
            }
        } else {
            Item::Entry {
                title,
                id,
                params,
                body,
                bls: false,
            }
        });
        0
    }

    fn simple(&mut self, args: &[String], line: usize) -> i32 {
        let Some((name, rest)) = args.split_first() else {
            return 0;
        };
        // `name=value` on its own is an assignment, as in sh.
        if let Some((k, v)) = name.split_once('=') {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.env.set(k, v);
                return 0;
            }
        }
        match name.as_str() {
            "set" => {
                for a in rest {
                    match a.split_once('=') {
                        Some((k, v)) => self.env.set(k, v),
                        None => self.env.set(a, ""),
                    }
                }
                0
            }
            "unset" => {
                for a in rest {
                    self.env.vars.remove(a);
                }
                0
            }
            "export" => {
                for a in rest {
                    self.env.exported.insert(a.clone());
                }
                0
            }
            "true" => 0,
            "false" => 1,
            // `[` does not need its `]` (checked with grub-emu 2.06: `[ a = a` is true).
            "[" | "test" => i32::from(!self.test(rest)),
            "load_env" => self.load_env(rest),
            "save_env" => 0, // hopboot never writes to a user's disk
            "search" | "search.fs_uuid" | "search.fs_label" | "search.file" | "search.part_uuid"
            | "search.part_label" => self.search(name, rest),
            "source" | "." => self.source(rest, line, false),
            "blscfg" => self.blscfg(),
            "configfile" => self.source(rest, line, true),
            "linux" | "linuxefi" | "linux16" => {
                if let (Some(boot), Some(k)) = (self.boot.as_mut(), rest.first()) {
                    let root = self.env.get("root").to_string();
                    let cmdline = loader_cmdline(rest.get(1..).unwrap_or(&[]));
                    boot.linux = Some((split_path(k, &root), k.clone(), cmdline));
                    boot.initrds.clear();
                }
                0
            }
            "initrd" | "initrdefi" | "initrd16" => {
                let root = self.env.get("root").to_string();
                if let Some(boot) = self.boot.as_mut() {
                    boot.initrds = rest
                        .iter()
                        .filter(|a| !a.starts_with("--"))
                        .map(|a| split_path(a, &root))
                        .collect();
                }
                0
            }
            "break" | "continue" => {
                let n = rest.first().and_then(|a| a.parse::<usize>().ok()).unwrap_or(1).max(1);
                if self.loops > 0 {
                    let n = n.min(self.loops);
                    self.ctrl = Some(if name == "break" {
                        Ctrl::Break(n)
                    } else {
                        Ctrl::Continue(n)
                    });
                }
                0
            }
            "return" => {
                let rc = match rest.first() {
                    Some(a) => a.trim().parse::<i32>().unwrap_or(0),
                    None => self.env.get("?").parse::<i32>().unwrap_or(0),
                };
                if self.calls > 0 {
                    self.ctrl = Some(Ctrl::Return);
                }
                rc
            }
            "shift" => {
                let n = rest.first().and_then(|a| a.parse::<usize>().ok()).unwrap_or(1);
                if n > self.params.len() {
                    return 1;
                }
                self.params.drain(..n);
                0
            }
            "setparams" => {
                self.params = rest.to_vec();
                0
            }
            "eval" => self.eval(&rest.join(" "), line),
            other if is_grub_command(other) => 0,
            other => {
                // GRUB looks a name up as a script function only when no
                // command has that name.
                if let Some(body) = self.functions.get(other) {
                    self.charge(weight(body));
                    let body = body.clone();
                    return self.call(&body, rest, line);
                }
                log::debug!("{}:{line}: unknown command `{other}` ignored", self.file);
                1
            }
        }
    }

    fn call(&mut self, body: &[Cmd], args: &[String], line: usize) -> i32 {
        if self.calls + self.depth >= MAX_CALL_DEPTH {
            self.errors
                .push(format!("{}:{line}: maximum recursion depth exceeded", self.file));
            return 1;
        }
        self.calls += 1;
        let saved = std::mem::replace(&mut self.params, args.to_vec());
        let saved_loops = std::mem::replace(&mut self.loops, 0);
        let rc = self.exec_list(body);
        if self.ctrl == Some(Ctrl::Return) {
            self.ctrl = None;
        }
        self.loops = saved_loops;
        self.params = saved;
        self.calls -= 1;
        rc
    }

    /// `eval`: runs its arguments, joined by spaces, as script.
    fn eval(&mut self, src: &str, line: usize) -> i32 {
        if self.calls + self.depth >= MAX_CALL_DEPTH {
            self.errors
                .push(format!("{}:{line}: maximum recursion depth exceeded", self.file));
            return 1;
        }
        let (cmds, errors) = parse_recovering(src);
        for e in &errors {
            self.errors.push(format!("{}:{line}: eval: {e}", self.file));
        }
        self.depth += 1;
        let rc = self.exec_list(&cmds);
        self.depth -= 1;
        if errors.is_empty() {
            rc
        } else {
            1
        }
    }

    /// `test` / `[`, as GRUB 2.06 evaluates it (checked with grub-emu): no
    /// arguments is true; a trailing `]` is dropped; words side by side are
    /// and-ed; `-a` binds tighter than `-o`; `!` negates the next test; `(`
    /// opens a group and a `)` ends the current one (at the top level it ends
    /// the whole test); a lone word is true when not empty; numbers are read
    /// like C's `strtol` with base 0 (`0x10` = 16, `010` = 8, `5x` = 5, `abc` = 0).
    fn test(&self, args: &[String]) -> bool {
        let args = match args.split_last() {
            Some((last, init)) if last == "]" => init,
            _ => args,
        };
        let mut pos = 0;
        self.test_group(args, &mut pos, 0)
    }

    fn test_group(&self, a: &[String], pos: &mut usize, depth: usize) -> bool {
        let mut any = false; // the `-o` alternatives so far
        let mut all = true; // the current `-a` chain
        let mut negate = false;
        let mut skip = false;
        while let Some(word) = a.get(*pos) {
            let binary = match (a.get(*pos + 1), a.get(*pos + 2)) {
                (Some(op), Some(r)) => self.test_binary(word, op, r),
                _ => None,
            };
            let value = if let Some(v) = binary {
                *pos += 3;
                v
            } else if let Some(v) = a.get(*pos + 1).and_then(|x| self.test_unary(word, x)) {
                *pos += 2;
                v
            } else {
                *pos += 1;
                match word.as_str() {
                    ")" => return any || all,
                    "(" if depth < 64 => self.test_group(a, pos, depth + 1),
                    "!" => {
                        negate = !negate;
                        continue;
                    }
                    "-a" => {
                        skip = !all;
                        continue;
                    }
                    "-o" => {
                        any = any || all;
                        all = true;
                        continue;
                    }
                    w => !w.is_empty(),
                }
            };
            if !skip {
                all = all && (value != negate);
            }
            negate = false;
            skip = false;
        }
        any || all
    }

    /// `L OP R`, or `None` when `op` is not a binary operator.
    fn test_binary(&self, l: &str, op: &str, r: &str) -> Option<bool> {
        Some(match op {
            "=" | "==" => l == r,
            "!=" => l != r,
            "<" => l < r,
            "<=" => l <= r,
            ">" => l > r,
            ">=" => l >= r,
            "-eq" => strtol(l) == strtol(r),
            "-ne" => strtol(l) != strtol(r),
            "-lt" => strtol(l) < strtol(r),
            "-le" => strtol(l) <= strtol(r),
            "-gt" => strtol(l) > strtol(r),
            "-ge" => strtol(l) >= strtol(r),
            // Numbers after the common prefix: `vmlinuz-5.10 -pgt vmlinuz-5.9`.
            "-pgt" | "-plt" => {
                let common = l.bytes().zip(r.bytes()).take_while(|(x, y)| x == y).count();
                let (ln, rn) = (
                    strtol(l.get(common..).unwrap_or("")),
                    strtol(r.get(common..).unwrap_or("")),
                );
                if op == "-pgt" {
                    ln > rn
                } else {
                    ln < rn
                }
            }
            // File times: hopboot's filesystems do not report them.
            "-nt" | "-ot" => false,
            _ => return None,
        })
    }

    /// `OP X`, or `None` when `op` is not a unary operator.
    fn test_unary(&self, op: &str, x: &str) -> Option<bool> {
        let file = || {
            self.charge(MIN_CHARGE);
            let p = split_path(x, self.env.get("root"));
            (self.host.kind(&p.device, &p.path), p)
        };
        Some(match op {
            "-z" => x.is_empty(),
            "-n" => !x.is_empty(),
            "-e" => file().0.is_some(),
            "-f" => file().0 == Some(Kind::File),
            "-d" => file().0 == Some(Kind::Dir),
            "-s" => {
                let (k, p) = file();
                k == Some(Kind::File) && self.host.size(&p.device, &p.path).unwrap_or(0) > 0
            }
            _ => return None,
        })
    }

    fn load_env(&mut self, args: &[String]) -> i32 {
        let mut file = format!("{}/grubenv", self.env.get("prefix"));
        let mut only: Vec<&str> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-f" | "--file" => {
                    if let Some(f) = it.next() {
                        file = f.clone();
                    }
                }
                "-s" | "--skip-sig" => {}
                a if a.starts_with("--file=") => file = a.trim_start_matches("--file=").to_string(),
                a => only.push(a),
            }
        }
        let p = split_path(&file, self.env.get("root"));
        self.charge(MIN_CHARGE);
        let text = match self.host.read_text(&p.device, &p.path) {
            Ok(t) => t,
            Err(e) => {
                log::debug!("load_env {file}: {e}");
                return 1;
            }
        };
        self.charge(text.len());
        for (k, v) in parse_grubenv(&text) {
            if only.is_empty() || only.contains(&k.as_str()) {
                self.env.set(&k, &v);
            }
        }
        0
    }

    /// `search` and its `search.*` short forms. As GRUB's `search_wrap.c`:
    /// with several kinds given, `--label` wins over `--fs-uuid` over
    /// `--file`; with none, the command fails ("unspecified search type")
    /// and sets nothing.
    fn search(&mut self, name: &str, args: &[String]) -> i32 {
        let fixed = match name {
            "search.fs_uuid" => Some(SearchBy::FsUuid),
            "search.fs_label" => Some(SearchBy::Label),
            "search.file" => Some(SearchBy::File),
            "search.part_uuid" => Some(SearchBy::PartUuid),
            "search.part_label" => Some(SearchBy::PartLabel),
            _ => None,
        };
        let mut kinds: Vec<SearchBy> = Vec::new();
        let mut var = "root".to_string();
        let mut positional = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--fs-uuid" | "-u" => kinds.push(SearchBy::FsUuid),
                "--label" | "-l" => kinds.push(SearchBy::Label),
                "--file" | "-f" => kinds.push(SearchBy::File),
                "--part-uuid" => kinds.push(SearchBy::PartUuid),
                "--part-label" => kinds.push(SearchBy::PartLabel),
                // `--set` has an optional argument, given only as `--set=VAR`
                // (GRUB's parser never takes it from the next word).
                "--set" | "-s" => var = "root".to_string(),
                a if a.starts_with("--set=") => var = a.trim_start_matches("--set=").to_string(),
                a if a.starts_with("--hint") => {
                    if !a.contains('=') {
                        it.next();
                    }
                }
                "--no-floppy" | "-n" | "--efidisk-only" | "--cryptodisk-only" | "--quiet" | "-q" => {}
                a => positional.push(a.to_string()),
            }
        }
        let by = match fixed {
            Some(by) => {
                // search.fs_uuid UUID [VAR] [HINT…]
                if let Some(v) = positional.get(1) {
                    var = v.clone();
                }
                by
            }
            None => {
                let order = [
                    SearchBy::Label,
                    SearchBy::FsUuid,
                    SearchBy::File,
                    SearchBy::PartUuid,
                    SearchBy::PartLabel,
                ];
                match order.into_iter().find(|k| kinds.contains(k)) {
                    Some(by) => by,
                    None => {
                        log::debug!("search {}: unspecified search type", args.join(" "));
                        return 1;
                    }
                }
            }
        };
        let Some(key) = positional.first() else { return 1 };
        self.charge(MIN_CHARGE);
        match self.host.search(by, key) {
            Some(dev) => {
                self.env.set(&var, &dev);
                0
            }
            None => {
                log::debug!("search {key}: no such device");
                1
            }
        }
    }

    fn source(&mut self, args: &[String], line: usize, configfile: bool) -> i32 {
        let Some(f) = args.first() else { return 1 };
        if self.depth + self.calls >= MAX_SOURCE_DEPTH {
            self.errors
                .push(format!("{}:{line}: maximum recursion depth exceeded", self.file));
            return 1;
        }
        let p = split_path(f, self.env.get("root"));
        self.charge(MIN_CHARGE);
        match self.host.read_text(&p.device, &p.path) {
            Ok(src)
                if {
                    self.charge(src.len());
                    self.stopped()
                } =>
            {
                1
            }
            Ok(src) => {
                self.depth += 1;
                let saved = std::mem::replace(&mut self.file, p.path.clone());
                if configfile {
                    // configfile replaces the menu with the new file's menu.
                    self.menu.clear();
                    self.env.set("config_file", f);
                }
                self.run_source(&src);
                self.file = saved;
                self.depth -= 1;
                0
            }
            Err(e) => {
                self.errors.push(format!("{}:{line}: {f}: {e}", self.file));
                1
            }
        }
    }

    /// `blscfg` (Red Hat's GRUB): every BLS snippet in `$blsdir` (default
    /// `/loader/entries`; `/boot/loader/entries` when that cannot be read) on
    /// `$root` becomes a menu entry, read, sorted and expanded as the module
    /// does it (see [`blscfg`]). The entry's body is script text
    /// (`linux ($root)PATH OPTIONS`, `initrd ($root)PATH …`) run when it boots.
    fn blscfg(&mut self) -> i32 {
        let root = self.env.get("root").to_string();
        let first = match self.env.get("blsdir") {
            "" => "/loader/entries".to_string(),
            d => d.trim_end_matches('/').to_string(),
        };
        self.charge(MIN_CHARGE);
        let dir = if self.host.kind(&root, &first) == Some(Kind::Dir) {
            first
        } else {
            "/boot/loader/entries".to_string()
        };
        let names: Vec<String> = self
            .host
            .list(&root, &dir)
            .into_iter()
            .filter(|n| n.len() > 5 && n.ends_with(".conf") && !n.starts_with('.'))
            .take(1024)
            .collect();
        let mut snippets = Vec::new();
        for n in names {
            self.charge(MIN_CHARGE);
            if self.stopped() {
                break;
            }
            let path = format!("{dir}/{n}");
            match self.host.read_text(&root, &path) {
                Ok(text) => {
                    self.charge(text.len());
                    snippets.push(blscfg::parse(&n[..n.len() - 5], &text));
                }
                Err(m) => self.errors.push(format!("{path}: {m}")),
            }
        }
        let (menu, dropped) = blscfg::order(snippets);
        for d in dropped {
            log::debug!(
                "{dir}/{}.conf: same rpm version as another snippet; blscfg drops it",
                d.id
            );
        }
        for s in menu {
            let Some(linux) = s.first("linux") else {
                if s.first("efi").is_none() {
                    self.errors.push(format!("{dir}/{}.conf: no `linux` line", s.id));
                }
                continue;
            };
            let vars = &self.env.vars;
            let get = |k: &str| vars.get(k).cloned();
            let options = s
                .first("options")
                .and_then(|o| blscfg::expand(o, get))
                .or_else(|| vars.get("default_kernelopts").and_then(|d| blscfg::expand(d, get)));
            let mut src = match options {
                Some(o) => format!("linux ($root){linux} {o}\n"),
                None => format!("linux ($root){linux}\n"),
            };
            let mut initrds: Vec<String> = match vars.get("early_initrd") {
                Some(early) => blscfg::early_initrds(early, s.all("initrd").next(), linux),
                None => Vec::new(),
            };
            initrds.extend(s.all("initrd").map(str::to_string));
            if !initrds.is_empty() {
                src.push_str("initrd");
                for i in &initrds {
                    src.push_str(&format!(" ($root){i}"));
                }
                src.push('\n');
            }
            self.charge(src.len());
            let body = match script::parse(&src) {
                Ok(b) => b,
                Err(err) => {
                    self.errors.push(format!("{dir}/{}.conf: {err}", s.id));
                    continue;
                }
            };
            self.menu.push(Item::Entry {
                title: s.first("title").unwrap_or(linux).to_string(),
                id: Some(s.id.clone()),
                params: Vec::new(),
                body,
                bls: true,
            });
        }
        0
    }

    /// Runs an entry's body on paper and returns what it would boot.
    fn boot_entry(&mut self, body: &[Cmd], params: &[String], chosen: &str) -> Boot {
        self.charge(self.env.bytes());
        if self.stopped() {
            return Boot::default();
        }
        let saved_env = self.env.clone();
        // GRUB sets `chosen` (ids, else titles, `>`-joined) before running the body.
        self.env.set("chosen", chosen);
        self.env.exported.insert("chosen".into());
        let saved_boot = self.boot.replace(Boot::default());
        let saved_params = std::mem::replace(&mut self.params, params.to_vec());
        self.exec_list(body);
        self.ctrl = None;
        let boot = std::mem::replace(&mut self.boot, saved_boot).unwrap_or_default();
        self.env = saved_env;
        self.params = saved_params;
        boot
    }

    /// Says once why the run stopped, if it did.
    fn report_stop(&mut self) {
        if self.stop_reported || !self.stopped() {
            return;
        }
        self.stop_reported = true;
        self.errors.push(if self.steps > MAX_STEPS {
            format!("{}: stopped after {MAX_STEPS} commands", self.file)
        } else {
            format!(
                "{}: stopped after {} MiB of work (files read, variables expanded, copies)",
                self.file,
                MAX_WORK >> 20
            )
        });
    }

    fn too_many_entries(&mut self) {
        if !self.entries_capped {
            self.entries_capped = true;
            self.errors.push(format!(
                "{}: more than {MAX_ENTRIES} menu entries; the rest are left out",
                self.file
            ));
        }
    }

    fn finish(mut self) -> GrubMenu {
        let menu = std::mem::take(&mut self.menu);
        let default_spec = self.env.get("default").to_string();
        let timeout = self.env.get("timeout").trim().parse().ok();
        let mut entries = Vec::new();
        let mut starts = Vec::new();
        self.flatten(&menu, &mut entries, &mut starts, "", 0);
        self.report_stop();
        let default = resolve_default(&default_spec, &menu, &starts);
        GrubMenu {
            default: default.or((!entries.is_empty()).then_some(0)),
            entries,
            timeout,
            errors: self.errors,
        }
    }

    /// Boots every item on paper. `starts[i]` = (first flattened index of item
    /// i, its nested menu and nested starts) so `default` can be resolved.
    fn flatten(
        &mut self,
        menu: &[Item],
        out: &mut Vec<GrubEntry>,
        starts: &mut Vec<Start>,
        parent: &str,
        depth: usize,
    ) {
        for item in menu {
            if self.stopped() {
                break;
            }
            if out.len() >= MAX_ENTRIES {
                self.too_many_entries();
                break;
            }
            let first = out.len();
            let chosen = {
                let (Item::Entry { title, id, .. } | Item::Submenu { title, id, .. }) = item;
                let me = id.as_deref().unwrap_or(title);
                if parent.is_empty() {
                    me.to_string()
                } else {
                    format!("{parent}>{me}")
                }
            };
            match item {
                Item::Entry {
                    title,
                    id,
                    params,
                    body,
                    bls,
                } => {
                    let boot = self.boot_entry(body, params, &chosen);
                    match boot.linux {
                        Some((kernel, kernel_arg, cmdline)) => out.push(GrubEntry {
                            title: title.clone(),
                            id: id.clone(),
                            kernel,
                            kernel_arg,
                            initrds: boot.initrds,
                            cmdline,
                            bls: *bls,
                        }),
                        None => log::debug!("{}: entry '{title}' loads no Linux kernel", self.file),
                    }
                    starts.push(Start {
                        first,
                        len: out.len() - first,
                        sub: None,
                    });
                }
                Item::Submenu {
                    title, body, params, ..
                } => {
                    if depth >= MAX_DEPTH {
                        self.errors.push(format!("{}: submenus nested too deeply", self.file));
                        starts.push(Start {
                            first,
                            len: 0,
                            sub: None,
                        });
                        continue;
                    }
                    // A submenu runs in a new context with exported variables only.
                    self.charge(self.env.bytes());
                    let outer_env = std::mem::take(&mut self.env);
                    self.env = outer_env.exported_only();
                    let outer_menu = std::mem::take(&mut self.menu);
                    let saved_params = std::mem::replace(&mut self.params, params.clone());
                    self.env.set("chosen", &chosen);
                    self.env.exported.insert("chosen".into());
                    self.exec_list(body);
                    self.ctrl = None;
                    let sub_menu = std::mem::replace(&mut self.menu, outer_menu);
                    let mut sub_starts = Vec::new();
                    self.flatten(&sub_menu, out, &mut sub_starts, &chosen, depth + 1);
                    let sub_default = self.env.get("default").to_string();
                    self.env = outer_env;
                    self.params = saved_params;
                    log::debug!("submenu '{title}': {} entries", out.len() - first);
                    starts.push(Start {
                        first,
                        len: out.len() - first,
                        sub: Some(Box::new(SubMenu {
                            items: sub_menu,
                            starts: sub_starts,
                            default: sub_default,
                        })),
                    });
                }
            }
        }
    }
}

struct SubMenu {
    items: Vec<Item>,
    starts: Vec<Start>,
    default: String,
}

struct Start {
    first: usize,
    len: usize,
    sub: Option<Box<SubMenu>>,
}

/// Resolves GRUB's `default` against the menu: index, title or id, with `>`
/// separating submenu levels. `None` when it names nothing bootable.
fn resolve_default(spec: &str, menu: &[Item], starts: &[Start]) -> Option<usize> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    let mut items = menu;
    let mut sts = starts;
    let mut parts = spec.split('>').peekable();
    while let Some(key) = parts.next() {
        let idx = match key.trim().parse::<usize>() {
            Ok(n) if key.trim().chars().all(|c| c.is_ascii_digit()) => Some(n),
            _ => items.iter().position(|i| i.matches(key)),
        }?;
        let st = sts.get(idx)?;
        if parts.peek().is_none() {
            if st.len == 0 {
                return None;
            }
            // A submenu as default: GRUB opens it on its own default; we take
            // that entry (or its first).
            if let Some(sub) = &st.sub {
                let inner = resolve_default(&sub.default, &sub.items, &sub.starts);
                return inner.or(Some(st.first));
            }
            return Some(st.first);
        }
        let sub = st.sub.as_ref()?;
        items = &sub.items;
        sts = &sub.starts;
    }
    None
}

/// The kernel command line GRUB 2.06 builds from the `linux` arguments after
/// the kernel: arguments joined by one space (an empty argument still gets
/// its separator), `\`, `'` and `"` escaped with a backslash, an argument
/// containing a space wrapped in double quotes. (Checked with grub-emu:
/// `a "${empty}" b ""` gives `a  b `; `'a b' 'c"d' e\\f` gives
/// `"a b" c\"d e\\f`.) GRUB puts `BOOT_IMAGE=<kernel> ` in front; this does not.
pub fn loader_cmdline(args: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let quote = a.contains(' ');
        if quote {
            out.push('"');
        }
        let mut chars = a.chars().peekable();
        while let Some(c) = chars.next() {
            // Red Hat's GRUB passes `\xHH` through (see `uroot-centos7-dvd`).
            let hex_escape = c == '\\' && {
                let mut la = chars.clone();
                la.next() == Some('x')
                    && la.next().is_some_and(|c| c.is_ascii_hexdigit())
                    && la.next().is_some_and(|c| c.is_ascii_hexdigit())
            };
            if matches!(c, '\\' | '\'' | '"') && !hex_escape {
                out.push('\\');
            }
            out.push(c);
        }
        if quote {
            out.push('"');
        }
    }
    out
}

/// A number as C's `strtol(s, NULL, 0)` reads it: optional sign, `0x` hex,
/// `0` octal, else decimal, up to the first character that does not fit
/// (none at all gives 0); saturates instead of overflowing.
fn strtol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if r.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, r)
        } else {
            (10, "0")
        }
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut n: i64 = 0;
    for d in digits.chars().map_while(|c| c.to_digit(radix)) {
        n = n.saturating_mul(i64::from(radix)).saturating_add(i64::from(d));
    }
    if neg {
        n.saturating_neg()
    } else {
        n
    }
}

/// Whether GRUB 2.06 (x86_64-efi / i386-pc, with the modules a distribution
/// ships) has a command of this name that hopboot runs as a no-op that
/// succeeds. The authority is GRUB's `command.lst` (grub-emu's list plus the
/// firmware builds' loaders and platform commands) and the kernel's core
/// commands. Names that are *not* here (`load_video`, `gfxmode`, `recordfail`,
/// `savedefault`, `terminal`, `font`, `set_background_image`...) are not
/// commands: they are script functions a grub.cfg defines, and are called as such.
fn is_grub_command(name: &str) -> bool {
    const COMMANDS: &[&str] = &[
        // kernel core
        "insmod",
        "ls",
        "lsmod",
        "rmmod",
        "help",
        "exit",
        // normal mode and common modules (grub-emu 2.06 command.lst)
        "authenticate",
        "background_color",
        "background_image",
        "blocklist",
        "boot",
        "cat",
        "clear",
        "cmp",
        "crc",
        "cryptomount",
        "date",
        "distrust",
        "dump",
        "echo",
        "file",
        "gettext",
        "gptsync",
        "halt",
        "hashsum",
        "hexdump",
        "keystatus",
        "list_env",
        "list_trusted",
        "loadfont",
        "loopback",
        "lsfonts",
        "lsmmap",
        "md5sum",
        "normal",
        "normal_exit",
        "parttool",
        "password",
        "password_pbkdf2",
        "probe",
        "read",
        "read_byte",
        "read_dword",
        "read_word",
        "reboot",
        "regexp",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "sleep",
        "terminal_input",
        "terminal_output",
        "time",
        "tr",
        "trust",
        "verify_detached",
        "videoinfo",
        "videotest",
        "write_byte",
        "write_dword",
        "write_word",
        "xnu_uuid",
        "zfs-bootfs",
        "zfsinfo",
        "zfskey",
        "macppcbless",
        "mactelbless",
        "syslinux_configfile",
        "syslinux_source",
        "extract_entries_configfile",
        "extract_entries_source",
        "extract_legacy_entries_configfile",
        "extract_legacy_entries_source",
        "extract_syslinux_entries_configfile",
        "extract_syslinux_entries_source",
        "legacy_check_password",
        "legacy_configfile",
        "legacy_initrd",
        "legacy_initrd_nounzip",
        "legacy_kernel",
        "legacy_password",
        "legacy_source",
        "net_add_addr",
        "net_add_dns",
        "net_add_route",
        "net_bootp",
        "net_bootp6",
        "net_del_addr",
        "net_del_dns",
        "net_del_route",
        "net_dhcp",
        "net_get_dhcp_option",
        "net_ipv6_autoconf",
        "net_ls_addr",
        "net_ls_cards",
        "net_ls_dns",
        "net_ls_routes",
        "net_nslookup",
        "testload",
        "testspeed",
        // firmware builds: loaders and platform commands
        "chainloader",
        "multiboot",
        "multiboot2",
        "module",
        "module2",
        "fwsetup",
        "serial",
        "terminfo",
        "play",
        "lsefi",
        "lsefimmap",
        "lsefisystab",
        "lssal",
        "lspci",
        "setpci",
        "cpuid",
        "acpi",
        "lsacpi",
        "badram",
        "cutmem",
        "smbios",
        "usb",
        "nativedisk",
        "hwmatch",
        "drivemap",
        "sendkey",
        "keymap",
        "loadbios",
        "fakebios",
        "appleloader",
        "xnu_kernel",
        "xnu_kernel64",
        "xnu_mkext",
        "xnu_kext",
        "xnu_kextdir",
        "xnu_ramdisk",
        "xnu_resume",
        "xnu_splash",
        "xnu_devprop_load",
        "rdmsr",
        "wrmsr",
        "inb",
        "inw",
        "inl",
        "outb",
        "outw",
        "outl",
        "backtrace",
        "hdparm",
        "efiemu_loadcore",
        "efiemu_prepare",
        "efiemu_unload",
        "knetbsd",
        "kfreebsd",
        "kopenbsd",
        "kfreebsd_module",
        "kfreebsd_loadenv",
        "knetbsd_module",
    ];
    COMMANDS.contains(&name)
}

/// Parses a grubenv block: `key=value` lines after the header, `#` padding ignored.
pub fn parse_grubenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Host {
        files: BTreeMap<(String, String), String>,
        uuids: BTreeMap<String, String>,
        /// Other searches: (kind, value) → device.
        others: BTreeMap<(String, String), String>,
    }

    impl GrubHost for Host {
        fn list(&self, dev: &str, path: &str) -> Vec<String> {
            let prefix = format!("{path}/");
            self.files
                .keys()
                .filter(|(d, p)| d == dev && p.starts_with(&prefix))
                .filter_map(|(_, p)| p.strip_prefix(&prefix).map(str::to_string))
                .collect()
        }
        fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
            if self.files.contains_key(&(dev.to_string(), path.to_string())) {
                return Some(Kind::File);
            }
            let prefix = format!("{}/", path.trim_end_matches('/'));
            self.files
                .keys()
                .any(|(d, p)| d == dev && p.starts_with(&prefix))
                .then_some(Kind::Dir)
        }
        fn size(&self, dev: &str, path: &str) -> Option<u64> {
            self.files
                .get(&(dev.to_string(), path.to_string()))
                .map(|s| s.len() as u64)
        }
        fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
            self.files
                .get(&(dev.to_string(), path.to_string()))
                .cloned()
                .ok_or_else(|| "not found".into())
        }
        fn search(&self, by: SearchBy, value: &str) -> Option<String> {
            match by {
                SearchBy::FsUuid => self.uuids.get(value).cloned(),
                other => self.others.get(&(format!("{other:?}"), value.to_string())).cloned(),
            }
        }
    }

    fn host(cfg: &str) -> Host {
        let mut h = Host::default();
        h.files
            .insert(("hd0,gpt1".into(), "/boot/grub/grub.cfg".into()), cfg.into());
        h.uuids.insert("1234".into(), "hd0,gpt2".into());
        h
    }

    fn run_cfg(h: &Host) -> GrubMenu {
        run(h, "hd0,gpt1", "/boot/grub/grub.cfg")
    }

    #[test]
    fn search_kinds_and_their_precedence() {
        let mut h = host(
            r#"
menuentry fs-uuid { search --no-floppy --fs-uuid --set=root 1234; linux /k }
menuentry label { search -l -s hb-label; linux /k }
menuentry file { search -f --set /only-here; linux /k }
menuentry part-uuid { search --no-floppy --part-uuid --set=root 0A0B-P; linux /k }
menuentry part-label { search --part-label --set=root hb-part; linux /k }
menuentry short-part-uuid { search.part_uuid 0A0B-P; linux /k }
menuentry short-part-label { search.part_label hb-part other; linux ($other)/k }
menuentry short-fs-uuid { search.fs_uuid 1234 r2; linux ($r2)/k }
menuentry label-beats-file { search --file --label --set=root hb-label; linux /k }
menuentry no-kind { search --set=root /only-here; linux /k }
menuentry not-found { search --label --set=root nope; linux /k }
menuentry set-var { search --label --set=x hb-label; linux /k $x }
"#,
        );
        let add = |h: &mut Host, kind: SearchBy, value: &str, dev: &str| {
            h.others
                .insert((format!("{kind:?}"), value.to_string()), dev.to_string());
        };
        add(&mut h, SearchBy::Label, "hb-label", "hd1,gpt1");
        add(&mut h, SearchBy::File, "/only-here", "hd1,gpt3");
        add(&mut h, SearchBy::File, "hb-label", "hd1,gpt3");
        add(&mut h, SearchBy::PartUuid, "0A0B-P", "hd2,msdos1");
        add(&mut h, SearchBy::PartLabel, "hb-part", "hd1,gpt4");
        let m = run_cfg(&h);
        assert_eq!(m.errors, Vec::<String>::new());
        let got: Vec<(&str, &str, &str)> = m
            .entries
            .iter()
            .map(|e| (e.title.as_str(), e.kernel.device.as_str(), e.cmdline.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("fs-uuid", "hd0,gpt2", ""),
                ("label", "hd1,gpt1", ""),
                ("file", "hd1,gpt3", ""),
                ("part-uuid", "hd2,msdos1", ""),
                ("part-label", "hd1,gpt4", ""),
                ("short-part-uuid", "hd2,msdos1", ""),
                ("short-part-label", "hd1,gpt4", ""),
                ("short-fs-uuid", "hd0,gpt2", ""),
                // GRUB's search_wrap.c tries --label before --fs-uuid before --file.
                ("label-beats-file", "hd1,gpt1", ""),
                // No kind: "unspecified search type", $root stays the config's device.
                ("no-kind", "hd0,gpt1", ""),
                ("not-found", "hd0,gpt1", ""),
                ("set-var", "hd0,gpt1", "hd1,gpt1"),
            ]
        );
    }

    #[test]
    fn debian_like_entry() {
        let h = host(
            r#"
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
set default="0"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-1234' {
	insmod ext2
	search --no-floppy --fs-uuid --set=root 1234
	echo	'Loading Linux 6.1.0-13-amd64 ...'
	linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=1234 ro  quiet
	initrd	/boot/initrd.img-6.1.0-13-amd64
}
"#,
        );
        let m = run_cfg(&h);
        assert_eq!(m.errors, Vec::<String>::new());
        assert_eq!(m.entries.len(), 1);
        let e = &m.entries[0];
        assert_eq!(e.id.as_deref(), Some("gnulinux-simple-1234"));
        assert_eq!(
            e.kernel,
            GrubPath {
                device: "hd0,gpt2".into(),
                path: "/boot/vmlinuz-6.1.0-13-amd64".into()
            }
        );
        assert_eq!(e.cmdline, "root=UUID=1234 ro quiet");
        assert_eq!(e.initrds.len(), 1);
        assert_eq!(m.default, Some(0));
    }

    #[test]
    fn default_by_path_and_late_binding() {
        let h = host(
            r#"
set default="adv>k2"
menuentry A { linux /a $opts }
submenu 'Advanced' --id adv {
  menuentry 'K1' --id k1 { linux /k1 }
  menuentry 'K2' --id k2 { linux /k2 $opts }
}
set opts="x=1 y=2"
"#,
        );
        let m = run_cfg(&h);
        let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["A", "K1", "K2"]);
        assert_eq!(m.default, Some(2));
        assert_eq!(m.entries[0].cmdline, "x=1 y=2");
        // `opts` is not exported: inside the submenu it is empty.
        assert_eq!(m.entries[2].cmdline, "");
    }

    #[test]
    fn unknown_default_falls_back_to_zero() {
        let m = run_cfg(&host(
            "set default=nope\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
        ));
        assert_eq!(m.default, Some(0));
        let m = run_cfg(&host(
            "set default=1\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
        ));
        assert_eq!(m.default, Some(1));
    }

    #[test]
    fn grubenv_and_functions() {
        let mut h = host(
            r#"
if [ -s $prefix/grubenv ]; then load_env; fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
else
   set default="${saved_entry}"
fi
function add { menuentry "$1" "$1" { linux /$1 $kernelopts } }
add one
add two
"#,
        );
        h.files.insert(
            ("hd0,gpt1".into(), "/boot/grub/grubenv".into()),
            "# GRUB Environment Block\nsaved_entry=two\nkernelopts=root=/dev/x ro\n####".into(),
        );
        let m = run_cfg(&h);
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.default, Some(1));
        assert_eq!(m.entries[1].cmdline, "root=/dev/x ro");
        assert_eq!(m.entries[1].kernel.path, "/two");
    }

    fn cmdlines(m: &GrubMenu) -> Vec<&str> {
        m.entries.iter().map(|e| e.cmdline.as_str()).collect()
    }

    // Checked with grub-emu 2.06: a function is called only when no command
    // has its name; `gfxmode`/`recordfail`/`savedefault` are functions.
    #[test]
    fn functions_unless_a_command_has_the_name() {
        let m = run_cfg(&host(
            r#"
function gfxmode { set gfxpayload="$1"; if [ "$1" = keep ]; then set vt_handoff=vt.handoff=7; fi; }
function echo { set hijacked=yes; }
function recordfail { set rf=1; }
function savedefault { set sd=1; }
menuentry U {
  recordfail
  savedefault
  gfxmode keep
  echo hi
  linux /v quiet $vt_handoff rf=$rf sd=$sd h=$hijacked
}
"#,
        ));
        assert_eq!(cmdlines(&m), ["quiet vt.handoff=7 rf=1 sd=1 h="]);
    }

    // Each expectation is what grub-emu 2.06 answered for the same test.
    #[test]
    fn test_command_like_grub() {
        let cases: &[(&str, bool)] = &[
            ("[ ]", true),
            ("test", true),
            ("[ \"\" ]", false),
            ("[ -n ]", true),
            ("[ -z ]", true),
            ("[ ! ]", true),
            ("[ \"\" a ]", false),
            ("[ a \"\" ]", false),
            ("[ \"\" -o a ]", true),
            ("[ a -a \"\" ]", false),
            ("[ a = a -a b = c ]", false),
            ("[ a -a \"\" -o a ]", true),
            ("[ ( a = b ) -o a ]", true),
            ("[ ( \"\" ]", false),
            ("[ a = a", true),
            ("test a = b ]", false),
            ("[ 0x10 -eq 16 ]", true),
            ("[ 010 -eq 10 ]", false),
            ("[ abc -gt 1 ]", false),
            ("[ 5x -eq 5 ]", true),
            ("[ -3 -lt 2 ]", true),
            ("[ -f /boot/grub/grub.cfg ]", true),
            ("[ -f /boot/grub ]", false),
            ("[ -f /nope ]", false),
            ("[ ! -f /nope ]", true),
            ("[ ! a -a \"\" ]", false),
            ("[ \"\" -a ! \"\" ]", false),
            ("[ a ) \"\" ]", true),
            ("[ \"\" ) a ]", false),
            ("[ -n = x ]", false),
            ("[ -z \"\" = \"\" ]", false),
            ("[ a ] ]", true),
            ("[ \"\" -o ]", true),
            ("[ vmlinuz-5.10 -pgt vmlinuz-5.9 ]", true),
            ("[ a5 -plt a10 ]", true),
            ("[ a != a ]", false),
        ];
        for (t, want) in cases {
            let mut h = host(&format!(
                "menuentry t {{ if {t} ; then r=T; else r=F; fi; linux /v $r }}"
            ));
            h.files
                .insert(("hd0,gpt1".into(), "/boot/grub/x".into()), String::new());
            let m = run_cfg(&h);
            assert_eq!(cmdlines(&m), [if *want { "T" } else { "F" }], "{t}");
        }
    }

    // Checked with grub-emu 2.06 (the oracle's cmdline rule, lib/cmdline.c).
    #[test]
    fn cmdline_quoting() {
        let m = run_cfg(&host(
            r#"set plain=p
set empty=
menuentry q { linux /v a\ b 'c d' "e\"f" g\\h 'i$plain' "j$plain" }
menuentry e { linux /v a "${empty}" b "$empty" }
menuentry x { linux /v LABEL=A\x20B }
"#,
        ));
        assert_eq!(
            cmdlines(&m),
            [r#""a b" "c d" e\"f g\\h i$plain jp"#, "a  b ", r"LABEL=A\x20B"]
        );
    }

    // Checked with grub-emu 2.06 (grub-semantics corpus case for `for`).
    #[test]
    fn loops_and_control_flow() {
        let m = run_cfg(&host(
            r#"
for k in a "b c" $nothing d; do set acc="${acc}[$k]"; done
for k in 1 2 3 4; do if [ $k = 2 ]; then continue; fi; if [ $k = 4 ]; then break; fi; set l="${l}$k"; done
set w=x
while [ "$w" != xxx ]; do set w="${w}x"; done
until [ "$u" = yy ]; do set u="${u}y"; done
function r { set before=1; return 3; set after=1; }
r
set rc=$?
for i in 1 2; do for j in 1 2; do set n="${n}$i$j"; break 2; done; done
while true; do set spin=1; done
menuentry L { linux /v $acc l=$l w=$w u=$u rc=$rc b=$before a=$after n=$n }
"#,
        ));
        assert_eq!(cmdlines(&m), ["[a][b c][d] l=13 w=xxx u=yy rc=3 b=1 a= n=11"]);
        assert!(m.errors.iter().any(|e| e.contains("iterations")), "{:?}", m.errors);
    }

    // Checked with grub-emu 2.06: entries before a syntax error survive, a
    // bad line is dropped, reading resumes on the next line; an unterminated
    // quote swallows the rest.
    #[test]
    fn syntax_errors_drop_only_their_line() {
        let m = run_cfg(&host(
            "menuentry a { linux /v a }\nset x=1 <\nset w=1\nmenuentry c { linux /v x=$x w=$w }\nmenuentry 'd {\n linux /v d\n}\nmenuentry e { linux /v e }\n",
        ));
        assert_eq!(cmdlines(&m), ["a", "x= w=1"]);
        assert_eq!(m.errors.len(), 2, "{:?}", m.errors);
        assert!(m.errors.iter().all(|e| e.contains("grub.cfg")));
    }

    // Checked with grub-emu 2.06: a self-calling function body runs 29 times,
    // a self-sourcing file 28 times, then "maximum recursion depth exceeded";
    // the rest of grub.cfg still runs.
    #[test]
    fn recursion_limit() {
        let mut h =
            host("function f { set c=\"${c}x\"; f; }\nf\nsource $prefix/loop.cfg\nmenuentry a { linux /v $c $d }\n");
        h.files.insert(
            ("hd0,gpt1".into(), "/boot/grub/loop.cfg".into()),
            "set d=\"${d}y\"\nsource $prefix/loop.cfg\n".into(),
        );
        let m = run_cfg(&h);
        assert_eq!(cmdlines(&m), [format!("{} {}", "x".repeat(29), "y".repeat(28))]);
        assert_eq!(m.errors.len(), 2, "{:?}", m.errors);
        assert!(m.errors.iter().all(|e| e.contains("maximum recursion depth exceeded")));
    }

    // Checked with grub-emu 2.06: `default` naming a submenu boots the
    // submenu's own default (its `set default`, else its first entry);
    // `chosen` is the `>`-joined ids (titles where no id).
    #[test]
    fn default_into_submenu_and_chosen() {
        let m = run_cfg(&host(
            r#"set default=1
menuentry A --id ida { linux /a $chosen }
submenu S --id ids {
  menuentry B { linux /b $chosen }
  menuentry C --id idc { linux /c $chosen }
  set default=1
}
"#,
        ));
        assert_eq!(cmdlines(&m), ["ida", "ids>B", "ids>idc"]);
        assert_eq!(m.default, Some(2));
        let m = run_cfg(&host(
            "set default=S\nmenuentry A { linux /a }\nsubmenu S { menuentry B { linux /b }\nmenuentry C { linux /c } }",
        ));
        assert_eq!(m.default, Some(1));
        let m = run_cfg(&host(
            "set default=5\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
        ));
        assert_eq!(m.default, Some(0));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for src in [
            "menuentry {",
            "if then fi",
            "}}}",
            "\"",
            "${",
            "linux",
            "[ -f ]",
            "set =x",
        ] {
            let _ = run_cfg(&host(src));
        }
        let m = run_cfg(&host("function f { f }\nf"));
        assert!(
            m.errors.iter().any(|e| e.contains("maximum recursion")),
            "{:?}",
            m.errors
        );
    }

    /// `blscfg` reads snippets its own way: file-name order (not `version`),
    /// first `options` line, `$default_kernelopts` when there is none, the
    /// kernel path as title when there is no `title`, `$early_initrd` first.
    #[test]
    fn blscfg_follows_the_module_not_systemd_boot() {
        let mut h = host("set default_kernelopts=\"root=/dev/def ro\"\nset early_initrd=\"ucode.img\"\nblscfg\n");
        let d = "hd0,gpt1".to_string();
        let mut add = |name: &str, text: &str| {
            h.files
                .insert((d.clone(), format!("/boot/loader/entries/{name}.conf")), text.into());
        };
        // `version` says otherwise, but file names decide.
        add(
            "m-5.0",
            "title Five\nversion 9.9\nlinux /vmlinuz-5\noptions first\noptions second\n",
        );
        add("m-6.0", "version 1.0\nlinux /vmlinuz-6\ninitrd /boot/initramfs-6.img\n");
        let m = run_cfg(&h);
        let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["/vmlinuz-6", "Five"]);
        assert_eq!(m.entries[0].cmdline, "root=/dev/def ro");
        let initrds: Vec<_> = m.entries[0].initrds.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(initrds, ["/boot/ucode.img", "/boot/initramfs-6.img"]);
        assert_eq!(m.entries[1].cmdline, "first");
    }

    /// Red Hat's `blscfg`: snippets become entries, newest version first; their
    /// options expand `$kernelopts` from grubenv (when `blscfg` runs), and
    /// `saved_entry` names a snippet by its file name.
    #[test]
    fn blscfg_entries_from_snippets() {
        let mut h = host(
            "load_env -f ($root)/boot/grub/grubenv\nset default=\"${saved_entry}\"\nblscfg\nmenuentry After { linux /after }\n",
        );
        let d = "hd0,gpt1".to_string();
        h.files.insert(
            (d.clone(), "/boot/grub/grubenv".into()),
            "saved_entry=m-6.5.5\nkernelopts=root=/dev/x ro\n".into(),
        );
        for v in ["6.5.5", "6.5.12", "0-rescue"] {
            h.files.insert(
                (d.clone(), format!("/loader/entries/m-{v}.conf")),
                format!("title Fedora ({v})\nversion {v}\nlinux /vmlinuz-{v}\ninitrd /initramfs-{v}.img $tuned_initrd\noptions $kernelopts $tuned_params\n"),
            );
        }
        let m = run_cfg(&h);
        let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Fedora (6.5.12)", "Fedora (6.5.5)", "Fedora (0-rescue)", "After"]
        );
        assert!(m.entries[0].bls && !m.entries[3].bls);
        assert_eq!(m.entries[1].cmdline, "root=/dev/x ro");
        assert_eq!(m.entries[1].initrds.len(), 1);
        assert_eq!(m.default, Some(1));
    }
}
