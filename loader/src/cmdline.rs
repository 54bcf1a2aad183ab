//! The kernel command line: splitting `/proc/cmdline` into parameters (with the
//! kernel's double-quote rule), and checking a command line before it is
//! handed to kexec. hopboot's own `hopboot.*` options are PID 1's (init).

/// One parsed command line, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    /// Splits a command line as the kernel does (lib/cmdline.c `next_arg`):
    /// whitespace separates parameters, double quotes group, and quotes around
    /// a value (`key="a b"`) are removed.
    pub fn parse(s: &str) -> Self {
        let mut params = Vec::new();
        for word in split_words(s) {
            match word.split_once('=') {
                Some((k, v)) => params.push((k.to_string(), Some(v.to_string()))),
                None => params.push((word, None)),
            }
        }
        Cmdline { params }
    }

    /// The value of the last `key=value` (the kernel's rule: later wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether `key` appears, with or without a value.
    pub fn has(&self, key: &str) -> bool {
        self.params.iter().any(|(k, _)| k == key)
    }
}

fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut started = false;
    for c in s.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                started = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// Removes the items a boot loader adds on its own (`BOOT_IMAGE=`, `initrd=`),
/// as `hopboot load --reuse-cmdline` needs.
pub fn strip_loader_items(cmdline: &str) -> String {
    cmdline
        .split_whitespace()
        .filter(|w| !w.starts_with("BOOT_IMAGE=") && !w.starts_with("initrd="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Longest command line x86_64 accepts (`COMMAND_LINE_SIZE`, incl. the NUL).
pub const COMMAND_LINE_SIZE: usize = 2048;

/// Why a command line cannot be handed to kexec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CmdlineError {
    /// A NUL byte would cut the command line short.
    #[error("command line contains a NUL byte")]
    Nul,
    /// The kernel would reject or truncate it.
    #[error("command line is {0} bytes; the kernel accepts at most {max}", max = COMMAND_LINE_SIZE - 1)]
    TooLong(usize),
}

/// Checks a command line for kexec and returns it NUL-terminated.
pub fn to_kexec(cmdline: &str) -> Result<std::ffi::CString, CmdlineError> {
    let trimmed = cmdline.trim();
    if trimmed.len() >= COMMAND_LINE_SIZE {
        return Err(CmdlineError::TooLong(trimmed.len()));
    }
    std::ffi::CString::new(trimmed).map_err(|_| CmdlineError::Nul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_last_wins() {
        let c = Cmdline::parse(r#"root=/dev/vda1 hopboot.append="a b" ro hopboot.wait=2 hopboot.wait=0.5 quiet"#);
        assert_eq!(c.get("hopboot.append"), Some("a b"));
        assert_eq!(c.get("root"), Some("/dev/vda1"));
        assert!(c.has("quiet"));
        assert_eq!(c.get("hopboot.wait"), Some("0.5"));
    }

    #[test]
    fn strip_items() {
        assert_eq!(
            strip_loader_items("BOOT_IMAGE=/vmlinuz root=x initrd=\\a.img ro\n"),
            "root=x ro"
        );
    }

    #[test]
    fn kexec_checks() {
        assert_eq!(to_kexec("a\0b"), Err(CmdlineError::Nul));
        assert!(matches!(to_kexec(&"x".repeat(5000)), Err(CmdlineError::TooLong(5000))));
        assert_eq!(to_kexec(" ro ").map(|c| c.into_bytes()), Ok(b"ro".to_vec()));
    }
}
