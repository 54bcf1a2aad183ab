//! rpm's version order (`rpmvercmp`), as Red Hat's GRUB `blscfg` module sorts
//! BLS snippets with it, and as hopboot's plain /boot scan orders kernels.
//!
//! A string is a series of segments: runs of digits or runs of ASCII letters.
//! Everything else (`.`, `-`, `_`, …) only separates segments and is never
//! compared, so `1.0` equals `1_0`. Rules, in the order they apply:
//! - `~` sorts before anything, even the end of the string (`1.0~rc1` < `1.0`);
//! - `+` is like `~`, except that a string that ended is older than one that
//!   goes on with `+` (`5.14.0` < `5.14.0+debug`; blscfg's addition to rpm);
//! - a numeric segment is newer than an alphabetic one (`1.1` > `1.a`);
//! - numbers compare by value (leading zeros dropped, then length, then digits),
//!   letters byte-wise (`A` < `a`);
//! - when every segment matched, the string with something left is newer.
//!
//! systemd-boot's own order is different (it compares the separators too): see
//! [`crate::format::sdboot::bls::compare_versions`].

use std::cmp::Ordering;

/// Compares two version strings ("6.1.0-13-amd64" < "6.1.0-56-amd64").
pub fn compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'+';
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        a = &a[a.iter().take_while(|c| separator(c)).count()..];
        b = &b[b.iter().take_while(|c| separator(c)).count()..];
        let (x, y) = (a.first().copied(), b.first().copied());
        if x == Some(b'~') || y == Some(b'~') {
            if x != Some(b'~') {
                return Ordering::Greater;
            }
            if y != Some(b'~') {
                return Ordering::Less;
            }
            a = &a[1..];
            b = &b[1..];
            continue;
        }
        if x == Some(b'+') || y == Some(b'+') {
            match (x, y) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(b'+'), Some(b'+')) => {}
                (Some(b'+'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
            a = &a[1..];
            b = &b[1..];
            continue;
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        // The kind of segment is `a`'s; `b` offers its run of the same kind,
        // which is empty when `b`'s segment is of the other kind.
        let numeric = a[0].is_ascii_digit();
        let same_kind = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (sa, sb) = (run(a, same_kind), run(b, same_kind));
        if sb.is_empty() {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let ord = if numeric {
            let (da, db) = (strip_zeros(sa), strip_zeros(sb));
            da.len().cmp(&db.len()).then_with(|| da.cmp(db))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[sa.len()..];
        b = &b[sb.len()..];
    }
    // Every segment matched; only separators may differ.
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// The leading run of `s` whose bytes satisfy `f`.
fn run(s: &[u8], f: impl Fn(&u8) -> bool) -> &[u8] {
    &s[..s.iter().take_while(|c| f(c)).count()]
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    &s[s.iter().take_while(|c| **c == b'0').count()..]
}

/// Sorts `items` newest first by `version`, keeping the given order among equal
/// versions. An insertion sort: the inputs are menus (a few dozen entries), and
/// unlike `sort_by` it cannot panic if an odd input made the order inconsistent.
pub fn sort_newest_first<T>(items: &mut [T], version: impl Fn(&T) -> &str) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && compare(version(&items[j]), version(&items[j - 1])) == Ordering::Greater {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
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
        assert_eq!(compare("1.0~rc1", "1.0~rc2"), Ordering::Less);
        assert_eq!(compare("007", "7"), Ordering::Equal);
    }

    /// rpm's rules, with blscfg's `+` (worked through by hand from the rules above).
    #[test]
    fn rpm_rules() {
        let cases = [
            ("1.0", "1.0", Ordering::Equal),
            ("1.0", "2.0", Ordering::Less),
            ("2.0.1", "2.0", Ordering::Greater),
            ("2.0.1a", "2.0.1", Ordering::Greater),
            ("5.5p1", "5.5p10", Ordering::Less),
            ("10xyz", "10.1xyz", Ordering::Less),
            ("xyz10", "xyz10.1", Ordering::Less),
            ("xyz.4", "8", Ordering::Less),
            ("8", "xyz.4", Ordering::Greater),
            ("1.0a", "1.0", Ordering::Greater),
            ("2_0", "2.0", Ordering::Equal),
            ("2.0", "2_0", Ordering::Equal),
            ("a", "a", Ordering::Equal),
            ("a+", "a+", Ordering::Equal),
            ("a+", "a_", Ordering::Greater),
            ("+a", "+a", Ordering::Equal),
            ("+a", "_a", Ordering::Less),
            ("1.0~rc1", "1.0~rc1", Ordering::Equal),
            ("1.0~rc1", "1.0arc1", Ordering::Less),
            ("1.1.α", "1.1.α", Ordering::Equal),
            ("6.0.rc1", "6.0", Ordering::Greater),
            ("5.14.0", "5.14.0+debug", Ordering::Less),
            ("5.14.0-284.el9+debug", "5.14.0-284.el9", Ordering::Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn newest_first_keeps_the_order_of_equals_and_survives_odd_input() {
        let mut v = vec!["1_0", "2", "1.0", "10", "~", "", "a", "+"];
        sort_newest_first(&mut v, |s| s);
        assert_eq!(v[..3], ["10", "2", "1_0"]);
        assert_eq!(v[3], "1.0");
        assert_eq!(v.last(), Some(&"~"));
    }
}
