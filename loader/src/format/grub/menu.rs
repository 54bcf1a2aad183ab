//! The menu: `menuentry`/`submenu` definitions, booting each entry on paper
//! (submenus flattened in place, each in its own context), and GRUB's
//! `default` rules.

use super::interp::{weight, Interp};
use super::script::Cmd;
use super::{GrubEntry, GrubMenu, GrubPath, MAX_DEPTH, MAX_ENTRIES};

/// A `menuentry` or `submenu` as defined; its body runs when it is booted.
#[derive(Debug)]
pub(super) enum Item {
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
    fn title(&self) -> &str {
        let (Item::Entry { title, .. } | Item::Submenu { title, .. }) = self;
        title
    }

    /// Its `--id`, else its title (as GRUB's `menuentry` sets it).
    fn id(&self) -> &str {
        let (Item::Entry { title, id, .. } | Item::Submenu { title, id, .. }) = self;
        id.as_deref().unwrap_or(title)
    }
}

/// What running an entry's body recorded.
#[derive(Debug, Default)]
pub(super) struct Boot {
    pub(super) linux: Option<(GrubPath, String, String)>,
    pub(super) initrds: Vec<GrubPath>,
}

impl Interp<'_> {
    /// `menuentry` / `submenu`: adds an item to the menu being built.
    pub(super) fn define_menu(&mut self, submenu: bool, args: &[String], body: &[Cmd], line: usize) -> i32 {
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
        // GRUB keeps every non-option argument, the title first, and passes
        // them to the body as `$1`, `$2`... (grub-emu: `$1` is the title,
        // in a submenu's body too).
        params.insert(0, title.clone());
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

    fn too_many_entries(&mut self) {
        if !self.entries_capped {
            self.entries_capped = true;
            self.errors.push(format!(
                "{}: more than {MAX_ENTRIES} menu entries; the rest are left out",
                self.file
            ));
        }
    }

    pub(super) fn finish(mut self) -> GrubMenu {
        let menu = std::mem::take(&mut self.menu);
        let default_spec = self.env.get("default").to_string();
        let mut entries = Vec::new();
        let mut starts = Vec::new();
        self.flatten(&menu, &mut entries, &mut starts, "", 0);
        self.report_stop();
        let flavour = if self.red_hat {
            Flavour::RedHat
        } else {
            Flavour::Upstream
        };
        let default = resolve_default(&default_spec, &menu, &starts, flavour);
        GrubMenu {
            default: default.or((!entries.is_empty()).then_some(0)),
            entries,
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
            // The entries' text stays in memory after the run: stop at
            // discovery's budget for one config rather than after it.
            let text: usize = out
                .iter()
                .map(|e| e.title.len() + e.cmdline.len() + e.kernel_arg.len())
                .sum();
            if text > crate::discover::MAX_CONFIG_TEXT {
                if !self.entries_capped {
                    self.entries_capped = true;
                    self.errors.push(format!(
                        "{}: the entries hold more than {} KiB of text; the rest are left out",
                        self.file,
                        crate::discover::MAX_CONFIG_TEXT >> 10
                    ));
                }
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

/// Which GRUB a config is written for, where the two read it differently.
///
/// Red Hat's GRUB (rhboot/grub2: Fedora 30+, RHEL/CentOS/Rocky/Alma 8+)
/// carries the patch "Fix menu entry selection based on ID and title"
/// (rhbz#1640979), which changes how `default` names an entry; upstream GRUB
/// (Debian, Ubuntu, Arch, SUSE...) does not have it. hopboot takes a config
/// for Red Hat's when it runs `blscfg`: that command exists only in Red
/// Hat's GRUB, and every config its `grub2-mkconfig` has written since
/// Fedora 30 / RHEL 8 runs it (that is also when `saved_entry` became
/// `<machine-id>-<kernel version>`, the BLS snippet's name). Other hints are
/// weaker: `/boot/grub2` is SUSE's path too, `$kernelopts` comes and goes
/// with `blscfg`, and an `/EFI/redhat` or `/EFI/centos` config may be RHEL
/// 7's GRUB 2.02, which lacks the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    Upstream,
    RedHat,
}

/// Resolves GRUB's `default` against the menu: per level an index, a title
/// or an id, `>` going down into a submenu (`>>` is a `>` in a name).
/// `None` when it names nothing bootable (GRUB then boots entry 0).
///
/// How a level is picked (checked with grub-emu 2.06 for upstream, read in
/// rhboot/grub2's `grub-core/normal/menu.c` for Red Hat's):
/// - upstream: the value is read as a number first, as C's `strtoul` with
///   base 0 reads it (`0x` hex, a leading `0` octal, leading blanks
///   skipped), and any number at its start wins: `0c5d…-6.5.5` is entry 0,
///   `2nd kernel` entry 2, `0x2-foo` entry 2, `010` entry 8; only a value
///   without a leading number is matched against each entry's title or id
///   (the first entry with either wins);
/// - Red Hat: ids first (the value up to its first blank; anything after
///   the blank makes the match fail), then titles, and a number only when
///   the whole value is one (so `1>2` names nothing).
fn resolve_default(spec: &str, menu: &[Item], starts: &[Start], flavour: Flavour) -> Option<usize> {
    if spec.trim().is_empty() {
        return None;
    }
    let mut items = menu;
    let mut sts = starts;
    let mut rest = spec;
    loop {
        let idx = pick(items, rest, flavour)?;
        let st = sts.get(idx)?;
        // GRUB hands a submenu what follows the first `>` as its `default`.
        match first_part(rest).1.filter(|r| !r.is_empty()) {
            None => {
                if st.len == 0 {
                    return None;
                }
                // A submenu as default: GRUB opens it on its own default; we
                // take that entry (or its first).
                if let Some(sub) = &st.sub {
                    let inner = resolve_default(&sub.default, &sub.items, &sub.starts, flavour);
                    return inner.or(Some(st.first));
                }
                return Some(st.first);
            }
            Some(next) => {
                let sub = st.sub.as_ref()?;
                items = &sub.items;
                sts = &sub.starts;
                rest = next;
            }
        }
    }
}

/// The entry of one menu level that `spec` (this level's part and the
/// levels below) names.
fn pick(items: &[Item], spec: &str, flavour: Flavour) -> Option<usize> {
    let (name, _) = first_part(spec);
    match flavour {
        Flavour::Upstream => match leading_number(spec) {
            Number::Value(n, _) => as_index(n),
            Number::Overflow => None,
            Number::None => items.iter().position(|i| i.title() == name || i.id() == name),
        },
        Flavour::RedHat => {
            let blank = spec.find(is_blank).unwrap_or(spec.len());
            let (head, after) = spec.split_at(blank);
            let (head_name, _) = first_part(head);
            if let Some(i) = items.iter().position(|i| i.id() == head_name) {
                return after.is_empty().then_some(i);
            }
            if let Some(i) = items.iter().position(|i| i.title() == name) {
                return Some(i);
            }
            match leading_number(spec) {
                Number::Value(n, "") => as_index(n),
                _ => None,
            }
        }
    }
}

/// GRUB's blanks (`grub_isspace`).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The first `>`-separated part of a `default` path, `>>` read as a `>`,
/// and what follows its `>` (`None` when it is the last part).
fn first_part(spec: &str) -> (String, Option<&str>) {
    let mut name = String::new();
    let mut chars = spec.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '>' {
            if chars.peek().is_some_and(|&(_, n)| n == '>') {
                chars.next();
            } else {
                return (name, spec.get(i + 1..));
            }
        }
        name.push(c);
    }
    (name, None)
}

/// A number at the start of a text, as GRUB's `grub_strtoul(s, &end, 0)`
/// reads it.
#[derive(Debug, PartialEq, Eq)]
enum Number<'a> {
    /// The value and the text after it.
    Value(u64, &'a str),
    /// More than 64 bits: GRUB's "overflow is detected".
    Overflow,
    /// No digit: GRUB's "unrecognized number".
    None,
}

fn leading_number(s: &str) -> Number<'_> {
    let s = s.trim_start_matches(is_blank);
    let (radix, digits) = match s.as_bytes() {
        [b'0', b'x', ..] => (16, s.get(2..).unwrap_or("")),
        [b'0', b'0'..=b'7', ..] => (8, s),
        _ => (10, s),
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let (num, rest) = digits.split_at(end);
    if num.is_empty() {
        return Number::None;
    }
    match u64::from_str_radix(num, radix) {
        Ok(n) => Number::Value(n, rest),
        Err(_) => Number::Overflow,
    }
}

/// GRUB keeps the number as a C `int`: the low 32 bits, negative is none.
fn as_index(n: u64) -> Option<usize> {
    usize::try_from(n as u32 as i32).ok()
}
