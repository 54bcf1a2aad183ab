//! Version-string ordering for kernel file names, as `sort -V` / rpm's
//! rpmvercmp do it: runs of digits compare as numbers, other runs compare
//! byte-wise, and `~` sorts before anything (pre-releases).

use std::cmp::Ordering;

/// Compares two version strings ("6.1.0-13-amd64" < "6.1.0-56-amd64").
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let (xd, yd) = (x.is_ascii_digit(), y.is_ascii_digit());
                if xd && yd {
                    let (na, ra) = split_run(a, true);
                    let (nb, rb) = split_run(b, true);
                    let ord = cmp_numeric(na, nb);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                    a = ra;
                    b = rb;
                } else if xd != yd {
                    // A number sorts after a letter or separator: "1.10" > "1.a".
                    return if xd { Ordering::Greater } else { Ordering::Less };
                } else {
                    let (sa, ra) = split_run(a, false);
                    let (sb, rb) = split_run(b, false);
                    let ord = cmp_text(sa, sb);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                    a = ra;
                    b = rb;
                }
            }
        }
    }
}

fn split_run(s: &[u8], digits: bool) -> (&[u8], &[u8]) {
    let n = s
        .iter()
        .position(|c| c.is_ascii_digit() != digits || *c == b'~')
        .unwrap_or(s.len());
    s.split_at(n)
}

fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Letters sort before separators, like dpkg: "6.1rc" vs "6.1-": letters first.
fn cmp_text(a: &[u8], b: &[u8]) -> Ordering {
    let weight = |c: u8| -> u16 {
        if c.is_ascii_alphabetic() {
            u16::from(c)
        } else {
            u16::from(c) + 256
        }
    };
    for (x, y) in a.iter().zip(b) {
        let ord = weight(*x).cmp(&weight(*y));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_abi_numbers_sort_numerically() {
        assert_eq!(compare("6.1.0-9-amd64", "6.1.0-56-amd64"), Ordering::Less);
        assert_eq!(compare("6.1.0-13-amd64", "6.1.0-13-amd64"), Ordering::Equal);
        assert_eq!(compare("5.10.0-28-amd64", "6.1.0-1-amd64"), Ordering::Less);
    }

    #[test]
    fn fedora_and_tilde() {
        assert_eq!(
            compare("6.5.6-300.fc39.x86_64", "6.5.12-300.fc39.x86_64"),
            Ordering::Less
        );
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("007", "7"), Ordering::Equal);
    }

    #[test]
    fn sorting_is_total_on_odd_input() {
        let mut v = vec!["", "~", "a", "1", "1a", "a1", "-", "1.", "99999999999999999999999"];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(v[0], "~");
    }
}
