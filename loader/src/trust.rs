//! Signatures (issue 14): minisign public keys and detached signatures,
//! verified over bytes in memory. What is signed is a boot manifest
//! ([`manifest`]): the SHA-256 of every kernel and initrd that may boot and
//! the exact command line each gets. [`policy`] decides, before kexec, on the
//! bytes handed to it; [`sign`] makes keys and manifests for `hopboot sign`.
//! docs/trust.md has the design and the threat model.
//!
//! The cryptography is the `minisign-verify` crate (by minisign's author, no
//! dependencies): Ed25519 over the BLAKE2b-512 of the file (`ED`, the default
//! of minisign 0.11, Debian 12's) or over the file itself (`Ed`, `minisign
//! -l`), and the global signature over the signature and its trusted comment.
//! Here: several keys (rotation: any trusted key may sign), the signer's key
//! id in errors as minisign prints it, and bounds on what is read.
//!
//! Formats (minisign's): a public key file is an `untrusted comment:` line and
//! a base64 line of 42 bytes (`Ed`, 8-byte key id, 32-byte key); a signature
//! file is an untrusted comment, base64 of 74 bytes (algorithm, key id,
//! 64-byte signature), a `trusted comment:` line, and base64 of the 64-byte
//! global signature.

pub mod manifest;
pub mod policy;
pub mod sign;

use minisign_verify::{PublicKey, Signature};

/// A signature file longer than this is not one (they are about 300 bytes).
pub const MAX_SIGNATURE: usize = 4096;
/// At most this many trusted keys.
pub const MAX_KEYS: usize = 64;

/// What went wrong, in words for the menu.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A key file that is not one.
    #[error("{source_name}: not a minisign public key ({why})")]
    BadKey {
        /// Where it came from.
        source_name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A signature file that is not one.
    #[error("not a minisign signature ({0})")]
    BadSignature(&'static str),
    /// Signed, but by a key not trusted here.
    #[error("signed by key {0}, which is not trusted")]
    UnknownKey(String),
    /// The bytes or the trusted comment are not what was signed.
    #[error("the signature by key {0} does not match: the file or its trusted comment was changed")]
    Mismatch(String),
    /// No keys at all.
    #[error("no trusted keys")]
    NoKeys,
}

/// A key id as minisign prints it: the 8 bytes as a little-endian number
/// in upper-case hex (`3D2AA4A3E0F84A1F`), without leading zeros, as minisign's
/// `%PRIX64` prints it (one key in sixteen has a 15-digit id).
pub fn key_id_text(id: [u8; 8]) -> String {
    format!("{:X}", u64::from_le_bytes(id))
}

/// Encodes standard base64 with `=` padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(v >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (with `=` padding, no line breaks); `None` for
/// anything else.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().as_bytes();
    if !t.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (n, q) in t.chunks_exact(4).enumerate() {
        let last = n + 1 == t.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut v = 0u32;
        for &c in &q[..4 - pad] {
            v = (v << 6) | val(c)?;
        }
        v <<= 6 * pad as u32;
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// The key id inside a signature file's second line.
fn signature_key_id(sig_text: &str) -> Option<[u8; 8]> {
    let line = sig_text.lines().nth(1)?;
    let bin = base64_decode(line)?;
    bin.get(2..10)?.try_into().ok()
}

/// One trusted key.
#[derive(Debug, Clone)]
pub struct Key {
    /// As minisign prints it.
    pub id: String,
    key: PublicKey,
}

/// The trusted keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<Key>,
}

/// Who signed what was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key's id.
    pub key_id: String,
    /// The signed (trusted) comment.
    pub trusted_comment: String,
}

impl Keyring {
    /// Reads keys from minisign public key files (`text`, from
    /// `source_name`): each `RW…` line is a key; the comment lines are
    /// skipped; a file may hold several keys.
    pub fn add(&mut self, text: &str, source_name: &str) -> Result<usize, TrustError> {
        let bad = |why| TrustError::BadKey {
            source_name: source_name.to_string(),
            why,
        };
        let mut added = 0;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with("untrusted comment:") {
                continue;
            }
            let bin = base64_decode(line).ok_or_else(|| bad("a line is not base64"))?;
            if bin.len() != 42 || bin.get(..2) != Some(b"Ed".as_slice()) {
                return Err(bad("not a 42-byte Ed25519 key"));
            }
            let key = PublicKey::from_base64(line).map_err(|_| bad("the key does not decode"))?;
            let id: [u8; 8] = bin
                .get(2..10)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("no key id"))?;
            if self.keys.len() >= MAX_KEYS {
                return Err(bad("more than 64 keys"));
            }
            self.keys.push(Key {
                id: key_id_text(id),
                key,
            });
            added += 1;
        }
        if added == 0 {
            return Err(bad("no key in it"));
        }
        Ok(added)
    }

    /// The keys, in the order they were added.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Checks the detached signature `sig_text` (a `.minisig` file) over
    /// `data` with the key that made it.
    pub fn verify(&self, data: &[u8], sig_text: &str) -> Result<Verified, TrustError> {
        if self.keys.is_empty() {
            return Err(TrustError::NoKeys);
        }
        if sig_text.len() > MAX_SIGNATURE {
            return Err(TrustError::BadSignature("longer than 4 KiB"));
        }
        let id = signature_key_id(sig_text).ok_or(TrustError::BadSignature("no key id on its second line"))?;
        let sig = Signature::decode(sig_text).map_err(|_| TrustError::BadSignature("it does not decode"))?;
        let id = key_id_text(id);
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| TrustError::UnknownKey(id.clone()))?;
        // Both algorithms are Ed25519 over the whole file; `Ed` (legacy)
        // only skips the prehash.
        key.key
            .verify(data, &sig, true)
            .map_err(|_| TrustError::Mismatch(id.clone()))?;
        Ok(Verified {
            key_id: id,
            trusted_comment: sig
                .trusted_comment()
                .trim_start_matches("trusted comment:")
                .trim()
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with Debian 12's minisign 0.11 (`minisign -G -W`, `-S`, `-S -l`):
    /// loader/testdata/minisign.
    fn file(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/minisign/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }
    fn text(name: &str) -> String {
        String::from_utf8(file(name)).unwrap()
    }
    fn ring(keys: &[&str]) -> Keyring {
        let mut r = Keyring::default();
        for k in keys {
            r.add(&text(k), k).unwrap();
        }
        r
    }

    #[test]
    fn base64_decodes_and_refuses() {
        use super::base64_decode as base64;
        for n in 0..70u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"hello!"), "aGVsbG8h");
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64("").unwrap(), b"");
        assert_eq!(base64("aGk"), None);
        assert_eq!(base64("a=Gk"), None);
        assert_eq!(base64("aG==aGk="), None);
        assert_eq!(base64("a==="), None);
        assert_eq!(base64("aGk*"), None);
    }

    #[test]
    fn key_ids_are_printed_as_minisign_prints_them() {
        // minisign 0.11 printed "minisign public key 919D69DBBE89D05" for this key number.
        assert_eq!(key_id_text(0x0919_D69D_BBE8_9D05u64.to_le_bytes()), "919D69DBBE89D05");
        assert_eq!(key_id_text([0; 8]), "0");
    }

    #[test]
    fn a_prehashed_signature_from_minisign_verifies() {
        let r = ring(&["key1.pub"]);
        assert_eq!(r.keys()[0].id, "3D2AA4A3E0F84A1F");
        let v = r.verify(&file("kernel.bin"), &text("kernel.bin.minisig")).unwrap();
        assert_eq!(v.key_id, "3D2AA4A3E0F84A1F");
        assert_eq!(v.trusted_comment, "hopboot test kernel");
    }

    #[test]
    fn a_legacy_signature_verifies() {
        let r = ring(&["key1.pub", "key2.pub"]);
        let v = r
            .verify(&file("cmdline.txt"), &text("cmdline.txt.legacy.minisig"))
            .unwrap();
        assert_eq!(v.trusted_comment, "legacy");
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let r = ring(&["key1.pub"]);
        let data = file("kernel.bin");
        let sig = text("kernel.bin.minisig");
        for i in (0..data.len()).step_by(97).chain([0, data.len() - 1]) {
            let mut d = data.clone();
            d[i] ^= 0x10;
            assert_eq!(
                r.verify(&d, &sig),
                Err(TrustError::Mismatch("3D2AA4A3E0F84A1F".into())),
                "byte {i}"
            );
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(r.verify(&longer, &sig).is_err());
        assert!(r.verify(&data[..data.len() - 1], &sig).is_err());
    }

    #[test]
    fn a_changed_trusted_comment_is_refused() {
        let r = ring(&["key1.pub"]);
        let sig = text("kernel.bin.minisig").replace("hopboot test kernel", "hopboot test kernel!");
        assert_eq!(
            r.verify(&file("kernel.bin"), &sig),
            Err(TrustError::Mismatch("3D2AA4A3E0F84A1F".into()))
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let r = ring(&["key2.pub"]);
        assert_eq!(
            r.verify(&file("kernel.bin"), &text("kernel.bin.minisig")),
            Err(TrustError::UnknownKey("3D2AA4A3E0F84A1F".into()))
        );
        assert_eq!(
            Keyring::default().verify(b"", &text("kernel.bin.minisig")),
            Err(TrustError::NoKeys)
        );
    }

    #[test]
    fn garbage_keys_and_signatures_are_errors() {
        let mut r = Keyring::default();
        for (k, why) in [
            ("", "no key in it"),
            ("untrusted comment: x\n", "no key in it"),
            ("untrusted comment: x\nnot base64!\n", "a line is not base64"),
            ("aGVsbG8h\n", "not a 42-byte Ed25519 key"),
        ] {
            assert_eq!(
                r.add(k, "k.pub"),
                Err(TrustError::BadKey {
                    source_name: "k.pub".into(),
                    why
                })
            );
        }
        r.add(&text("key1.pub"), "key1.pub").unwrap();
        let data = file("kernel.bin");
        let sig = text("kernel.bin.minisig");
        let lines: Vec<&str> = sig.lines().collect();
        for bad in [
            String::new(),
            lines[..2].join("\n"),
            lines[..3].join("\n"),
            format!("{}\n{}x\n{}\n{}", lines[0], lines[1], lines[2], lines[3]),
            "x".repeat(MAX_SIGNATURE + 1),
            format!("{}\n{}\n{}\n{}", lines[0], &lines[1][..40], lines[2], lines[3]),
        ] {
            assert!(
                matches!(r.verify(&data, &bad), Err(TrustError::BadSignature(_))),
                "{bad:?}: {:?}",
                r.verify(&data, &bad)
            );
        }
    }
}
