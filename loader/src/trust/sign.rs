//! Signing for `hopboot sign`: Ed25519 keys and minisign-format signatures
//! (the `ed25519-compact` crate does the cryptography).
//!
//! - The public key is minisign's format (`minisign -V -p KEY.pub` takes it).
//! - The secret key is hopboot's own small format: minisign's secret key
//!   files are encrypted with scrypt and checksummed with BLAKE2b, which
//!   hopboot would have to carry for that alone. Users who want minisign's
//!   key handling sign the manifest with `minisign -S` instead (docs/trust.md).
//! - Signatures are minisign's legacy `Ed` kind (Ed25519 over the file, not
//!   over its BLAKE2b hash): `minisign -V` accepts them unless told `-H`, and
//!   a manifest is small.

use super::{base64_decode, base64_encode, key_id_text};
use ed25519_compact::{KeyPair, Noise, Seed};

/// The first line of a hopboot secret key file.
pub const SECRET_HEADER: &str = "untrusted comment: hopboot secret key: keep it off the machines it protects";

/// A signing key.
pub struct SigningKey {
    id: [u8; 8],
    pair: KeyPair,
}

/// Why a key or a signature could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A secret key file that is not one.
    #[error("not a hopboot secret key ({0})")]
    BadSecret(&'static str),
    /// The system's random source failed.
    #[error("cannot read random bytes: {0}")]
    Random(std::io::Error),
}

fn random<const N: usize>() -> Result<[u8; N], SignError> {
    use std::io::Read;
    let mut b = [0u8; N];
    // getrandom(2) through the kernel's pool: /dev/urandom blocks nothing
    // once the pool is initialised, and `hopboot sign` runs on a live system.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(SignError::Random)?;
    Ok(b)
}

impl SigningKey {
    /// A new key, from the kernel's random source.
    pub fn generate() -> Result<SigningKey, SignError> {
        loop {
            let id = random::<8>()?;
            if let Ok(pair) = KeyPair::try_from_seed(Seed::new(random::<32>()?)) {
                return Ok(SigningKey { id, pair });
            }
        }
    }

    /// The key id, as minisign prints it.
    pub fn id(&self) -> String {
        key_id_text(self.id)
    }

    /// The secret key file's text.
    pub fn secret_text(&self) -> String {
        let mut bin = b"Ed".to_vec();
        bin.extend_from_slice(&self.id);
        bin.extend_from_slice(self.pair.sk.seed().as_ref());
        format!("{SECRET_HEADER}\n{}\n", base64_encode(&bin))
    }

    /// Reads a secret key file written by [`SigningKey::secret_text`].
    pub fn from_secret_text(text: &str) -> Result<SigningKey, SignError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(SECRET_HEADER) {
            return Err(SignError::BadSecret("its first line is not hopboot's"));
        }
        let bin = lines
            .next()
            .and_then(base64_decode)
            .ok_or(SignError::BadSecret("no base64 key line"))?;
        if bin.len() != 42 || bin.get(..2) != Some(b"Ed".as_slice()) {
            return Err(SignError::BadSecret("not a 42-byte Ed25519 key"));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bin[2..10]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bin[10..42]);
        let pair = KeyPair::try_from_seed(Seed::new(seed)).map_err(|_| SignError::BadSecret("an all-zero key"))?;
        Ok(SigningKey { id, pair })
    }

    /// The public key file's text (minisign's format).
    pub fn public_text(&self) -> String {
        let mut bin = b"Ed".to_vec();
        bin.extend_from_slice(&self.id);
        bin.extend_from_slice(self.pair.pk.as_ref());
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.id(),
            base64_encode(&bin)
        )
    }

    /// A minisign signature file over `data`, with `trusted_comment` signed too.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SignError> {
        let trusted_comment = trusted_comment.replace(['\n', '\r'], " ");
        let noise = || random::<16>().map(Noise::new);
        let sig = self.pair.sk.sign(data, Some(noise()?));
        let mut line = b"Ed".to_vec();
        line.extend_from_slice(&self.id);
        line.extend_from_slice(sig.as_ref());
        let mut global = sig.as_ref().to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let global = self.pair.sk.sign(&global, Some(noise()?));
        Ok(format!(
            "untrusted comment: signature from hopboot secret key {}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
            self.id(),
            base64_encode(&line),
            base64_encode(global.as_ref())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Keyring, TrustError};
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_nothing_else() {
        let k = SigningKey::generate().unwrap();
        let again = SigningKey::from_secret_text(&k.secret_text()).unwrap();
        assert_eq!(again.public_text(), k.public_text());
        let mut ring = Keyring::default();
        ring.add(&k.public_text(), "test").unwrap();
        assert_eq!(ring.keys()[0].id, k.id());
        let sig = again.sign(b"manifest", "made\nby a test").unwrap();
        let v = ring.verify(b"manifest", &sig).unwrap();
        assert_eq!(v.trusted_comment, "made by a test");
        assert_eq!(ring.verify(b"manifesT", &sig), Err(TrustError::Mismatch(k.id())));
        let other = SigningKey::generate().unwrap();
        let mut ring2 = Keyring::default();
        ring2.add(&other.public_text(), "other").unwrap();
        assert_eq!(ring2.verify(b"manifest", &sig), Err(TrustError::UnknownKey(k.id())));
    }

    #[test]
    fn garbage_secret_keys_are_errors() {
        for t in [
            "",
            "untrusted comment: minisign encrypted secret key\nRWRTY0Iy\n",
            &format!("{SECRET_HEADER}\n"),
            &format!("{SECRET_HEADER}\n!!!!\n"),
            &format!("{SECRET_HEADER}\nRWQ=\n"),
            &format!(
                "{SECRET_HEADER}\n{}\n",
                base64_encode(&[&b"ED"[..], &[7u8; 40]].concat())
            ),
            &format!(
                "{SECRET_HEADER}\n{}\n",
                base64_encode(&[&b"Ed"[..], &[0u8; 40]].concat())
            ),
        ] {
            assert!(SigningKey::from_secret_text(t).is_err(), "{t:?}");
        }
    }
}
