//! Signatures made now by the minisign tool on this machine (Debian's
//! package) verify with hopboot's keyring; two keys (rotation) each verify
//! their own; a changed byte is refused. Without `minisign` the tests say so
//! and pass without checking (`apt-get install minisign`).

use hopboot_loader::trust::{Keyring, TrustError};
use std::process::Command;

fn minisign() -> bool {
    Command::new("minisign")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A key pair made with `minisign -G -W` (no password) in `dir`; the public
/// key file's text.
fn keypair(dir: &std::path::Path, name: &str) -> String {
    let st = Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(dir.join(format!("{name}.pub")))
        .arg("-s")
        .arg(dir.join(format!("{name}.sec")))
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap()
}

/// `minisign -S` (`legacy`: `-l`) of `file` with key `name`; the signature's text.
fn sign(dir: &std::path::Path, name: &str, file: &std::path::Path, legacy: bool) -> String {
    let mut c = Command::new("minisign");
    c.arg("-S");
    if legacy {
        c.arg("-l");
    }
    let st = c
        .arg("-s")
        .arg(dir.join(format!("{name}.sec")))
        .arg("-m")
        .arg(file)
        .args(["-t", "signed for hopboot's test"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    std::fs::read_to_string(format!("{}.minisig", file.display())).unwrap()
}

#[test]
fn signatures_made_by_the_minisign_tool_verify() {
    if !minisign() {
        eprintln!("skipped: no minisign (apt-get install minisign)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old = keypair(dir.path(), "old");
    let new = keypair(dir.path(), "new");
    let mut ring = Keyring::default();
    ring.add(&format!("{old}{new}"), "both.pub").unwrap();
    assert_eq!(ring.keys().len(), 2);
    // A 1 MiB "kernel" and a "command line".
    let kernel = dir.path().join("vmlinuz");
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&kernel, &data).unwrap();
    let by_old = sign(dir.path(), "old", &kernel, false);
    let v = ring.verify(&data, &by_old).unwrap();
    assert_eq!(v.key_id, ring.keys()[0].id);
    assert_eq!(v.trusted_comment, "signed for hopboot's test");
    // The id in the public key file's comment is the one hopboot names.
    assert!(old.contains(&v.key_id), "{old}");
    let by_new_legacy = sign(dir.path(), "new", &kernel, true);
    assert_eq!(ring.verify(&data, &by_new_legacy).unwrap().key_id, ring.keys()[1].id);
    let mut changed = data.clone();
    changed[512 * 1024] ^= 1;
    assert!(matches!(ring.verify(&changed, &by_old), Err(TrustError::Mismatch(_))));
    assert!(matches!(
        ring.verify(&changed, &by_new_legacy),
        Err(TrustError::Mismatch(_))
    ));
    // Only the new key trusted (the old one retired): the old signature is refused.
    let mut only_new = Keyring::default();
    only_new.add(&new, "new.pub").unwrap();
    assert!(matches!(
        only_new.verify(&data, &by_old),
        Err(TrustError::UnknownKey(_))
    ));
}

/// What `hopboot sign` makes (its public key, a signature over a manifest)
/// verifies with the minisign tool; a changed byte or comment does not.
#[test]
fn the_minisign_tool_verifies_what_hopboot_signs() {
    if !minisign() {
        eprintln!("skipped: no minisign (apt-get install minisign)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = hopboot_loader::trust::sign::SigningKey::generate().unwrap();
    let file = dir.path().join("hopboot.manifest");
    std::fs::write(&file, "hopboot-manifest 1\n").unwrap();
    std::fs::write(dir.path().join("k.pub"), key.public_text()).unwrap();
    let sig = key.sign(b"hopboot-manifest 1\n", "signed by hopboot's test").unwrap();
    std::fs::write(dir.path().join("hopboot.manifest.minisig"), &sig).unwrap();
    let verify = || {
        Command::new("minisign")
            .arg("-V")
            .arg("-p")
            .arg(dir.path().join("k.pub"))
            .arg("-m")
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Trusted comment: signed by hopboot's test"));
    std::fs::write(&file, "hopboot-manifest 2\n").unwrap();
    assert!(!verify().status.success());
    std::fs::write(&file, "hopboot-manifest 1\n").unwrap();
    let forged = sig.replace("hopboot's test", "someone else");
    std::fs::write(dir.path().join("hopboot.manifest.minisig"), forged).unwrap();
    assert!(!verify().status.success());
}
