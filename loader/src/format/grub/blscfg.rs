//! BLS snippets as Red Hat's GRUB module `blscfg` reads them (Fedora, RHEL,
//! CentOS Stream). That is not how systemd-boot reads the same files
//! ([`crate::format::sdboot::bls`]); the differences decide real menus:
//! - a snippet is read up to its first line without a value (a blank line
//!   included): later lines are ignored;
//! - `title`, `linux` and `options` take their **first** line; `initrd` lines
//!   all count, in order; values are not unquoted;
//! - snippets are sorted by **file name** only, read as rpm's
//!   name-version-release (the last two `-` split it), each part in rpm's
//!   version order ([`crate::version::rpm`]), newest first; a snippet whose
//!   name compares equal to one already taken is dropped;
//! - `$variables` in `options` are expanded when `blscfg` runs (not when the
//!   entry boots), with the module's own expander ([`expand`]); a snippet
//!   without `options` gets `$default_kernelopts`;
//! - `$early_initrd` names initrds loaded before the snippet's own, from the
//!   directory of its first initrd (or of its kernel).
//!
//! Facts from rhboot/grub2's `grub-core/commands/blscfg.c` (the linked-list
//! version Fedora has shipped since 30; `read_entry`, `split_cmp`,
//! `bls_add_entry`, `expand_val`, `create_entry`).
//!
//! The command itself, `Interp::blscfg` at the end, reads the snippets
//! through the host and makes each a menu entry with these rules.

use super::menu::Item;
use super::script;
use super::{Interp, MIN_CHARGE};
use crate::fs::Kind;
use std::cmp::Ordering;

/// One snippet: its id (file name without `.conf`) and its key/value lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snippet {
    /// File name without `.conf` (the menu entry's id).
    id: String,
    /// Key/value lines in file order.
    keys: Vec<(String, String)>,
}

impl Snippet {
    /// The first value of `key`.
    fn first(&self, key: &str) -> Option<&str> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in file order.
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.keys.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads a snippet the way `read_entry` does.
fn parse(id: &str, text: &str) -> Snippet {
    let mut keys = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.trim_start_matches([' ', '\t']);
        if line.starts_with('#') {
            continue;
        }
        // The key ends at the first space, else at the first tab.
        let Some(sep) = line.find(' ').or_else(|| line.find('\t')) else {
            break;
        };
        if sep + 1 == line.len() {
            break;
        }
        let value = line[sep + 1..].trim_start_matches([' ', '\t']);
        keys.push((line[..sep].to_string(), value.to_string()));
    }
    Snippet {
        id: id.to_string(),
        keys,
    }
}

/// `split_package_string`: name, version and release of a snippet's file name.
fn split_nvr(id: &str) -> (&str, &str, &str) {
    match id.rsplit_once('-') {
        None => (id, "", ""),
        Some((rest, release)) => match rest.rsplit_once('-') {
            None => (rest, release, ""),
            Some((name, version)) => (name, version, release),
        },
    }
}

/// `split_cmp`: name, then version, then release, each in rpm's order.
fn compare_ids(a: &str, b: &str) -> Ordering {
    let (na, va, ra) = split_nvr(a);
    let (nb, vb, rb) = split_nvr(b);
    crate::version::rpm(na, nb)
        .then_with(|| crate::version::rpm(va, vb))
        .then_with(|| crate::version::rpm(ra, rb))
}

/// Snippets in menu order, as `bls_add_entry` inserts them in directory order:
/// each goes before the first one it is newer than; one that compares equal
/// to a snippet already placed is dropped (returned second).
fn order(snippets: Vec<Snippet>) -> (Vec<Snippet>, Vec<Snippet>) {
    let mut menu: Vec<Snippet> = Vec::new();
    let mut dropped = Vec::new();
    'next: for s in snippets {
        for i in 0..menu.len() {
            match compare_ids(&s.id, &menu[i].id) {
                Ordering::Equal => {
                    dropped.push(s);
                    continue 'next;
                }
                Ordering::Greater => {
                    menu.insert(i, s);
                    continue 'next;
                }
                Ordering::Less => {}
            }
        }
        menu.push(s);
    }
    (menu, dropped)
}

/// `expand_val`: `$name` (letters, digits, `_`) becomes the variable's value
/// followed by one space; an unset variable becomes nothing, and when that
/// leaves nothing at all the result is `None` (so `options $unset` falls back
/// to `$default_kernelopts`). One space right after a variable is dropped.
/// Like the C code, a one-byte piece between two marks is lost (`$a` with a
/// one-letter name, or `$x y` losing `y`): real snippets do not hit this.
fn expand(value: &str, get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let v = value.as_bytes();
    let mut out: Option<String> = None;
    // The C code's `start` and `end` pointers as indices; a piece is
    // `start..=end`, empty when `end < start`.
    let (mut start, mut end) = (0usize, 0usize);
    let mut is_var = false;
    let piece = |start: usize, end: usize| -> &str {
        if end < start {
            ""
        } else {
            value.get(start..=end).unwrap_or("")
        }
    };
    let append = |out: Option<String>, is_var: bool, text: &str| -> Option<String> {
        if !is_var {
            return Some(out.unwrap_or_default() + text);
        }
        match get(text) {
            Some(val) => Some(out.unwrap_or_default() + &val + " "),
            None => out,
        }
    };
    for (i, &c) in v.iter().enumerate() {
        if c == b'$' {
            if start != end {
                out = append(out, is_var, piece(start, end));
                out.as_ref()?;
            }
            is_var = true;
            start = i + 1;
        } else if is_var && !(c.is_ascii_alphanumeric() || c == b'_') {
            out = append(out, is_var, piece(start, end));
            is_var = false;
            start = i;
            if c == b' ' {
                start += 1;
            }
        }
        end = i;
    }
    if start != end {
        out = append(out, is_var, piece(start, end));
        out.as_ref()?;
    }
    out
}

/// `$early_initrd` entries with the directory they are loaded from: the
/// first initrd's, else the kernel's (up to and including the last `/`).
fn early_initrds(early: &str, first_initrd: Option<&str>, linux: &str) -> Vec<String> {
    let base = first_initrd.unwrap_or(linux);
    let dir = base.rfind('/').map_or("", |i| &base[..=i]);
    early.split(' ').map(|name| format!("{dir}{name}")).collect()
}

impl Interp<'_> {
    /// `blscfg` (Red Hat's GRUB): every BLS snippet in `$blsdir` (default
    /// `/loader/entries`; `/boot/loader/entries` when that cannot be read) on
    /// `$root` becomes a menu entry, read, sorted and expanded as the module
    /// does it (see the rules above). The entry's body is script text
    /// (`linux ($root)PATH OPTIONS`, `initrd ($root)PATH …`) run when it boots.
    pub(super) fn blscfg(&mut self) -> i32 {
        self.red_hat = true;
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
                    snippets.push(parse(&n[..n.len() - 5], &text));
                }
                Err(m) => self.errors.push(format!("{path}: {m}")),
            }
        }
        let (menu, dropped) = order(snippets);
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
                .and_then(|o| expand(o, get))
                .or_else(|| vars.get("default_kernelopts").and_then(|d| expand(d, get)));
            let mut src = match options {
                Some(o) => format!("linux ($root){linux} {o}\n"),
                None => format!("linux ($root){linux}\n"),
            };
            let mut initrds: Vec<String> = match vars.get("early_initrd") {
                Some(early) => early_initrds(early, s.all("initrd").next(), linux),
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
            let title = s.first("title").unwrap_or(linux).to_string();
            self.menu.push(Item::Entry {
                // blscfg adds the entry with its title as the one argument.
                params: vec![title.clone()],
                title,
                id: Some(s.id.clone()),
                body,
                bls: true,
            });
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_stops_at_a_line_without_a_value_and_first_values_win() {
        let s = parse(
            "x",
            "  # comment\ntitle First\ntitle Second\nlinux /vmlinuz\ninitrd /a\ninitrd\t/b\noptions \"q\"  x\n\noptions late\n",
        );
        assert_eq!(s.first("title"), Some("First"));
        assert_eq!(s.all("initrd").collect::<Vec<_>>(), ["/a", "/b"]);
        assert_eq!(s.first("options"), Some("\"q\"  x"));
        assert_eq!(s.all("options").count(), 1, "the blank line ends the snippet");
        assert_eq!(parse("y", "title T\nversion\nlinux /v\n").first("linux"), None);
    }

    #[test]
    fn file_names_sort_as_name_version_release_newest_first() {
        let ids = [
            "0c5d-0-rescue",
            "0c5d-6.5.5-300.fc39.x86_64",
            "0c5d-6.5.12-300.fc39.x86_64",
            "0c5d-6.5.12-200.fc39.x86_64",
            "9af7-5.18.0",
        ];
        let snippets = ids.iter().map(|id| parse(id, "linux /v\n")).collect();
        let (menu, dropped) = order(snippets);
        let menu: Vec<_> = menu.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            menu,
            [
                "9af7-5.18.0",
                "0c5d-6.5.12-300.fc39.x86_64",
                "0c5d-6.5.12-200.fc39.x86_64",
                "0c5d-6.5.5-300.fc39.x86_64",
                "0c5d-0-rescue",
            ]
        );
        assert!(dropped.is_empty());
        // Fedora's rescue snippet: name = machine id, version 0: after every kernel.
        assert_eq!(split_nvr("m-0-rescue"), ("m", "0", "rescue"));
        assert_eq!(split_nvr("m-5.18.0"), ("m", "5.18.0", ""));
        assert_eq!(split_nvr("plain"), ("plain", "", ""));
    }

    #[test]
    fn a_name_equal_in_rpm_order_is_dropped() {
        let (menu, dropped) = order(vec![parse("m-6.5_1", "linux /a\n"), parse("m-6.5.1", "linux /b\n")]);
        assert_eq!(menu.len(), 1);
        assert_eq!(menu[0].first("linux"), Some("/a"));
        assert_eq!(dropped[0].id, "m-6.5.1");
    }

    #[test]
    fn expansion_follows_the_module() {
        let env = |k: &str| match k {
            "kernelopts" => Some("root=/dev/x ro".to_string()),
            "empty" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            expand("$kernelopts $tuned_params", env).as_deref(),
            Some("root=/dev/x ro ")
        );
        assert_eq!(
            expand("quiet $kernelopts rhgb", env).as_deref(),
            Some("quiet root=/dev/x ro rhgb")
        );
        // A variable inside a word still gets its space.
        assert_eq!(expand("a=$kernelopts,b", env).as_deref(), Some("a=root=/dev/x ro ,b"));
        // Only unset variables: nothing at all, so the caller falls back.
        assert_eq!(expand("$tuned_params", env), None);
        assert_eq!(expand("$empty", env).as_deref(), Some(" "));
        assert_eq!(expand("plain words", env).as_deref(), Some("plain words"));
        assert_eq!(expand("", env), None);
        // The C code's off-by-one pieces.
        assert_eq!(expand("$kernelopts x", env).as_deref(), Some("root=/dev/x ro "));
        for odd in ["$", "$$", "$ $", "a$", "$_$", "\u{e9}$x\u{e9}"] {
            let _ = expand(odd, env);
        }
    }

    #[test]
    fn early_initrds_come_from_the_first_initrds_directory() {
        assert_eq!(
            early_initrds("ucode.img extra.img", Some("/boot/initramfs-6.5.img"), "/vmlinuz"),
            ["/boot/ucode.img", "/boot/extra.img"]
        );
        assert_eq!(
            early_initrds("u.img", None, "/efi/fedora/vmlinuz"),
            ["/efi/fedora/u.img"]
        );
    }
}
