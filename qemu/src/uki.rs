//! Unified Kernel Images for tests, built the way `ukify` does: systemd's EFI
//! stub with sections added by `objcopy`, each placed in memory above the
//! stub's own sections (64 KiB aligned).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// Where Debian's systemd-boot-efi package puts systemd's EFI stub.
const STUB_PATH: &str = "usr/lib/systemd/boot/efi/linuxx64.efi.stub";

/// systemd's EFI stub, the first that exists (as `scripts/efi-stub.sh` looks):
/// `$HOPBOOT_EFI_STUB`; `target/efi-stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub`,
/// unpacked from Debian's systemd-boot-efi .deb by `scripts/install-deps.sh` (the
/// package is not installed: it used to drag the host's systemd along); the installed
/// package's `/usr/lib/systemd/boot/efi/linuxx64.efi.stub`.
pub fn efi_stub() -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("HOPBOOT_EFI_STUB").filter(|p| !p.is_empty()) {
        tried.push(PathBuf::from(p));
    }
    tried.push(crate::paths::target_dir()?.join("efi-stub").join(STUB_PATH));
    tried.push(Path::new("/").join(STUB_PATH));
    if let Some(p) = tried.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    let shown: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    anyhow::bail!(
        "systemd's EFI stub is missing (looked at {}): run scripts/efi-stub.sh --fetch or scripts/install-deps.sh",
        shown.join(", ")
    )
}

/// Builds the UKI `out`: [`efi_stub`] plus `sections` (name, file with the
/// contents) in order. A large file (the kernel) is not read into memory.
pub fn build(out: &Path, sections: &[(&str, PathBuf)]) -> Result<()> {
    let stub_path = efi_stub()?;
    let stub = std::fs::read(&stub_path).with_context(|| format!("reading {}", stub_path.display()))?;
    let mut vma = free_vma(&stub).with_context(|| format!("{}: not a PE image", stub_path.display()))?;
    let mut cmd = Command::new("objcopy");
    for (name, path) in sections {
        let len = std::fs::metadata(path)
            .with_context(|| format!("section {name}: {}", path.display()))?
            .len();
        cmd.arg("--add-section").arg(format!("{name}={}", path.display()));
        cmd.arg("--change-section-vma").arg(format!("{name}={vma:#x}"));
        vma += align64k(len.max(1));
    }
    crate::cmd::run(cmd.arg(&stub_path).arg(out))?;
    Ok(())
}

/// Like [`build`], with the sections' contents in memory (written to a
/// scratch directory beside `out` first).
pub fn build_from_bytes(out: &Path, sections: &[(&str, &[u8])]) -> Result<()> {
    let scratch = crate::tmp::TempDir::beside(out, "sections")?;
    let mut files = Vec::new();
    for (i, (name, data)) in sections.iter().enumerate() {
        let f = scratch.path().join(format!("{i}"));
        std::fs::write(&f, data).with_context(|| format!("writing {}", f.display()))?;
        files.push((*name, f));
    }
    build(out, &files)
}

fn align64k(n: u64) -> u64 {
    (n + 0xffff) & !0xffff
}

/// The first free address above the stub's sections: image base plus the end
/// of the highest section (virtual or raw size, whichever is larger).
fn free_vma(pe: &[u8]) -> Option<u64> {
    let bytes = |o: usize, n: usize| pe.get(o..o + n);
    let le16 = |o: usize| bytes(o, 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let le32 = |o: usize| bytes(o, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let at = le32(0x3c)? as usize;
    if bytes(at, 4)? != b"PE\0\0" {
        return None;
    }
    let image_base = u64::from_le_bytes(bytes(at + 48, 8)?.try_into().ok()?);
    let table = at + 24 + le16(at + 20)?;
    let mut end = 0u64;
    for i in 0..le16(at + 6)? {
        let s = table + i * 40;
        end = end.max(u64::from(le32(s + 12)?) + u64::from(le32(s + 8)?.max(le32(s + 16)?)));
    }
    (end > 0).then(|| align64k(image_base + end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_land_above_the_stub_and_keep_their_bytes() {
        let d = crate::tmp::TempDir::beside(&std::env::temp_dir().join("uki-test"), "t").unwrap();
        let out = d.path().join("t.efi");
        build_from_bytes(&out, &[(".osrel", b"ID=t\n"), (".linux", &[0xab; 5000])]).unwrap();
        let uki = std::fs::read(&out).unwrap();
        let stub = std::fs::read(efi_stub().unwrap()).unwrap();
        assert!(free_vma(&uki).unwrap() > free_vma(&stub).unwrap());
        assert!(uki.windows(5000).any(|w| w.iter().all(|b| *b == 0xab)));
        assert_eq!(free_vma(b"MZ not a PE"), None);
    }
}
