//! Commands: the dispatch from a command name to what runs it, the commands
//! the interpreter carries out itself (`set`, `search`, `source`,
//! `load_env`, `linux`, `initrd`, ...), and the table of the other real GRUB
//! commands, run as no-ops that succeed.

use super::cmdline::loader_cmdline;
use super::interp::{weight, Ctrl};
use super::{GrubPath, Interp, SearchBy, MAX_SOURCE_DEPTH, MIN_CHARGE};

impl Interp<'_> {
    /// Runs a simple command (expanded words, name first): an assignment, a
    /// command, or else a script function of that name.
    pub(super) fn simple(&mut self, args: &[String], line: usize) -> i32 {
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
        // `--set VAR`: the name came from the word after `--set`.
        let mut var_from_next = false;
        let mut positional = Vec::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--fs-uuid" | "-u" => kinds.push(SearchBy::FsUuid),
                "--label" | "-l" => kinds.push(SearchBy::Label),
                "--file" | "-f" => kinds.push(SearchBy::File),
                "--part-uuid" => kinds.push(SearchBy::PartUuid),
                "--part-label" => kinds.push(SearchBy::PartLabel),
                // `--set` has an optional argument. GRUB's option parser
                // (lib/arg.c) takes it from the next word unless that word
                // starts with `-` (after `-s`: unless it is `-` followed by
                // at least one character).
                "--set" | "-s" => {
                    let takes = |n: &&String| {
                        if a == "--set" {
                            !n.starts_with('-')
                        } else {
                            n.len() < 2 || !n.starts_with('-')
                        }
                    };
                    match it.next_if(takes) {
                        Some(n) => {
                            var = n.clone();
                            var_from_next = true;
                        }
                        None => {
                            var = "root".to_string();
                            var_from_next = false;
                        }
                    }
                }
                a if a.starts_with("--set=") => {
                    var = a.trim_start_matches("--set=").to_string();
                    var_from_next = false;
                }
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
        // With no word left, a name taken by `--set` was the value to search
        // for, and the variable is `root` (search_wrap.c; grub-emu: `search
        // --fs-uuid --set UUID` sets root).
        let key = match positional.first() {
            Some(k) => k.clone(),
            None if var_from_next && fixed.is_none() => std::mem::replace(&mut var, "root".to_string()),
            None => return 1,
        };
        let key = key.as_str();
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
}

/// Splits a GRUB file name into device and path: `(hd0,gpt2)/boot/x` or `/boot/x` (on `$root`).
pub(super) fn split_path(name: &str, root: &str) -> GrubPath {
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
