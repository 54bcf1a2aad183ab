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
//!
//! Layout: [`script`] parses, `interp` runs (variables, expansion, control
//! flow, budgets), `builtins` holds the commands and GRUB's command table,
//! `test_cmd` the `test`/`[` command, `menu` the entries, submenus and
//! `default`, `cmdline` the kernel command line of a `linux` line, and
//! `blscfg` Red Hat's `blscfg` command and its rules; `volumes` makes it a
//! [`BootFormat`](crate::format::BootFormat): where grub.cfg lives, GRUB's
//! devices and `search` over hopboot's volumes, entries whose kernel is there.

mod blscfg;
mod builtins;
mod cmdline;
mod interp;
mod menu;
pub mod script;
mod test_cmd;
#[cfg(test)]
mod tests;
mod volumes;

pub use builtins::parse_grubenv;
pub use cmdline::loader_cmdline;
pub use volumes::{configs, Grub, GRUB_PATHS};

use crate::fs::Kind;
use interp::Interp;

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
    /// Problems: syntax errors, unreadable files, entries without a kernel.
    pub errors: Vec<String>,
}

/// Runs the grub.cfg at `path` on device `dev`, as GRUB's normal mode would.
pub fn run(host: &dyn GrubHost, dev: &str, path: &str) -> GrubMenu {
    run_with(host, dev, path, &[])
}

/// [`run`] with more variables set (and exported) before grub.cfg runs:
/// a network boot's `net_default_server` and the like.
pub fn run_with(host: &dyn GrubHost, dev: &str, path: &str, vars: &[(&str, &str)]) -> GrubMenu {
    let mut it = Interp::new(host, path);
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
    for (k, v) in vars {
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
