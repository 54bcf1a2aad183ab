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

use super::grub_script::{parse, Cmd, Part, Word};
use crate::fs::Kind;
use std::collections::{HashMap, HashSet};

/// Most commands executed in one run: guards against hostile configs.
const MAX_STEPS: usize = 200_000;
/// Deepest nesting of `source`/`configfile`/function calls/submenus.
const MAX_DEPTH: usize = 16;

/// What an interpreter may ask of the machine. Devices are GRUB-style names
/// the host hands out (from `search`, or the config's own device).
pub trait GrubHost {
    /// Kind of a file, `None` when missing. `dev` is `None` for "no device".
    fn kind(&self, dev: &str, path: &str) -> Option<Kind>;
    /// Size of a file.
    fn size(&self, dev: &str, path: &str) -> Option<u64>;
    /// Reads a text file (config, grubenv).
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String>;
    /// `search`: the first device with the file / fs UUID / label.
    fn search(&self, by: SearchBy, value: &str) -> Option<String>;
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
    /// Arguments after the kernel on the `linux` line, joined by spaces.
    pub cmdline: String,
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
        Ok(src) => it.run_source(&src),
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

impl Interp<'_> {
    fn run_source(&mut self, src: &str) {
        match parse(src) {
            Ok(cmds) => {
                self.exec_list(&cmds);
            }
            Err(e) => self.errors.push(format!("{}: {e}", self.file)),
        }
    }

    fn exec_list(&mut self, cmds: &[Cmd]) -> i32 {
        let mut rc = 0;
        for c in cmds {
            rc = self.exec(c);
            if self.steps > MAX_STEPS {
                break;
            }
        }
        rc
    }

    fn expand(&self, w: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for p in &w.0 {
            match p {
                Part::Lit(s, quoted) => {
                    cur.push_str(s);
                    has |= *quoted || !s.is_empty();
                }
                Part::Var(name, true) => {
                    cur.push_str(&self.var(name));
                    has = true;
                }
                Part::Var(name, false) => {
                    let v = self.var(name);
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
        if self.steps > MAX_STEPS {
            if self.steps == MAX_STEPS + 1 {
                self.errors
                    .push(format!("{}: stopped after {MAX_STEPS} commands", self.file));
            }
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
                self.functions.insert(name.clone(), body.clone());
                0
            }
            Cmd::Loop { kind, line } => {
                log::debug!("{}:{line}: `{kind}` loops are not run", self.file);
                0
            }
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
            "[" => {
                if rest.last().map(String::as_str) != Some("]") {
                    self.errors.push(format!("{}:{line}: `[` without `]`", self.file));
                    return 1;
                }
                let inner = rest.get(..rest.len().saturating_sub(1)).unwrap_or(&[]);
                i32::from(!self.test(inner))
            }
            "test" => i32::from(!self.test(rest)),
            "load_env" => self.load_env(rest),
            "save_env" => 0, // hopboot never writes to a user's disk
            "search" | "search.fs_uuid" | "search.fs_label" | "search.file" => self.search(name, rest),
            "source" | "." => self.source(rest, line, false),
            "configfile" => self.source(rest, line, true),
            "linux" | "linuxefi" | "linux16" => {
                if let (Some(boot), Some(k)) = (self.boot.as_mut(), rest.first()) {
                    let root = self.env.get("root").to_string();
                    let cmdline = rest.get(1..).unwrap_or(&[]).join(" ");
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
            "echo"
            | "insmod"
            | "load_video"
            | "gfxmode"
            | "terminal_output"
            | "terminal_input"
            | "terminal"
            | "font"
            | "loadfont"
            | "set_background_image"
            | "background_image"
            | "serial"
            | "play"
            | "recordfail"
            | "gettext"
            | "keystatus"
            | "sleep"
            | "clear"
            | "fwsetup"
            | "videoinfo"
            | "background_color"
            | "halt"
            | "reboot"
            | "rmmod"
            | "boot"
            | "chainloader"
            | "savedefault"
            | "gfxpayload" => 0,
            other => {
                if let Some(body) = self.functions.get(other).cloned() {
                    return self.call(&body, rest);
                }
                log::debug!("{}:{line}: unknown command `{other}` ignored", self.file);
                1
            }
        }
    }

    fn call(&mut self, body: &[Cmd], args: &[String]) -> i32 {
        if self.depth >= MAX_DEPTH {
            self.errors.push(format!("{}: calls nested too deeply", self.file));
            return 1;
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.params, args.to_vec());
        let rc = self.exec_list(body);
        self.params = saved;
        self.depth -= 1;
        rc
    }

    fn test(&self, a: &[String]) -> bool {
        let mut pos = 0;
        let r = self.test_or(a, &mut pos);
        r && pos >= a.len()
    }

    fn test_or(&self, a: &[String], pos: &mut usize) -> bool {
        let mut v = self.test_and(a, pos);
        while a.get(*pos).map(String::as_str) == Some("-o") {
            *pos += 1;
            let r = self.test_and(a, pos);
            v = v || r;
        }
        v
    }

    fn test_and(&self, a: &[String], pos: &mut usize) -> bool {
        let mut v = self.test_not(a, pos);
        while a.get(*pos).map(String::as_str) == Some("-a") {
            *pos += 1;
            let r = self.test_not(a, pos);
            v = v && r;
        }
        v
    }

    fn test_not(&self, a: &[String], pos: &mut usize) -> bool {
        if a.get(*pos).map(String::as_str) == Some("!") {
            *pos += 1;
            return !self.test_not(a, pos);
        }
        if a.get(*pos).map(String::as_str) == Some("(") {
            *pos += 1;
            let v = self.test_or(a, pos);
            if a.get(*pos).map(String::as_str) == Some(")") {
                *pos += 1;
            }
            return v;
        }
        self.test_primary(a, pos)
    }

    fn test_primary(&self, a: &[String], pos: &mut usize) -> bool {
        let get = |i: usize| a.get(i).map(String::as_str);
        // Binary operators first: `x = y`.
        if let (Some(l), Some(op), Some(r)) = (get(*pos), get(*pos + 1), get(*pos + 2)) {
            let num = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
            let res = match op {
                "=" | "==" => Some(l == r),
                "!=" => Some(l != r),
                "<" => Some(l < r),
                ">" => Some(l > r),
                "<=" => Some(l <= r),
                ">=" => Some(l >= r),
                "-eq" => Some(num(l) == num(r)),
                "-ne" => Some(num(l) != num(r)),
                "-lt" => Some(num(l) < num(r)),
                "-le" => Some(num(l) <= num(r)),
                "-gt" => Some(num(l) > num(r)),
                "-ge" => Some(num(l) >= num(r)),
                _ => None,
            };
            if let Some(res) = res {
                *pos += 3;
                return res;
            }
        }
        if let (Some(op), Some(x)) = (get(*pos), get(*pos + 1)) {
            let root = self.env.get("root");
            let file = |x: &str| {
                let p = split_path(x, root);
                (self.host.kind(&p.device, &p.path), p)
            };
            let res = match op {
                "-z" => Some(x.is_empty()),
                "-n" => Some(!x.is_empty()),
                "-e" => Some(file(x).0.is_some()),
                "-f" => Some(file(x).0 == Some(Kind::File)),
                "-d" => Some(file(x).0 == Some(Kind::Dir)),
                "-s" => {
                    let (k, p) = file(x);
                    Some(k == Some(Kind::File) && self.host.size(&p.device, &p.path).unwrap_or(0) > 0)
                }
                _ => None,
            };
            if let Some(res) = res {
                *pos += 2;
                return res;
            }
        }
        match get(*pos) {
            Some(s) => {
                *pos += 1;
                !s.is_empty()
            }
            None => false,
        }
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
        let text = match self.host.read_text(&p.device, &p.path) {
            Ok(t) => t,
            Err(e) => {
                log::debug!("load_env {file}: {e}");
                return 1;
            }
        };
        for (k, v) in parse_grubenv(&text) {
            if only.is_empty() || only.contains(&k.as_str()) {
                self.env.set(&k, &v);
            }
        }
        0
    }

    fn search(&mut self, name: &str, args: &[String]) -> i32 {
        let mut by = match name {
            "search.fs_uuid" => Some(SearchBy::FsUuid),
            "search.fs_label" => Some(SearchBy::Label),
            "search.file" => Some(SearchBy::File),
            _ => None,
        };
        let short = by.is_some();
        let mut var = "root".to_string();
        let mut positional = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--fs-uuid" | "-u" => by = Some(SearchBy::FsUuid),
                "--label" | "-l" => by = Some(SearchBy::Label),
                "--file" | "-f" => by = Some(SearchBy::File),
                // `--set` has an optional argument, given only as `--set=VAR`
                // (GRUB's parser never takes it from the next word).
                "--set" | "-s" => var = "root".to_string(),
                a if a.starts_with("--set=") => var = a.trim_start_matches("--set=").to_string(),
                a if a.starts_with("--hint") => {
                    if !a.contains('=') {
                        it.next();
                    }
                }
                "--no-floppy" | "-n" | "--efidisk-only" => {}
                a => positional.push(a.to_string()),
            }
        }
        if short {
            // search.fs_uuid UUID [VAR] [HINT…]
            if let Some(v) = positional.get(1) {
                var = v.clone();
            }
        }
        let Some(key) = positional.first() else { return 1 };
        match self.host.search(by.unwrap_or(SearchBy::File), key) {
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
        if self.depth >= MAX_DEPTH {
            self.errors
                .push(format!("{}:{line}: source nested too deeply", self.file));
            return 1;
        }
        let p = split_path(f, self.env.get("root"));
        match self.host.read_text(&p.device, &p.path) {
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

    /// Runs an entry's body on paper and returns what it would boot.
    fn boot_entry(&mut self, body: &[Cmd], params: &[String]) -> Boot {
        let saved_env = self.env.clone();
        let saved_boot = self.boot.replace(Boot::default());
        let saved_params = std::mem::replace(&mut self.params, params.to_vec());
        self.exec_list(body);
        let boot = std::mem::replace(&mut self.boot, saved_boot).unwrap_or_default();
        self.env = saved_env;
        self.params = saved_params;
        boot
    }

    fn finish(mut self) -> GrubMenu {
        let menu = std::mem::take(&mut self.menu);
        let default_spec = self.env.get("default").to_string();
        let timeout = self.env.get("timeout").trim().parse().ok();
        let mut entries = Vec::new();
        let mut starts = Vec::new();
        self.flatten(&menu, &mut entries, &mut starts, 0);
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
    fn flatten(&mut self, menu: &[Item], out: &mut Vec<GrubEntry>, starts: &mut Vec<Start>, depth: usize) {
        for item in menu {
            let first = out.len();
            match item {
                Item::Entry {
                    title,
                    id,
                    params,
                    body,
                } => {
                    let boot = self.boot_entry(body, params);
                    match boot.linux {
                        Some((kernel, kernel_arg, cmdline)) => out.push(GrubEntry {
                            title: title.clone(),
                            id: id.clone(),
                            kernel,
                            kernel_arg,
                            initrds: boot.initrds,
                            cmdline,
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
                    let outer_env = std::mem::take(&mut self.env);
                    self.env = outer_env.exported_only();
                    let outer_menu = std::mem::take(&mut self.menu);
                    let saved_params = std::mem::replace(&mut self.params, params.clone());
                    self.exec_list(body);
                    let sub_menu = std::mem::replace(&mut self.menu, outer_menu);
                    let mut sub_starts = Vec::new();
                    self.flatten(&sub_menu, out, &mut sub_starts, depth + 1);
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
    }

    impl GrubHost for Host {
        fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
            self.files
                .contains_key(&(dev.to_string(), path.to_string()))
                .then_some(Kind::File)
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
                _ => None,
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
        assert!(m.errors.iter().any(|e| e.contains("too deeply")), "{:?}", m.errors);
    }
}
