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
    fn matches(&self, key: &str) -> bool {
        let (Item::Entry { title, id, .. } | Item::Submenu { title, id, .. }) = self;
        title == key || id.as_deref() == Some(key)
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
        let default = resolve_default(&default_spec, &menu, &starts);
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
