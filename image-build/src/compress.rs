//! Compression of the finished archive, and decompression of compressed kernel modules.
//!
//! gzip is done in-process with flate2; xz and zstd are done by the command-line tools, which the
//! project's `scripts/install-deps.sh` installs.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// How the initramfs is compressed. The kernel must have the matching `CONFIG_RD_*` decompressor;
/// Debian's kernels have all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain cpio archive.
    None,
    /// gzip at the best level, without a timestamp or file name in the header.
    Gzip,
    /// zstd level 19.
    Zstd,
    /// xz with the CRC32 check and a 1 MiB dictionary, as the kernel's unpacker requires.
    Xz,
}

impl Compression {
    /// All variants, in the order `--help` lists them.
    pub const ALL: [Compression; 4] = [Self::None, Self::Gzip, Self::Zstd, Self::Xz];

    /// The name accepted by [`FromStr`] and printed by [`Display`](std::fmt::Display).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Xz => "xz",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Compression`] from an unknown name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCompression(pub String);

impl std::fmt::Display for UnknownCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown compression {:?} (expected none, gzip, zstd or xz)", self.0)
    }
}

impl std::error::Error for UnknownCompression {}

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCompression(s.to_owned()))
    }
}

/// Compresses `data`. The output depends only on `data`, `c` and the installed tool's version.
pub fn compress(data: &[u8], c: Compression) -> Result<Vec<u8>> {
    match c {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            // GzEncoder::new writes mtime 0 and no file name, so the header is fixed.
            let out = Vec::with_capacity(data.len() / 2);
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::best());
            enc.write_all(data).context("gzip")?;
            enc.finish().context("gzip")
        }
        // -T1: multi-threaded zstd cuts the input differently, so pin it for reproducibility.
        Compression::Zstd => pipe_through("zstd", &["-19", "-T1", "-q", "-c"], data),
        // The kernel's xz unpacker (lib/xz) only verifies CRC32 (or no check) and the kernel docs
        // recommend a 1 MiB dictionary. The preset goes inside --lzma2: a separate `-9` after
        // `--lzma2=dict=1MiB` would reset the filter chain to the 64 MiB preset dictionary.
        // -T1: multi-threaded xz writes a different block layout.
        Compression::Xz => pipe_through(
            "xz",
            &["--check=crc32", "--lzma2=preset=9,dict=1MiB", "-T1", "-q", "-c"],
            data,
        ),
    }
}

/// Decompresses a gzip stream (all members, as `gzip -d` does).
pub(crate) fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(3));
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .context("gzip decompression failed")?;
    Ok(out)
}

/// Runs `program args…` with `input` on stdin and returns its stdout; fails with the tool's stderr
/// when it exits non-zero, and with a hint when it is not installed.
pub(crate) fn pipe_through(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let shown = format!("{program} {}", args.join(" "));
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`{program}` is not installed (needed to run `{shown}`); run scripts/install-deps.sh")
        }
        Err(e) => return Err(e).with_context(|| format!("cannot run `{shown}`")),
    };
    let mut stdin = child.stdin.take().context("child stdin")?;
    // Feed stdin from another thread: the child may fill its stdout pipe before it has read all of
    // its input, and we only drain stdout in wait_with_output.
    let output = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(input));
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = match output {
        (_, Err(e)) => return Err(e).with_context(|| format!("waiting for `{shown}`")),
        (Err(_), _) => bail!("writer thread for `{shown}` panicked"),
        (Ok(written), Ok(output)) => {
            if output.status.success() {
                // A tool that exited successfully without reading everything would be a bug.
                written.with_context(|| format!("writing to `{shown}`"))?;
            }
            output
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("`{shown}` failed ({}): {}", output.status, stderr.trim());
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // Compressible but not trivial.
        (0u32..50_000).flat_map(|i| (i * 7 % 251).to_le_bytes()).collect()
    }

    #[test]
    fn names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(c.to_string().parse::<Compression>(), Ok(c));
        }
        let err = "lz4".parse::<Compression>().unwrap_err();
        assert!(err.to_string().contains("\"lz4\""), "{err}");
    }

    #[test]
    fn gzip_round_trip_and_fixed_header() {
        let data = sample();
        let gz = compress(&data, Compression::Gzip).unwrap();
        assert!(gz.len() < data.len() / 4);
        // magic, deflate, no flags (no name), mtime 0
        assert_eq!(gz[..8], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        assert_eq!(gunzip(&gz).unwrap(), data);
        assert_eq!(compress(&data, Compression::Gzip).unwrap(), gz);
    }

    #[test]
    fn zstd_round_trip() {
        let data = sample();
        let z = compress(&data, Compression::Zstd).unwrap();
        assert_eq!(z[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(pipe_through("zstd", &["-dc"], &z).unwrap(), data);
    }

    #[test]
    fn xz_round_trip_with_crc32() {
        let data = sample();
        let x = compress(&data, Compression::Xz).unwrap();
        assert_eq!(x[..6], *b"\xfd7zXZ\0");
        // Stream flags: check type 1 = CRC32.
        assert_eq!(x[6..8], [0, 1]);
        assert_eq!(pipe_through("xz", &["-dc"], &x).unwrap(), data);
    }

    #[test]
    fn none_is_identity() {
        assert_eq!(compress(b"abc", Compression::None).unwrap(), b"abc");
    }

    #[test]
    fn tool_errors_are_reported() {
        let err = pipe_through("hopboot-no-such-tool", &[], b"").unwrap_err();
        assert!(err.to_string().contains("not installed"), "{err}");
        let err = pipe_through("xz", &["-dc"], b"not xz").unwrap_err();
        assert!(err.to_string().contains("`xz -dc` failed"), "{err:#}");
        assert!(gunzip(b"not gzip").is_err());
    }
}
