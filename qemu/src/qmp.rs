//! A small QMP (QEMU Machine Protocol) client: connect to the socket a VM was
//! started with ([`crate::vm::VmConfig::qmp`]), run commands, take screendumps.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

/// A QMP connection, past the capabilities negotiation.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to `path`, waiting up to `timeout` for QEMU to create it.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(e).with_context(|| format!("connecting to QMP at {}", path.display())),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let greeting = qmp.read()?;
        ensure!(greeting.get("QMP").is_some(), "not a QMP greeting: {greeting}");
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).context("reading from QMP")?;
        ensure!(n > 0, "QMP closed the connection (QEMU exited?)");
        serde_json::from_str(&line).with_context(|| format!("QMP sent {line:?}"))
    }

    /// Runs `command` with `arguments`, skipping asynchronous events, and returns
    /// its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut request = serde_json::json!({ "execute": command });
        if let Some(a) = arguments {
            request["arguments"] = a;
        }
        writeln!(self.writer, "{request}").context("writing to QMP")?;
        loop {
            let mut reply = self.read()?;
            if let Some(ret) = reply.get_mut("return") {
                return Ok(ret.take());
            }
            if let Some(err) = reply.get("error") {
                bail!("QMP {command}: {err}");
            }
        }
    }

    /// Writes the screen to `file` (`format`: `png` or `ppm`).
    pub fn screendump(&mut self, file: &Path, format: &str) -> Result<()> {
        let name = file
            .to_str()
            .with_context(|| format!("screendump path {} is not UTF-8", file.display()))?;
        let _ = std::fs::remove_file(file);
        self.execute(
            "screendump",
            Some(serde_json::json!({ "filename": name, "format": format })),
        )?;
        ensure!(file.is_file(), "QMP screendump wrote no {}", file.display());
        Ok(())
    }
}

/// A binary PPM (P6) image, as QEMU's `screendump` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ppm {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// RGB triplets, row by row.
    pub rgb: Vec<u8>,
}

impl Ppm {
    /// Parses a P6 image with a maximum value of 255.
    pub fn parse(data: &[u8]) -> Result<Ppm> {
        // Header: "P6" width height maxval, separated by whitespace, then one whitespace byte.
        let mut fields = Vec::new();
        let mut pos = 0;
        while fields.len() < 4 {
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let start = pos;
            while pos < data.len() && !data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            ensure!(pos > start, "truncated PPM header");
            fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
        }
        ensure!(fields[0] == "P6", "not a binary PPM (P6) image");
        let num = |s: &str| s.parse::<usize>().with_context(|| format!("PPM header field {s:?}"));
        let (width, height, max) = (num(&fields[1])?, num(&fields[2])?, num(&fields[3])?);
        ensure!(max == 255, "PPM maxval {max} (expected 255)");
        let body = data.get(pos + 1..).context("truncated PPM")?;
        let len = width * height * 3;
        ensure!(
            body.len() >= len,
            "PPM has {} bytes of pixels, expected {len}",
            body.len()
        );
        Ok(Ppm {
            width,
            height,
            rgb: body[..len].to_vec(),
        })
    }

    /// The share (0 to 1) of the pixels in the rectangle (`x`, `y`, `w`, `h`) whose
    /// brightest channel is at least `threshold`.
    pub fn lit_share(&self, x: usize, y: usize, w: usize, h: usize, threshold: u8) -> f64 {
        let (mut lit, mut all) = (0u64, 0u64);
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row * self.width + col) * 3;
                all += 1;
                if self.rgb[i..i + 3].iter().any(|&c| c >= threshold) {
                    lit += 1;
                }
            }
        }
        if all == 0 {
            0.0
        } else {
            lit as f64 / all as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_parses_and_measures_lit_pixels() {
        let mut data = b"P6\n4 2\n255\n".to_vec();
        // Row 0: white, black, black, grey; row 1: black x3, red.
        for px in [
            [255, 255, 255],
            [0, 0, 0],
            [0, 0, 0],
            [170, 170, 170],
            [0, 0, 0],
            [0, 0, 0],
            [0, 0, 0],
            [200, 0, 0],
        ] {
            data.extend_from_slice(&px);
        }
        let p = Ppm::parse(&data).unwrap();
        assert_eq!((p.width, p.height), (4, 2));
        assert_eq!(p.lit_share(0, 0, 4, 2, 128), 0.375);
        assert_eq!(p.lit_share(0, 0, 1, 1, 128), 1.0);
        assert_eq!(p.lit_share(1, 0, 2, 2, 128), 0.0);
        assert!(Ppm::parse(b"P3\n1 1\n255\n").is_err());
        assert!(Ppm::parse(b"P6\n2 2\n255\n\0\0\0").is_err());
    }
}
