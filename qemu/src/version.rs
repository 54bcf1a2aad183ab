//! Version ordering for kernel file names (`6.1.0-9-amd64` < `6.1.0-56-amd64`).

use std::cmp::Ordering;

/// Compares two version strings the way dpkg orders versions.
///
/// The strings are read as alternating non-digit and digit runs. Digit runs compare
/// as numbers (of any length, without overflow); non-digit runs compare character by
/// character with `~` before the end of the run, the end before letters, and letters
/// before other characters.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (a_text, a_rest) = split_run(a, |c| !c.is_ascii_digit());
        let (b_text, b_rest) = split_run(b, |c| !c.is_ascii_digit());
        let ord = compare_text(a_text, b_text);
        if ord != Ordering::Equal {
            return ord;
        }
        let (a_num, a_rest) = split_run(a_rest, |c| c.is_ascii_digit());
        let (b_num, b_rest) = split_run(b_rest, |c| c.is_ascii_digit());
        let ord = compare_number(a_num, b_num);
        if ord != Ordering::Equal {
            return ord;
        }
        (a, b) = (a_rest, b_rest);
    }
    Ordering::Equal
}

fn split_run(s: &[u8], keep: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().position(|&c| !keep(c)).unwrap_or(s.len());
    s.split_at(n)
}

/// Weight of one character of a non-digit run; `None` is the end of the run.
fn weight(c: Option<&u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(&c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(&c) => i32::from(c) + 256,
    }
}

fn compare_text(a: &[u8], b: &[u8]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = weight(a.get(i)).cmp(&weight(b.get(i)));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn compare_number(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(compare("6.1.0-9-amd64", "6.1.0-56-amd64"), Ordering::Less);
        assert_eq!(compare("6.1.0-56-amd64", "6.1.0-9-amd64"), Ordering::Greater);
        assert_eq!(compare("6.12.1", "6.1.99"), Ordering::Greater);
        assert_eq!(compare("6.1.0-056", "6.1.0-56"), Ordering::Equal);
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0a"), Ordering::Less);
        assert_eq!(compare("", "0"), Ordering::Equal);
        assert_eq!(compare("99999999999999999999999", "1"), Ordering::Greater);
    }
}
