//! Shell-style globs, as fnmatch(3) reads them: `*` any run (also across `/`
//! and `.`), `?` one character, `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) one
//! character of a set. Two callers, which read a pattern differently, say
//! how with [`Options`]:
//! - [`MODALIAS`]: module aliases ([`crate::kmod`]), matched as modprobe does
//!   with fnmatch(3) and no flags: bytes, case-sensitive, `\x` a literal `x`;
//! - [`LOADER_CONF`]: loader.conf's `default` against entry ids
//!   ([`crate::format::sdboot::bls`]): characters, ASCII case-insensitive as
//!   systemd-boot compares ids (the ESP is FAT), `\` an ordinary character
//!   (as hopboot has always read these patterns).
//!
//! Both read brackets alike: a `]` right after `[` or `[!` is a member, a `-`
//! first or last is literal, a range whose ends are reversed is empty, `\` is
//! literal inside brackets, and a `[` without its `]` is an ordinary
//! character. Character classes (`[[:digit:]]`) are not supported.
//!
//! The work is bounded: only the last `*` is ever backtracked to, so a match
//! takes O(pattern + text²) steps, whatever the pattern (no exponential
//! blow-up on `*a*a*a*a*b`).

/// How [`matches`] reads a pattern and the text: the points where its callers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// ASCII letters match either case (`A-Z` folded to `a-z`, in ranges too).
    pub ignore_ascii_case: bool,
    /// Outside brackets, `\x` is a literal `x` (a trailing `\` matches itself);
    /// otherwise `\` is an ordinary character.
    pub backslash_escapes: bool,
    /// `?` and bracket members are characters (Unicode scalar values); otherwise bytes
    /// (a `?` matches one byte of a multi-byte character).
    pub chars: bool,
}

/// modprobe's matching of `modules.alias` patterns against a modalias.
pub const MODALIAS: Options = Options {
    ignore_ascii_case: false,
    backslash_escapes: true,
    chars: false,
};

/// loader.conf's `default` against BLS entry ids.
pub const LOADER_CONF: Options = Options {
    ignore_ascii_case: true,
    backslash_escapes: false,
    chars: true,
};

/// Whether `text` matches the whole of `pattern`, read with `opts`.
pub fn matches(pattern: &str, text: &str, opts: Options) -> bool {
    run(pattern, text, opts).0
}

/// One element of a pattern.
enum Token {
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: any one character.
    Any,
    /// A literal character (a plain one, or escaped with `\`).
    Lit(char),
    /// `[...]`: the members are `pattern[start..end]`; `negate` for `[!...]`/`[^...]`.
    Set { negate: bool, start: usize, end: usize },
}

/// The unit (byte or character, case-folded as asked) of `s` at byte index
/// `i`, and the index after it. A byte is the `char` of the same value, so
/// both kinds of unit compare by value.
fn unit(s: &str, i: usize, o: Options) -> Option<(char, usize)> {
    let (c, next) = if o.chars {
        let c = s.get(i..)?.chars().next()?;
        (c, i + c.len_utf8())
    } else {
        (char::from(*s.as_bytes().get(i)?), i + 1)
    };
    Some((if o.ignore_ascii_case { c.to_ascii_lowercase() } else { c }, next))
}

/// The token starting at byte `i` of `p` and the index after it, `None` at
/// the end. The special characters are ASCII, so they are found byte-wise
/// whatever the unit (a byte of a multi-byte character is never ASCII).
fn token(p: &str, i: usize, o: Options) -> Option<(Token, usize)> {
    let b = p.as_bytes();
    Some(match *b.get(i)? {
        b'*' => (Token::Star, i + 1),
        b'?' => (Token::Any, i + 1),
        b'\\' if o.backslash_escapes => match unit(p, i + 1, o) {
            Some((c, next)) => (Token::Lit(c), next),
            None => (Token::Lit('\\'), i + 1),
        },
        b'[' => {
            let mut j = i + 1;
            let negate = matches!(b.get(j), Some(b'!' | b'^'));
            if negate {
                j += 1;
            }
            let start = j;
            // A `]` right after `[` or `[!` is a member, not the end.
            if b.get(j) == Some(&b']') {
                j += 1;
            }
            match b.get(j..).and_then(|rest| rest.iter().position(|&x| x == b']')) {
                Some(len) => (
                    Token::Set {
                        negate,
                        start,
                        end: j + len,
                    },
                    j + len + 1,
                ),
                // No closing bracket: the `[` is an ordinary character.
                None => (Token::Lit('['), i + 1),
            }
        }
        _ => {
            let (c, next) = unit(p, i, o)?;
            (Token::Lit(c), next)
        }
    })
}

impl Token {
    fn matches(&self, p: &str, c: char, o: Options) -> bool {
        match *self {
            Token::Star | Token::Any => true,
            Token::Lit(l) => l == c,
            Token::Set { negate, start, end } => in_set(p, start, end, c, o) != negate,
        }
    }
}

/// Whether `c` is among the bracket members `p[i..end]`: `a-z` ranges and
/// literal characters; a `-` first or last is literal.
fn in_set(p: &str, mut i: usize, end: usize, c: char, o: Options) -> bool {
    while i < end {
        let Some((lo, next)) = unit(p, i, o) else {
            return false;
        };
        if p.as_bytes().get(next) == Some(&b'-') && next + 1 < end {
            if let Some((hi, after)) = unit(p, next + 1, o) {
                if lo <= c && c <= hi {
                    return true;
                }
                i = after;
                continue;
            }
        }
        if lo == c {
            return true;
        }
        i = next;
    }
    false
}

/// [`matches`], and the number of steps it took (for the tests' bound).
fn run(p: &str, t: &str, o: Options) -> (bool, usize) {
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it is matched up to).
    let mut star: Option<(usize, usize)> = None;
    let mut steps = 0usize;
    loop {
        steps += 1;
        match (token(p, pi, o), unit(t, ti, o)) {
            (Some((Token::Star, next)), _) => {
                star = Some((next, ti));
                pi = next;
                continue;
            }
            (Some((tok, next)), Some((c, after))) if tok.matches(p, c, o) => {
                pi = next;
                ti = after;
                continue;
            }
            (None, None) => return (true, steps),
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character, if any is left.
        match star.and_then(|(resume, upto)| Some((resume, unit(t, upto, o)?.1))) {
            Some((resume, upto)) => {
                star = Some((resume, upto));
                pi = resume;
                ti = upto;
            }
            None => return (false, steps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// modprobe's rules (moved from `kmod`).
    mod modalias {
        use super::*;

        fn glob_match(pattern: &str, text: &str) -> bool {
            matches(pattern, text, MODALIAS)
        }

        #[test]
        fn glob_rules() {
            for (p, s, want) in [
                ("abc", "abc", true),
                ("abc", "abcd", false),
                ("abc*", "abc", true),
                ("*", "", true),
                ("", "", true),
                ("", "a", false),
                ("a*c", "a/b.c", true),
                ("a*b*c", "axxbyyc", true),
                ("a*b*c", "axxbyy", false),
                ("*a", "bbba", true),
                ("a?c", "abc", true),
                ("a?c", "ac", false),
                ("[abc]x", "bx", true),
                ("[abc]x", "dx", false),
                ("[a-f]1", "e1", true),
                ("[a-f]1", "g1", false),
                ("[!a-f]1", "g1", true),
                ("[^a-f]1", "a1", false),
                ("[]]", "]", true),
                ("[!]]", "a", true),
                ("[a-]", "-", true),
                ("[ab", "[ab", true),
                ("a\\*", "a*", true),
                ("a\\*", "ab", false),
                (
                    "pci:v*d*sv*sd*bc01sc06i01*",
                    "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
                    true,
                ),
                (
                    "pci:v*d*sv*sd*bc01sc06i01*",
                    "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i02",
                    false,
                ),
            ] {
                assert_eq!(glob_match(p, s), want, "{p:?} vs {s:?}");
            }
        }
    }

    /// The rules for loader.conf's `default` (moved from `config::bls`).
    mod loader_conf {
        use super::*;

        fn glob_match(pattern: &str, name: &str) -> bool {
            matches(pattern, name, LOADER_CONF)
        }

        #[test]
        fn glob_rules() {
            assert!(glob_match("fedora-*", "fedora-6.5"));
            assert!(glob_match("FEDORA-*", "fedora-6.5"));
            assert!(glob_match("*-rescue.conf", "x-0-rescue.conf"));
            assert!(glob_match("a?c", "abc"));
            assert!(!glob_match("a?c", "ac"));
            assert!(glob_match("[a-c]x", "bx"));
            assert!(!glob_match("[!a-c]x", "bx"));
            assert!(glob_match("[]]", "]"));
            assert!(glob_match("[ab", "[ab"));
            assert!(glob_match("*a*b*c*", "xxaxxbxxcxx"));
            assert!(!glob_match("*a*b*c*d", "xxaxxbxxcxx"));
            assert!(glob_match("**", ""));
            assert!(!glob_match("", "a"));
            let long = "a".repeat(2000);
            assert!(!glob_match(&"*a".repeat(100).replace("*a*a", "*b*a"), &long));
        }
    }

    /// Where the two option sets differ, each caller keeps its reading.
    #[test]
    fn the_callers_differ_in_case_escapes_and_units() {
        // Case: modaliases are case-sensitive, loader.conf ids are not.
        assert!(!matches("pci:v00001af4*", "pci:v00001AF4d00001001", MODALIAS));
        assert!(matches("Fedora-*", "fedora-6.5", LOADER_CONF));
        assert!(matches("[A-C]x", "bX", LOADER_CONF));
        assert!(!matches("[A-C]x", "bx", MODALIAS));
        // Escapes: fnmatch's `\*` is a literal star; in loader.conf `\` is itself.
        assert!(matches("a\\*", "a*", MODALIAS));
        assert!(!matches("a\\*", "a*", LOADER_CONF));
        assert!(matches("a\\*", "a\\bc", LOADER_CONF));
        assert!(matches("a\\", "a\\", MODALIAS));
        assert!(matches("[\\]", "\\", MODALIAS));
        // Units: `?` is one byte for modprobe, one character for systemd-boot.
        assert!(!matches("a?c", "aéc", MODALIAS));
        assert!(matches("a??c", "aéc", MODALIAS));
        assert!(matches("a?c", "aéc", LOADER_CONF));
        assert!(!matches("a??c", "aéc", LOADER_CONF));
        assert!(matches("[α-ω]", "β", LOADER_CONF));
        assert!(!matches("[α-ω]", "β", MODALIAS));
        // What both agree on.
        for o in [MODALIAS, LOADER_CONF] {
            assert!(matches("[!]]", "a", o));
            assert!(!matches("[!]]", "]", o));
            assert!(matches("[a-]", "-", o));
            assert!(matches("[]-a]", "^", o));
            assert!(!matches("[z-a]", "m", o));
            assert!(matches("[!", "[!", o));
            assert!(matches("*é*", "xéx", o));
        }
    }

    /// Hostile patterns take at most (pattern + text) × text steps, and the
    /// usual ones a small multiple of the text: no exponential backtracking.
    #[test]
    fn work_is_bounded() {
        let long = "a".repeat(100_000);
        for o in [MODALIAS, LOADER_CONF] {
            let (hit, steps) = run("*a*a*a*a*a*a*a*b", &long, o);
            assert!(!hit);
            assert!(steps <= 3 * long.len(), "{steps} steps");
            let (hit, steps) = run("*a*a*a*a*a*a*a*a", &long, o);
            assert!(hit);
            assert!(steps <= 3 * long.len(), "{steps} steps");
            // One `*` before a long tail: every start is tried, each a tail long.
            let tail = format!("*{}b", "a".repeat(50));
            let text = "a".repeat(10_000);
            let (hit, steps) = run(&tail, &text, o);
            assert!(!hit);
            assert!(steps <= 52 * text.len(), "{steps} steps");
            let (hit, steps) = run(&"*".repeat(10_000), &text, o);
            assert!(hit);
            assert!(steps <= 10_000 + text.len() + 1, "{steps} steps");
        }
    }
}
