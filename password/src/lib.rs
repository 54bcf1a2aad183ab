//! hopboot's menu password (docs/trust.md "Menu lock"): a salted, slow hash made when the image is
//! built (`hopboot-image-build --hash-password`), checked by PID 1 before the command-line
//! editor, the rescue shell or an unsigned entry.
//!
//! The KDF is PBKDF2-HMAC-SHA256 (RFC 8018 §5.2; NIST SP 800-132), chosen over scrypt and
//! Argon2 because it adds the fewest bytes to the static hopboot binary (measured: README).
//! It is stored as a PHC string (the format of the Password Hashing Competition, as Python's
//! passlib and RustCrypto write PBKDF2):
//!
//! ```text
//! $pbkdf2-sha256$i=600000$<salt>$<hash>
//! ```
//!
//! with the salt and the hash in base64 without padding (standard alphabet). Everything needed
//! to check a password is in the string; nothing in it gives the password back.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use subtle::ConstantTimeEq;

/// The algorithm's name in the PHC string.
pub const ALGORITHM: &str = "pbkdf2-sha256";
/// The default number of iterations: OWASP's figure for PBKDF2-HMAC-SHA256 (2023), about
/// 0.3 s on a 2020s x86 core (docs/trust.md "Menu lock" has the measurements).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewer iterations than this are refused (RFC 8018 §4.2 asks for at least 1,000).
pub const MIN_ITERATIONS: u32 = 1_000;
/// More than this would take minutes per try: a damaged string, not a choice.
pub const MAX_ITERATIONS: u32 = 100_000_000;
/// Bytes of salt [`Stored::new`] callers should use (128 bits, NIST SP 800-132 §5.1).
pub const SALT_LEN: usize = 16;
/// Bytes of derived key written (SHA-256's output: more would only cost the defender).
pub const HASH_LEN: usize = 32;
/// Salts shorter or longer than these are refused.
const SALT_RANGE: std::ops::RangeInclusive<usize> = 8..=64;
/// Hashes shorter or longer than these are refused.
const HASH_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

/// Why a string is not a password hash hopboot can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not `$ALG$PARAMS$SALT$HASH`.
    #[error("not a password hash (expected $pbkdf2-sha256$i=N$SALT$HASH)")]
    Shape,
    /// Another algorithm.
    #[error("unsupported algorithm {0:?} (only pbkdf2-sha256)")]
    Algorithm(String),
    /// The parameters are not exactly `i=N`.
    #[error("bad parameters {0:?} (expected i=N)")]
    Params(String),
    /// Too few or too many iterations.
    #[error("{0} iterations is out of range ({MIN_ITERATIONS}-{MAX_ITERATIONS})")]
    Iterations(u32),
    /// A field is not base64 (standard alphabet, no padding).
    #[error("the {0} is not base64")]
    Base64(&'static str),
    /// The salt is too short or too long.
    #[error("a {0}-byte salt is out of range (8-64)")]
    SaltLength(usize),
    /// The hash is too short or too long.
    #[error("a {0}-byte hash is out of range (16-64)")]
    HashLength(usize),
}

/// A stored password hash: PBKDF2-HMAC-SHA256 with its iterations and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Its string holds nothing secret, but a log has no use for the hash either.
        write!(
            f,
            "Stored({ALGORITHM}, i={}, {}-byte salt)",
            self.iterations,
            self.salt.len()
        )
    }
}

impl Stored {
    /// Hashes `password` with `salt` (random, [`SALT_LEN`] bytes) and `iterations`.
    pub fn new(password: &[u8], salt: &[u8], iterations: u32) -> Result<Stored, FormatError> {
        check(iterations, salt.len(), HASH_LEN)?;
        let mut hash = vec![0; HASH_LEN];
        derive(password, salt, iterations, &mut hash);
        Ok(Stored {
            iterations,
            salt: salt.to_vec(),
            hash,
        })
    }

    /// Reads a PHC string (surrounding whitespace, a file's newline, is ignored).
    pub fn parse(s: &str) -> Result<Stored, FormatError> {
        let mut fields = s.trim().split('$');
        // The string starts with '$': an empty first field.
        if fields.next() != Some("") {
            return Err(FormatError::Shape);
        }
        let (Some(alg), Some(params), Some(salt), Some(hash), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(FormatError::Shape);
        };
        if alg != ALGORITHM {
            return Err(FormatError::Algorithm(alg.chars().take(40).collect()));
        }
        let bad_params = || FormatError::Params(params.chars().take(40).collect());
        let digits = params.strip_prefix("i=").ok_or_else(bad_params)?;
        // Canonical decimal only (PHC: no sign, no leading zero): one string per value.
        if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_params());
        }
        let iterations = digits.parse::<u32>().map_err(|_| bad_params())?;
        let salt = b64_decode(salt).ok_or(FormatError::Base64("salt"))?;
        let hash = b64_decode(hash).ok_or(FormatError::Base64("hash"))?;
        check(iterations, salt.len(), hash.len())?;
        Ok(Stored { iterations, salt, hash })
    }

    /// Whether `password` is the one hashed: the whole KDF runs whatever the answer, and the
    /// hashes are compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let mut derived = vec![0; self.hash.len()];
        derive(password, &self.salt, self.iterations, &mut derived);
        derived.ct_eq(&self.hash).into()
    }

    /// The number of iterations (what a check costs).
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl fmt::Display for Stored {
    /// The PHC string, as [`Stored::parse`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "${ALGORITHM}$i={}${}${}",
            self.iterations,
            b64_encode(&self.salt),
            b64_encode(&self.hash)
        )
    }
}

fn check(iterations: u32, salt: usize, hash: usize) -> Result<(), FormatError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(FormatError::Iterations(iterations));
    }
    if !SALT_RANGE.contains(&salt) {
        return Err(FormatError::SaltLength(salt));
    }
    if !HASH_RANGE.contains(&hash) {
        return Err(FormatError::HashLength(hash));
    }
    Ok(())
}

fn derive(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out);
}

/// Reads `n` random bytes from /dev/urandom (for a salt).
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut b = vec![0; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64, standard alphabet, no padding (PHC's "B64").
fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // 2, 3 or 4 characters for 1, 2 or 3 bytes.
        for k in 0..=chunk.len() {
            let six = (n >> (18 - 6 * k)) & 0x3f;
            out.push(char::from(B64.get(six as usize).copied().unwrap_or(b'A')));
        }
    }
    out
}

/// Inverse of [`b64_encode`]; `None` for anything it would not have written (padding, other
/// characters, a dangling character, bits set past the last byte).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)?;
        acc = (acc << 6) | u32::try_from(v).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits: 0 (4n chars), 4 (4n+3) or 2 (4n+2); 6 means one dangling character.
    if bits >= 6 || acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914 §11's PBKDF2-HMAC-SHA256 test vector (P="passwd", S="salt", c=1, 64 bytes),
    /// first 32 bytes.
    #[test]
    fn derive_matches_rfc_7914() {
        let mut out = [0u8; 32];
        derive(b"passwd", b"salt", 1, &mut out);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn base64_round_trips_and_refuses_what_it_would_not_write() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let s = b64_encode(&data);
            assert!(!s.contains('='));
            assert_eq!(b64_decode(&s).as_deref(), Some(&data[..]), "{s}");
        }
        assert_eq!(b64_encode(b"hopboot"), "aG9wYm9vdA");
        assert_eq!(b64_decode("aG9wYm9vdA=="), None);
        assert_eq!(b64_decode("aG9wYm9vdB"), None, "trailing bits set");
        assert_eq!(b64_decode("aG9wY"), None, "a dangling character");
        assert_eq!(b64_decode("aG9w-m9v"), None);
    }

    const SALT: &[u8] = b"0123456789abcdef";

    #[test]
    fn a_hash_is_written_read_and_checked() {
        let s = Stored::new("correct horse ✓".as_bytes(), SALT, 1_000).unwrap();
        let text = s.to_string();
        assert!(
            text.starts_with("$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$"),
            "{text}"
        );
        let back = Stored::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.iterations(), 1_000);
        assert!(back.verify("correct horse ✓".as_bytes()));
        assert!(!back.verify(b"correct horse"));
        assert!(!back.verify(b""));
        assert!(!format!("{back:?}").contains(&text[30..]), "Debug shows the hash");
    }

    #[test]
    fn a_known_string_verifies() {
        // Made with Python: hashlib.pbkdf2_hmac('sha256', b'hopboot', b'0123456789abcdef', 1000)
        // (the same function passlib and RustCrypto store as $pbkdf2-sha256$).
        let s = Stored::new(b"hopboot", SALT, 1_000).unwrap();
        let hex: String = s.hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PY_HOPBOOT_1000);
    }
    const PY_HOPBOOT_1000: &str = "3081861a3d6bc5cd5bb3aa92a813901fa8c0cb36d91802dad2d81440b79338a2";

    #[test]
    fn tampered_parameters_or_salt_do_not_verify() {
        let text = Stored::new(b"secret", SALT, 1_000).unwrap().to_string();
        let more = text.replace("i=1000", "i=1001");
        assert!(!Stored::parse(&more).unwrap().verify(b"secret"));
        let salt = text.replace("MDEyMzQ1Njc4OWFiY2RlZg", "MDEyMzQ1Njc4OWFiY2RlZw");
        assert!(!Stored::parse(&salt).unwrap().verify(b"secret"));
        // One character of the hash changed.
        let mut h = text.clone().into_bytes();
        let last = h.len() - 2;
        h[last] = if h[last] == b'A' { b'B' } else { b'A' };
        let h = String::from_utf8(h).unwrap();
        assert!(!Stored::parse(&h).map(|s| s.verify(b"secret")).unwrap_or(false));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = Stored::new(b"x", SALT, 1_000).unwrap().to_string();
        let cases: &[(&str, FormatError)] = &[
            ("", FormatError::Shape),
            ("hunter2", FormatError::Shape),
            ("$", FormatError::Shape),
            ("$$$$", FormatError::Algorithm(String::new())),
            ("$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg", FormatError::Shape),
            (&format!("{good}$x"), FormatError::Shape),
            (
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                FormatError::Shape,
            ),
            (
                "$argon2id$m=19456$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                FormatError::Algorithm("argon2id".into()),
            ),
            (
                "$pbkdf2-sha256$i=999$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Iterations(999),
            ),
            (
                "$pbkdf2-sha256$i=0$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("i=0".into()),
            ),
            (
                "$pbkdf2-sha256$i=01000$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("i=01000".into()),
            ),
            (
                "$pbkdf2-sha256$i=+1000$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("i=+1000".into()),
            ),
            (
                "$pbkdf2-sha256$i=99999999999$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("i=99999999999".into()),
            ),
            (
                "$pbkdf2-sha256$i=200000000$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Iterations(200_000_000),
            ),
            (
                "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("i=1000,l=32".into()),
            ),
            (
                "$pbkdf2-sha256$rounds=1000$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Params("rounds=1000".into()),
            ),
            (
                "$pbkdf2-sha256$i=1000$MDEy*zQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::Base64("salt"),
            ),
            (
                "$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg==",
                FormatError::Base64("hash"),
            ),
            (
                "$pbkdf2-sha256$i=1000$MDEy$MDEyMzQ1Njc4OWFiY2RlZg",
                FormatError::SaltLength(3),
            ),
            (
                "$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$MDEy",
                FormatError::HashLength(3),
            ),
            ("$pbkdf2-sha256$i=1000$$", FormatError::SaltLength(0)),
        ];
        for (s, want) in cases {
            assert_eq!(Stored::parse(s).unwrap_err(), *want, "{s}");
        }
        // Every prefix and every one-byte change of a good string: an error or a hash, never a panic.
        for n in 0..good.len() {
            let _ = Stored::parse(&good[..n]);
            for b in [0u8, b'$', b'=', b'0', 0xff] {
                let mut v = good.clone().into_bytes();
                v[n] = b;
                let _ = Stored::parse(&String::from_utf8_lossy(&v));
            }
        }
        assert_eq!(
            Stored::new(b"x", b"short", 1_000).unwrap_err(),
            FormatError::SaltLength(5)
        );
        assert_eq!(Stored::new(b"x", SALT, 10).unwrap_err(), FormatError::Iterations(10));
    }

    /// `cargo test -p hopboot-password --release -- --ignored --nocapture`: what a check costs here.
    #[test]
    #[ignore]
    fn timing() {
        let s = Stored::new(b"x", SALT, DEFAULT_ITERATIONS).unwrap();
        let mut runs: Vec<_> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                assert!(!s.verify(b"y"));
                t.elapsed()
            })
            .collect();
        runs.sort();
        println!(
            "{DEFAULT_ITERATIONS} iterations: median {:?} (min {:?})",
            runs[2], runs[0]
        );
    }
}
