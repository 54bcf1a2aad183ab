//! Version orders. There are two, because the boot loaders hopboot imitates
//! disagree:
//! - [`rpm`]: rpm's `rpmvercmp`, with blscfg's `+` rule. Red Hat's GRUB
//!   `blscfg` module sorts BLS snippets with it, and hopboot's plain /boot
//!   scan orders kernels with it.
//! - [`uapi`]: systemd-boot's order, the UAPI Version Format Specification's,
//!   for BLS type #1 menus (`version` and file names).
//!
//! They disagree on `~`, `^`, `-`, `+` and letters next to digits, often in
//! opposite directions (pinned in the tests):
//!
//! | a              | b          | rpm   | uapi  | why                                          |
//! |----------------|------------|-------|-------|----------------------------------------------|
//! | `6.1-2`        | `6.1.1`    | a > b | a < b | rpm skips separators; uapi: `-` < `.`        |
//! | `1.0^20230101` | `1.0.1`    | a > b | a < b | the same with `^` (`^` < `.` for uapi)       |
//! | `5.14rc1`      | `5.14.1`   | a < b | a > b | rpm: digits beat letters; uapi: `.` is lower |
//! | `1.0.~rc1`     | `1.0`      | a < b | a > b | uapi: the longer wins at `.`, before `~`     |
//! | `5.14.0+debug` | `5.14.0-1` | a < b | a > b | `+` is blscfg's; uapi ignores it             |
//! | `1-2`          | `1.2`      | a = b | a < b | separators                                   |
//!
//! rpm's order, in detail: a string is a series of segments, runs of digits or
//! runs of ASCII letters. Everything else (`.`, `-`, `_`, …) only separates
//! segments and is never compared, so `1.0` equals `1_0`. Rules, in the order
//! they apply:
//! - `~` sorts before anything, even the end of the string (`1.0~rc1` < `1.0`);
//! - `+` is like `~`, except that a string that ended is older than one that
//!   goes on with `+` (`5.14.0` < `5.14.0+debug`; blscfg's addition to rpm);
//! - a numeric segment is newer than an alphabetic one (`1.1` > `1.a`);
//! - numbers compare by value (leading zeros dropped, then length, then digits),
//!   letters byte-wise (`A` < `a`);
//! - when every segment matched, the string with something left is newer.
//!
//! systemd's order compares the separators too: see [`uapi`].

use std::cmp::Ordering;

/// Compares two version strings in rpm's order, with blscfg's `+` ("6.1.0-13-amd64"
/// < "6.1.0-56-amd64"): Red Hat's GRUB `blscfg` and hopboot's /boot scan. The
/// rules are in the [module documentation](self).
pub fn rpm(a: &str, b: &str) -> Ordering {
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

/// Compares two version strings the way systemd-boot orders `version` and
/// file names (`systemd-analyze compare-versions`), the UAPI Version Format
/// Specification's order. Not [`rpm`]'s: systemd compares the separators too
/// (`-` < `^` < `.`), where rpm skips them.
///
/// The UAPI.1 "Version Order" text and systemd's implementation disagree in
/// two places; we follow the implementation, which decides real menus and
/// matches the spec's prose ("`~` is a prefix that always compares lower"):
/// - `~` is checked before end-of-string, so `1.0~rc1` < `1.0` and `~` < `''`
///   (the spec's example list says `''` < `~` and `0` < `~`);
/// - a `^` segment is older than a `.`, digit or letter segment but newer than
///   the end of the string (rpm's caret: `1.2` < `1.2^p1` < `1.2.1`), where
///   the spec text says `^` "compares higher";
/// - a numeric segment is newer than an alphabetic one (`1.0` > `1.a`).
pub fn uapi(a: &str, b: &str) -> Ordering {
    let valid = |c: &u8| c.is_ascii_alphanumeric() || b"-.~^".contains(c);
    let digit = |c: &u8| c.is_ascii_digit();
    let alpha = |c: &u8| c.is_ascii_alphabetic();
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    // Each round consumes at least one byte or returns: the bound is a backstop.
    for _ in 0..=a.len().saturating_add(b.len()).saturating_add(1) {
        // Characters outside the version alphabet only separate segments.
        a = a.get(run(a, |c| !valid(c)).len()..).unwrap_or(&[]);
        b = b.get(run(b, |c| !valid(c)).len()..).unwrap_or(&[]);
        // Separator prefixes: the side that has one is older; both have it: skip.
        // `~` comes before the end-of-string check (pre-releases are oldest).
        for sep in [b'~', 0, b'-', b'^', b'.'] {
            if sep == 0 {
                // End of either string: the longer one is newer.
                if a.is_empty() || b.is_empty() {
                    return a.len().min(1).cmp(&b.len().min(1));
                }
                continue;
            }
            let (sa, sb) = (a.first() == Some(&sep), b.first() == Some(&sep));
            if sa != sb {
                return if sa { Ordering::Less } else { Ordering::Greater };
            }
            if sa {
                a = a.get(1..).unwrap_or(&[]);
                b = b.get(1..).unwrap_or(&[]);
            }
        }
        let (la, lb);
        if a.first().is_some_and(digit) || b.first().is_some_and(digit) {
            // Numeric segments: present beats absent, then the value (leading
            // zeros skipped, longer is larger, then byte-wise).
            let (sa, sb) = (run(a, digit), run(b, digit));
            (la, lb) = (sa.len(), sb.len());
            let (da, db) = (strip_zeros(sa), strip_zeros(sb));
            let ord = (la > 0)
                .cmp(&(lb > 0))
                .then_with(|| da.len().cmp(&db.len()))
                .then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            // Alphabetic segments, byte-wise (`A` < `a`); a longer one is newer.
            (la, lb) = (run(a, alpha).len(), run(b, alpha).len());
            let ord = a.get(..la).cmp(&b.get(..lb));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a = a.get(la..).unwrap_or(&[]);
        b = b.get(lb..).unwrap_or(&[]);
    }
    Ordering::Equal
}

/// The leading run of `s` whose bytes satisfy `f`.
fn run(s: &[u8], f: impl Fn(&u8) -> bool) -> &[u8] {
    &s[..s.iter().take_while(|c| f(c)).count()]
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    &s[s.iter().take_while(|c| **c == b'0').count()..]
}

/// Sorts `items` newest first by `version` in [`rpm`] order, keeping the given order among equal
/// versions. An insertion sort: the inputs are menus (a few dozen entries), and
/// unlike `sort_by` it cannot panic if an odd input made the order inconsistent.
pub fn sort_newest_first<T>(items: &mut [T], version: impl Fn(&T) -> &str) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && rpm(version(&items[j]), version(&items[j - 1])) == Ordering::Greater {
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
        assert_eq!(rpm("6.1.0-9-amd64", "6.1.0-56-amd64"), Ordering::Less);
        assert_eq!(rpm("6.1.0-13-amd64", "6.1.0-13-amd64"), Ordering::Equal);
        assert_eq!(rpm("5.10.0-28-amd64", "6.1.0-1-amd64"), Ordering::Less);
    }

    #[test]
    fn fedora_and_tilde() {
        assert_eq!(rpm("6.5.6-300.fc39.x86_64", "6.5.12-300.fc39.x86_64"), Ordering::Less);
        assert_eq!(rpm("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(rpm("1.0~rc1", "1.0~rc2"), Ordering::Less);
        assert_eq!(rpm("007", "7"), Ordering::Equal);
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
            assert_eq!(rpm(a, b), want, "{a} vs {b}");
            assert_eq!(rpm(b, a), want.reverse(), "{b} vs {a}");
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

    #[test]
    fn version_order_spec_examples_and_systemd_behaviour() {
        use Ordering::*;
        let cases = [
            ("11", "11", Equal),
            ("systemd-123", "systemd-123", Equal),
            ("bar-123", "foo-123", Less),
            ("123a", "123", Greater),
            ("123.a", "123", Greater),
            ("123.a", "123.b", Less),
            ("123a", "123.a", Greater),
            ("11α", "11β", Equal),
            ("A", "a", Less),
            ("", "0", Less),
            ("0.", "0", Greater),
            ("0.0", "0", Greater),
            ("~", "0", Less),
            ("1-2", "1.2", Less),
            // Where systemd's implementation and the spec text differ (see uapi):
            ("", "~", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.2^post1", "1.2", Greater),
            ("1.2^post1", "1.2.1", Less),
            ("1.2-1", "1.2^post1", Less),
            ("1.0", "1.a", Greater),
            ("6.5.12-300.fc39.x86_64", "6.5.6-300.fc39.x86_64", Greater),
            ("007", "7", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(uapi(a, b), want, "{a} vs {b}");
            assert_eq!(uapi(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn version_order_terminates_on_odd_input() {
        for s in [
            "--",
            "^^^",
            "..~~",
            "-~^.",
            "\u{0}\u{1}",
            "a-",
            "~-",
            "99999999999999999999999999",
        ] {
            for t in ["", "-", "~", "^", ".", "1", "a"] {
                let _ = uapi(s, t);
            }
        }
    }

    /// Pairs where the two orders disagree (the table in the module documentation).
    #[test]
    fn rpm_and_uapi_disagree() {
        use Ordering::*;
        let cases = [
            ("6.1-2", "6.1.1", Greater, Less),
            ("1.0^20230101", "1.0.1", Greater, Less),
            ("5.14rc1", "5.14.1", Less, Greater),
            ("1.0.~rc1", "1.0", Less, Greater),
            ("5.14.0+debug", "5.14.0-1", Less, Greater),
            ("1-2", "1.2", Equal, Less),
        ];
        for (a, b, by_rpm, by_uapi) in cases {
            assert_eq!(rpm(a, b), by_rpm, "rpm: {a} vs {b}");
            assert_eq!(rpm(b, a), by_rpm.reverse(), "rpm: {b} vs {a}");
            assert_eq!(uapi(a, b), by_uapi, "uapi: {a} vs {b}");
            assert_eq!(uapi(b, a), by_uapi.reverse(), "uapi: {b} vs {a}");
        }
    }
}
