//! The kernel command line a `linux` line makes.

/// The kernel command line GRUB 2.06 builds from the `linux` arguments after
/// the kernel: arguments joined by one space (an empty argument still gets
/// its separator), `\`, `'` and `"` escaped with a backslash, an argument
/// containing a space wrapped in double quotes. (Checked with grub-emu:
/// `a "${empty}" b ""` gives `a  b `; `'a b' 'c"d' e\\f` gives
/// `"a b" c\"d e\\f`.) GRUB puts `BOOT_IMAGE=<kernel> ` in front; this does not.
pub fn loader_cmdline(args: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let quote = a.contains(' ');
        if quote {
            out.push('"');
        }
        let mut chars = a.chars().peekable();
        while let Some(c) = chars.next() {
            // Red Hat's GRUB passes `\xHH` through (see `uroot-centos7-dvd`).
            let hex_escape = c == '\\' && {
                let mut la = chars.clone();
                la.next() == Some('x')
                    && la.next().is_some_and(|c| c.is_ascii_hexdigit())
                    && la.next().is_some_and(|c| c.is_ascii_hexdigit())
            };
            if matches!(c, '\\' | '\'' | '"') && !hex_escape {
                out.push('\\');
            }
            out.push(c);
        }
        if quote {
            out.push('"');
        }
    }
    out
}
