//! Finding kernel modules and their dependencies in a `/lib/modules/<KVER>` tree.
//!
//! A tree unpacked from a distribution kernel package may lack `modules.dep` (depmod runs at install
//! time), so dependencies come from `modules.dep` when it exists and otherwise from the `depends=`
//! field of each module's `.modinfo` ELF section, which is what depmod itself reads.
//!
//! Names are compared with `-` and `_` equivalent, as modprobe does: the kernel builds module names
//! from file names with `-` replaced by `_` (`virtio-gpu.ko` is module `virtio_gpu`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use goblin::container::Ctx;
use goblin::elf::section_header::{SectionHeader, SHN_XINDEX};
use goblin::elf::Elf;

use crate::compress;

/// File name suffixes of modules, with how the file is compressed.
const SUFFIXES: [(&str, Packing); 4] = [
    (".ko", Packing::Plain),
    (".ko.xz", Packing::Xz),
    (".ko.zst", Packing::Zstd),
    (".ko.gz", Packing::Gzip),
];

/// How a module file is compressed on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Packing {
    Plain,
    Xz,
    Zstd,
    Gzip,
}

/// Returns a module name in canonical form: `-` replaced by `_`.
pub fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Splits a module file name into its (not normalized) module name and compression, or `None` if
/// the name has none of the module suffixes (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
fn split_file_name(file_name: &str) -> Option<(&str, Packing)> {
    SUFFIXES.iter().find_map(|(suffix, packing)| {
        let stem = file_name.strip_suffix(suffix)?;
        (!stem.is_empty()).then_some((stem, *packing))
    })
}

/// One module to ship, as resolved from a [`ModuleTree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Canonical name (`virtio_blk`).
    pub name: String,
    /// Path of the file in the tree, relative to it; may end in `.ko.xz` etc.
    pub source: String,
    /// Path in the image, relative to `lib/modules/<KVER>`: `source` with the compression suffix
    /// removed (`kernel/drivers/block/virtio_blk.ko`).
    pub path: String,
    /// Canonical names of the modules this one depends on. From `.modinfo` these are the direct
    /// dependencies; from `modules.dep` they are already the transitive closure.
    pub deps: Vec<String>,
}

/// A `/lib/modules/<KVER>` directory, indexed by module name.
#[derive(Clone, Debug)]
pub struct ModuleTree {
    dir: PathBuf,
    kver: String,
    /// Canonical name -> path relative to `dir`.
    index: BTreeMap<String, String>,
    /// Relative path -> dependency paths, when the tree has a `modules.dep`.
    dep_file: Option<HashMap<String, Vec<String>>>,
}

impl ModuleTree {
    /// Indexes the module tree `dir`, whose file name is the kernel version.
    ///
    /// With a `modules.dep`, the modules are the ones it lists. Without one, every `*.ko*` file
    /// under `dir` is a module (symlinks such as `build` are not followed); if two files have the same
    /// module name, the one under `updates/` wins, as in depmod's default search order, and
    /// otherwise the first in path order.
    pub fn open(dir: &Path) -> Result<Self> {
        let kver = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{}: cannot take a kernel version from this path", dir.display()))?
            .to_owned();
        let meta = fs::metadata(dir).with_context(|| format!("module tree {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("module tree {}: not a directory", dir.display());
        }
        let dep_path = dir.join("modules.dep");
        let (index, dep_file) = match fs::read_to_string(&dep_path) {
            Ok(text) => {
                let deps = parse_modules_dep(&text, &kver).with_context(|| format!("{}", dep_path.display()))?;
                let mut index = BTreeMap::new();
                for path in deps.keys().chain(deps.values().flatten()) {
                    index.entry(name_of(path)?).or_insert_with(|| path.clone());
                }
                (index, Some(deps))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (scan(dir)?, None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dep_path.display())),
        };
        Ok(Self {
            dir: dir.to_owned(),
            kver,
            index,
            dep_file,
        })
    }

    /// The kernel version: the tree directory's file name.
    pub fn kver(&self) -> &str {
        &self.kver
    }

    /// The tree directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of modules in the tree.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True if the tree has no modules.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Canonical names of the modules whose path (relative to the tree) starts with one of
    /// `prefixes` (`kernel/drivers/ata/`), sorted by name.
    pub fn names_under(&self, prefixes: &[&str]) -> Vec<String> {
        self.index
            .iter()
            .filter(|(_, path)| prefixes.iter().any(|p| path.starts_with(p)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether the tree has a module of this canonical name.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// True if dependencies come from the tree's `modules.dep` rather than from `.modinfo`.
    pub fn has_modules_dep(&self) -> bool {
        self.dep_file.is_some()
    }

    /// Resolves `names` and everything they depend on, transitively, into a load order: every
    /// module comes after all of its dependencies. Duplicates are shipped once; the order is fixed
    /// by the order of `names` and of each module's dependency list.
    pub fn resolve<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<Module>> {
        let mut order = Vec::new();
        let mut state = HashMap::new();
        for name in names {
            let name = normalize_name(name.as_ref().trim());
            if name.is_empty() {
                continue;
            }
            if !self.index.contains_key(&name) {
                bail!("module {name:?} not found in {}", self.dir.display());
            }
            self.visit(&name, &mut Vec::new(), &mut state, &mut order)?;
        }
        Ok(order)
    }

    /// Depth-first post-order walk; `stack` holds the chain being visited, to report cycles.
    fn visit(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        state: &mut HashMap<String, bool>, // false: in progress, true: done
        order: &mut Vec<Module>,
    ) -> Result<()> {
        match state.get(name) {
            Some(true) => return Ok(()),
            Some(false) => {
                bail!("dependency cycle: {} -> {name}", stack.join(" -> "))
            }
            None => {}
        }
        let module = self.module(name)?;
        state.insert(name.to_owned(), false);
        stack.push(name.to_owned());
        for dep in &module.deps {
            if !self.index.contains_key(dep) {
                bail!(
                    "module {name} ({}) depends on {dep:?}, which is not in {}",
                    module.source,
                    self.dir.display()
                );
            }
            self.visit(dep, stack, state, order)?;
        }
        stack.pop();
        state.insert(name.to_owned(), true);
        order.push(module);
        Ok(())
    }

    /// Looks up one module by canonical name and reads its dependency list.
    fn module(&self, name: &str) -> Result<Module> {
        let source = self
            .index
            .get(name)
            .ok_or_else(|| anyhow!("module {name:?} not found in {}", self.dir.display()))?
            .clone();
        let deps = match &self.dep_file {
            Some(dep_file) => {
                let paths = dep_file.get(&source).map(Vec::as_slice).unwrap_or_default();
                paths.iter().map(|p| name_of(p)).collect::<Result<_>>()?
            }
            None => {
                let elf = self.read_source(&source)?;
                modinfo_depends(&elf).with_context(|| format!("{}", self.dir.join(&source).display()))?
            }
        };
        let (stem, _) = split_file_name(&source).ok_or_else(|| anyhow!("{source}: not a module"))?;
        // `stem` is the whole relative path without its suffix.
        let path = format!("{stem}.ko");
        Ok(Module {
            name: name.to_owned(),
            source,
            path,
            deps,
        })
    }

    /// Reads a module from the tree, decompressed, and checks that it is an ELF file.
    pub fn read(&self, module: &Module) -> Result<Vec<u8>> {
        self.read_source(&module.source)
    }

    fn read_source(&self, source: &str) -> Result<Vec<u8>> {
        let full = self.dir.join(source);
        let raw = fs::read(&full).with_context(|| format!("reading module {}", full.display()))?;
        let (_, packing) = split_file_name(source).ok_or_else(|| anyhow!("{source}: not a module"))?;
        let data = match packing {
            Packing::Plain => Ok(raw),
            Packing::Gzip => compress::gunzip(&raw),
            Packing::Xz => compress::pipe_through("xz", &["-dc"], &raw),
            Packing::Zstd => compress::pipe_through("zstd", &["-dc", "-q"], &raw),
        }
        .with_context(|| format!("decompressing module {}", full.display()))?;
        if !data.starts_with(b"\x7fELF") {
            bail!("module {}: not an ELF file", full.display());
        }
        Ok(data)
    }
}

/// Returns the canonical module name of a path like `kernel/drivers/virtio/virtio.ko.xz`.
fn name_of(path: &str) -> Result<String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let (stem, _) = split_file_name(file)
        .ok_or_else(|| anyhow!("{path:?} is not a kernel module file name (*.ko, *.ko.xz, ...)"))?;
    Ok(normalize_name(stem))
}

/// Walks `dir` for module files; the result maps canonical names to paths relative to `dir`.
fn scan(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut found = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let abs = dir.join(&rel);
        let entries = fs::read_dir(&abs).with_context(|| format!("listing {}", abs.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", abs.display()))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // module paths are written into modules.dep, so they must be UTF-8
            };
            let child = if rel.is_empty() {
                file_name.clone()
            } else {
                format!("{rel}/{file_name}")
            };
            // DirEntry::file_type does not follow symlinks, so `build -> /usr/src/...` is skipped.
            let ft = entry
                .file_type()
                .with_context(|| format!("{}", entry.path().display()))?;
            if ft.is_dir() {
                pending.push(child);
            } else if ft.is_file() && split_file_name(&file_name).is_some() {
                found.push(child);
            }
        }
    }
    // Search order: updates/ first, then path order.
    found.sort_by_key(|p| (!p.starts_with("updates/"), p.clone()));
    let mut index = BTreeMap::new();
    for path in found {
        index.entry(name_of(&path)?).or_insert(path);
    }
    Ok(index)
}

/// Parses depmod's `modules.dep`: `path: dep1 dep2 …` per line, paths relative to the tree (older
/// depmod wrote absolute `/lib/modules/<kver>/…` paths; those are made relative).
fn parse_modules_dep(text: &str, kver: &str) -> Result<HashMap<String, Vec<String>>> {
    let abs_prefix = format!("/lib/modules/{kver}/");
    let relative = |p: &str, line: usize| -> Result<String> {
        let p = if p.starts_with('/') {
            p.strip_prefix(&abs_prefix)
                .ok_or_else(|| anyhow!("line {line}: path {p:?} is outside {abs_prefix}"))?
        } else {
            p
        };
        name_of(p).with_context(|| format!("line {line}"))?;
        Ok(p.to_owned())
    };
    let mut deps = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (module, rest) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("line {line_no}: expected `module.ko: deps…`, got {line:?}"))?;
        let module = relative(module.trim(), line_no)?;
        let list = rest
            .split_whitespace()
            .map(|d| relative(d, line_no))
            .collect::<Result<Vec<_>>>()?;
        deps.insert(module, list);
    }
    Ok(deps)
}

/// Returns the `.modinfo` section of a kernel module: the `key=value` strings it holds, in order.
///
/// Fails with a clear error on anything that is not a well-formed ELF file with that section.
pub fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>> {
    let section =
        section_data(elf, ".modinfo")?.ok_or_else(|| anyhow!("no .modinfo section (not a kernel module?)"))?;
    Ok(section
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let s = String::from_utf8_lossy(s);
            let (k, v) = s.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect())
}

/// Returns the canonical names in a module's `depends=` field (empty if it has none).
pub fn modinfo_depends(elf: &[u8]) -> Result<Vec<String>> {
    let info = modinfo(elf)?;
    let mut deps = Vec::new();
    for (key, value) in info {
        if key == "depends" {
            for dep in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                let dep = normalize_name(dep);
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
        }
    }
    Ok(deps)
}

/// Returns the patterns in a module's `alias=` fields, in order, without duplicates: the device
/// modaliases (`pci:v00001AF4d*sv*sd*bc*sc*i*`) and other names (`fs-ext4`) it answers to.
pub fn modinfo_aliases(elf: &[u8]) -> Result<Vec<String>> {
    let mut aliases: Vec<String> = Vec::new();
    for (key, value) in modinfo(elf)? {
        // A pattern is one word in modules.alias; none of the kernel's contain blanks.
        if key == "alias" && !value.is_empty() && !value.contains(char::is_whitespace) && !aliases.contains(&value) {
            aliases.push(value);
        }
    }
    Ok(aliases)
}

/// Writes depmod's `modules.alias`: one `alias PATTERN MODULE` line per (module, pattern), in the
/// order given, under depmod's header line.
pub fn modules_alias<S: AsRef<str>>(aliases: &[(String, Vec<S>)]) -> String {
    let mut out = String::from("# Aliases extracted from modules themselves.\n");
    for (module, patterns) in aliases {
        for p in patterns {
            out.push_str(&format!("alias {} {module}\n", p.as_ref()));
        }
    }
    out
}

/// Finds section `name` and returns its bytes; only the ELF and section headers are parsed.
fn section_data<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    let bad = |e: goblin::error::Error| anyhow!("malformed ELF file: {e}");
    let header = Elf::parse_header(elf).map_err(bad)?;
    let ctx = Ctx::new(header.container().map_err(bad)?, header.endianness().map_err(bad)?);
    let shoff = usize::try_from(header.e_shoff).context("section header offset too large")?;
    let shdrs = SectionHeader::parse(elf, shoff, usize::from(header.e_shnum), ctx).map_err(bad)?;
    // With many sections, e_shstrndx is SHN_XINDEX and the index is in section 0's sh_link.
    let strndx = if u32::from(header.e_shstrndx) == SHN_XINDEX {
        shdrs.first().map_or(0, |s| s.sh_link as usize)
    } else {
        usize::from(header.e_shstrndx)
    };
    let names = shdrs
        .get(strndx)
        .and_then(|s| file_bytes(elf, s))
        .ok_or_else(|| anyhow!("malformed ELF file: section name table out of bounds"))?;
    for shdr in &shdrs {
        let Some(this) = names.get(shdr.sh_name..).and_then(|n| n.split(|&b| b == 0).next()) else {
            continue;
        };
        if this == name.as_bytes() {
            let data = file_bytes(elf, shdr)
                .ok_or_else(|| anyhow!("malformed ELF file: section {name} lies outside the file"))?;
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The bytes a section occupies in the file, or `None` if they are not all inside it.
fn file_bytes<'a>(elf: &'a [u8], shdr: &SectionHeader) -> Option<&'a [u8]> {
    let off = usize::try_from(shdr.sh_offset).ok()?;
    let len = usize::try_from(shdr.sh_size).ok()?;
    elf.get(off..)?.get(..len)
}

/// Returns the transitive dependency closure of every module in `modules`, each ordered so that
/// loading from the last to the first works: the reverse of the load order.
fn closures(modules: &[Module]) -> Result<Vec<Vec<&Module>>> {
    let position: HashMap<&str, usize> = modules.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    let mut result: Vec<Vec<&Module>> = Vec::with_capacity(modules.len());
    for (i, m) in modules.iter().enumerate() {
        let mut set = BTreeSet::new();
        for dep in &m.deps {
            let &d = position
                .get(dep.as_str())
                .ok_or_else(|| anyhow!("module {} depends on {dep}, which is not in the list", m.name))?;
            if d >= i {
                bail!("module {} comes before its dependency {dep}", m.name);
            }
            set.insert(d);
            // Closures of earlier modules are already complete.
            let sub = result.get(d).map(Vec::as_slice).unwrap_or_default();
            set.extend(sub.iter().filter_map(|s| position.get(s.name.as_str()).copied()));
        }
        result.push(set.into_iter().rev().filter_map(|d| modules.get(d)).collect());
    }
    Ok(result)
}

/// Writes depmod's `modules.dep` for `modules`, which must be in load order (as returned by
/// [`ModuleTree::resolve`]): one line per module with its whole dependency closure, ordered so
/// that loading the dependencies from last to first, then the module, works.
pub fn modules_dep(modules: &[Module]) -> Result<String> {
    let mut out = String::new();
    for (m, deps) in modules.iter().zip(closures(modules)?) {
        out.push_str(&m.path);
        out.push(':');
        for d in deps {
            out.push(' ');
            out.push_str(&d.path);
        }
        out.push('\n');
    }
    Ok(out)
}

/// Writes `modules.order`: the image paths of `modules`, one per line, in load order.
pub fn modules_order(modules: &[Module]) -> String {
    modules.iter().map(|m| format!("{}\n", m.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, deps: &[&str]) -> Module {
        Module {
            name: name.into(),
            source: format!("kernel/{name}.ko.xz"),
            path: format!("kernel/{name}.ko"),
            deps: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(split_file_name("virtio-gpu.ko"), Some(("virtio-gpu", Packing::Plain)));
        assert_eq!(split_file_name("a.ko.zst"), Some(("a", Packing::Zstd)));
        assert_eq!(split_file_name(".ko"), None);
        assert_eq!(split_file_name("a.ko.bz2"), None);
        assert_eq!(name_of("kernel/drivers/gpu/virtio-gpu.ko.xz").unwrap(), "virtio_gpu");
    }

    #[test]
    fn modules_dep_lists_closure_in_reverse_load_order() {
        // virtio_ring <- virtio <- virtio_blk, and virtio_pci on all three kinds.
        let mods = [
            module("virtio_ring", &[]),
            module("virtio", &["virtio_ring"]),
            module("virtio_blk", &["virtio", "virtio_ring"]),
            module("legacy", &[]),
            module("virtio_pci", &["virtio", "legacy"]),
        ];
        assert_eq!(
            modules_dep(&mods).unwrap(),
            "kernel/virtio_ring.ko:\n\
             kernel/virtio.ko: kernel/virtio_ring.ko\n\
             kernel/virtio_blk.ko: kernel/virtio.ko kernel/virtio_ring.ko\n\
             kernel/legacy.ko:\n\
             kernel/virtio_pci.ko: kernel/legacy.ko kernel/virtio.ko kernel/virtio_ring.ko\n"
        );
        assert_eq!(modules_order(&mods[..2]), "kernel/virtio_ring.ko\nkernel/virtio.ko\n");
    }

    #[test]
    fn modules_dep_rejects_bad_order() {
        let mods = [module("a", &["b"]), module("b", &[])];
        assert!(modules_dep(&mods).unwrap_err().to_string().contains("before"));
        let mods = [module("a", &["zz"])];
        assert!(modules_dep(&mods).unwrap_err().to_string().contains("zz"));
    }

    #[test]
    fn parses_modules_dep_text() {
        let d = parse_modules_dep(
            "kernel/a.ko: kernel/b.ko.xz /lib/modules/6.1/kernel/c.ko\n\nkernel/c.ko:\n",
            "6.1",
        )
        .unwrap();
        assert_eq!(d["kernel/a.ko"], ["kernel/b.ko.xz", "kernel/c.ko"]);
        assert!(d["kernel/c.ko"].is_empty());
        let err = parse_modules_dep("kernel/a.ko kernel/b.ko\n", "6.1").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(parse_modules_dep("/elsewhere/a.ko:\n", "6.1").is_err());
        assert!(parse_modules_dep("kernel/a.txt:\n", "6.1").is_err());
    }

    #[test]
    fn modules_alias_is_depmod_format() {
        let a = [
            ("virtio_blk".to_owned(), vec!["virtio:d00000002v*"]),
            ("sd_mod".to_owned(), vec!["scsi:t-0x00*", "block-major-8-*"]),
            ("virtio".to_owned(), vec![]),
        ];
        assert_eq!(
            modules_alias(&a),
            "# Aliases extracted from modules themselves.\n\
             alias virtio:d00000002v* virtio_blk\n\
             alias scsi:t-0x00* sd_mod\n\
             alias block-major-8-* sd_mod\n"
        );
    }

    #[test]
    fn non_elf_input_is_an_error() {
        for bad in [&b""[..], b"\x7fELF", b"hello world, not an elf file at all........"] {
            assert!(modinfo(bad).is_err());
        }
    }
}
