//! The `test` / `[` command.

use super::builtins::split_path;
use super::{Interp, MIN_CHARGE};
use crate::fs::Kind;

impl Interp<'_> {
    /// `test` / `[`, as GRUB 2.06 evaluates it (checked with grub-emu): no
    /// arguments is true; a trailing `]` is dropped; words side by side are
    /// and-ed; `-a` binds tighter than `-o`; `!` negates the next test; `(`
    /// opens a group and a `)` ends the current one (at the top level it ends
    /// the whole test); a lone word is true when not empty; numbers are read
    /// like C's `strtol` with base 0 (`0x10` = 16, `010` = 8, `5x` = 5, `abc` = 0).
    pub(super) fn test(&self, args: &[String]) -> bool {
        let args = match args.split_last() {
            Some((last, init)) if last == "]" => init,
            _ => args,
        };
        let mut pos = 0;
        self.test_group(args, &mut pos, 0)
    }

    fn test_group(&self, a: &[String], pos: &mut usize, depth: usize) -> bool {
        let mut any = false; // the `-o` alternatives so far
        let mut all = true; // the current `-a` chain
        let mut negate = false;
        let mut skip = false;
        while let Some(word) = a.get(*pos) {
            let binary = match (a.get(*pos + 1), a.get(*pos + 2)) {
                (Some(op), Some(r)) => self.test_binary(word, op, r),
                _ => None,
            };
            let value = if let Some(v) = binary {
                *pos += 3;
                v
            } else if let Some(v) = a.get(*pos + 1).and_then(|x| self.test_unary(word, x)) {
                *pos += 2;
                v
            } else {
                *pos += 1;
                match word.as_str() {
                    ")" => return any || all,
                    "(" if depth < 64 => self.test_group(a, pos, depth + 1),
                    "!" => {
                        negate = !negate;
                        continue;
                    }
                    "-a" => {
                        skip = !all;
                        continue;
                    }
                    "-o" => {
                        any = any || all;
                        all = true;
                        continue;
                    }
                    w => !w.is_empty(),
                }
            };
            if !skip {
                all = all && (value != negate);
            }
            negate = false;
            skip = false;
        }
        any || all
    }

    /// `L OP R`, or `None` when `op` is not a binary operator.
    fn test_binary(&self, l: &str, op: &str, r: &str) -> Option<bool> {
        Some(match op {
            "=" | "==" => l == r,
            "!=" => l != r,
            "<" => l < r,
            "<=" => l <= r,
            ">" => l > r,
            ">=" => l >= r,
            "-eq" => strtol(l) == strtol(r),
            "-ne" => strtol(l) != strtol(r),
            "-lt" => strtol(l) < strtol(r),
            "-le" => strtol(l) <= strtol(r),
            "-gt" => strtol(l) > strtol(r),
            "-ge" => strtol(l) >= strtol(r),
            // Numbers after the common prefix: `vmlinuz-5.10 -pgt vmlinuz-5.9`.
            "-pgt" | "-plt" => {
                let common = l.bytes().zip(r.bytes()).take_while(|(x, y)| x == y).count();
                let (ln, rn) = (
                    strtol(l.get(common..).unwrap_or("")),
                    strtol(r.get(common..).unwrap_or("")),
                );
                if op == "-pgt" {
                    ln > rn
                } else {
                    ln < rn
                }
            }
            // File times: hopboot's filesystems do not report them.
            "-nt" | "-ot" => false,
            _ => return None,
        })
    }

    /// `OP X`, or `None` when `op` is not a unary operator.
    fn test_unary(&self, op: &str, x: &str) -> Option<bool> {
        let file = || {
            self.charge(MIN_CHARGE);
            let p = split_path(x, self.env.get("root"));
            (self.host.kind(&p.device, &p.path), p)
        };
        Some(match op {
            "-z" => x.is_empty(),
            "-n" => !x.is_empty(),
            "-e" => file().0.is_some(),
            "-f" => file().0 == Some(Kind::File),
            "-d" => file().0 == Some(Kind::Dir),
            "-s" => {
                let (k, p) = file();
                k == Some(Kind::File) && self.host.size(&p.device, &p.path).unwrap_or(0) > 0
            }
            _ => return None,
        })
    }
}

/// A number as C's `strtol(s, NULL, 0)` reads it: optional sign, `0x` hex,
/// `0` octal, else decimal, up to the first character that does not fit
/// (none at all gives 0); saturates instead of overflowing.
fn strtol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if r.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, r)
        } else {
            (10, "0")
        }
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut n: i64 = 0;
    for d in digits.chars().map_while(|c| c.to_digit(radix)) {
        n = n.saturating_mul(i64::from(radix)).saturating_add(i64::from(d));
    }
    if neg {
        n.saturating_neg()
    } else {
        n
    }
}
