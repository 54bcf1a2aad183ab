//! Kernel modules shipped in the initramfs: `modules.dep` says what each
//! needs, and everything listed is loaded dependencies-first with
//! finit_module(2).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Parses depmod's `modules.dep`: `path: dep dep…` per line. Returns
/// (module path, its dependency paths) in file order.
pub fn parse_dep(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| {
            (
                m.trim().to_string(),
                deps.split_whitespace().map(str::to_string).collect(),
            )
        })
        .filter(|(m, _)| !m.is_empty())
        .collect()
}

/// Orders modules so that each comes after all its dependencies (depmod
/// lists every transitive dependency; order among them does not matter once
/// we sort). Cycles are broken rather than looped on.
pub fn load_order(dep: &[(String, Vec<String>)]) -> Vec<String> {
    let map: HashMap<&str, &[String]> = dep.iter().map(|(m, d)| (m.as_str(), d.as_slice())).collect();
    let mut done: HashSet<&str> = HashSet::new();
    let mut visiting: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    fn visit<'a>(
        m: &'a str,
        map: &HashMap<&'a str, &'a [String]>,
        done: &mut HashSet<&'a str>,
        visiting: &mut HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if done.contains(m) || !visiting.insert(m) {
            return;
        }
        for d in map.get(m).copied().unwrap_or(&[]) {
            visit(d, map, done, visiting, out);
        }
        visiting.remove(m);
        done.insert(m);
        out.push(m.to_string());
    }
    for (m, _) in dep {
        visit(m, &map, &mut done, &mut visiting, &mut out);
    }
    out
}

/// The module directory for the running kernel: `/lib/modules/$(uname -r)`,
/// or the only directory there when the image was built for another name.
pub fn module_dir(root: &Path) -> Option<PathBuf> {
    let release = nix::sys::utsname::uname()
        .ok()
        .map(|u| u.release().to_string_lossy().into_owned());
    let base = root.join("lib/modules");
    if let Some(r) = release {
        let d = base.join(r);
        if d.join("modules.dep").is_file() {
            return Some(d);
        }
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("modules.dep").is_file())
        .collect();
    match dirs.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Result of loading the shipped modules.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Modules newly loaded.
    pub loaded: Vec<String>,
    /// Already present (built in or loaded before).
    pub present: Vec<String>,
    /// Modules that failed, with why.
    pub failed: Vec<(String, String)>,
}

/// Loads every module listed in `dir/modules.dep`, dependencies first.
pub fn load_all(dir: &Path) -> Result<LoadReport, std::io::Error> {
    let text = std::fs::read_to_string(dir.join("modules.dep"))?;
    let order = load_order(&parse_dep(&text));
    let mut report = LoadReport::default();
    for m in order {
        let name = Path::new(&m)
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".ko").to_string())
            .unwrap_or_else(|| m.clone());
        match load_one(&dir.join(&m)) {
            Ok(true) => report.loaded.push(name),
            Ok(false) => report.present.push(name),
            Err(e) => report.failed.push((name, e)),
        }
    }
    Ok(report)
}

/// Loads one module file; `Ok(false)` when it was already loaded.
fn load_one(path: &Path) -> Result<bool, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty()) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EEXIST) => Ok(false),
        Err(e) => Err(format!("{}: finit_module: {}", path.display(), e.desc())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_come_first() {
        let dep = parse_dep(
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
             kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n\
             kernel/drivers/virtio/virtio.ko:\n\
             garbage line\n",
        );
        let order = load_order(&dep);
        let pos = |m: &str| order.iter().position(|x| x.ends_with(m)).unwrap();
        assert_eq!(order.len(), 3);
        assert!(pos("/virtio.ko") < pos("virtio_ring.ko"));
        assert!(pos("virtio_ring.ko") < pos("virtio_blk.ko"));
    }

    #[test]
    fn cycles_terminate() {
        let order = load_order(&parse_dep("a.ko: b.ko\nb.ko: a.ko\n"));
        assert_eq!(order.len(), 2);
    }
}
