//! The lexer: script text to tokens, that is words (read with the quoting
//! rules in the parent module's doc) and command ends.

use super::{Part, Word};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(Word, usize),
    /// `;` (false) or a newline (true), with the line it ends.
    End(usize, bool),
    /// Text GRUB's lexer rejects; the parser reports it as a syntax error.
    Err(usize, String),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// What follows a `$`.
enum VarRef {
    /// A variable name.
    Name(String),
    /// Not a variable: the `$` is literal text.
    Literal,
    /// Something GRUB's lexer rejects (`${`, `${a b}`, `$(`, a lone `$`).
    Bad,
}

/// Splits a script into tokens. Text GRUB's lexer rejects becomes a
/// [`Tok::Err`]; an unterminated quote swallows the rest of the input (GRUB
/// keeps reading lines looking for the closing quote) and ends the tokens.
pub(super) fn lex(src: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut it = src.chars().peekable();
    let mut line = 1usize;
    while let Some(&c) = it.peek() {
        match c {
            ' ' | '\t' | '\r' => {
                it.next();
            }
            '\n' => {
                it.next();
                toks.push(Tok::End(line, true));
                line += 1;
            }
            ';' => {
                it.next();
                if it.peek() == Some(&';') {
                    it.next();
                    toks.push(Tok::Err(line, "unexpected `;;`".into()));
                } else {
                    toks.push(Tok::End(line, false));
                }
            }
            // GRUB's lexer makes `{` and `}` tokens wherever they appear unquoted.
            '{' | '}' => {
                it.next();
                toks.push(Tok::Word(Word(vec![Part::Lit(c.to_string(), false)]), line));
            }
            '#' => {
                while it.peek().is_some_and(|c| *c != '\n') {
                    it.next();
                }
            }
            '\\' if {
                let mut la = it.clone();
                la.next();
                la.peek() == Some(&'\n')
            } =>
            {
                it.next();
                it.next();
                line += 1;
            }
            _ => {
                let start_line = line;
                let mut parts: Vec<Part> = Vec::new();
                let mut bad: Option<String> = None;
                let push_lit = |parts: &mut Vec<Part>, ch: char, quoted: bool| match parts.last_mut() {
                    Some(Part::Lit(s, q)) if *q == quoted => s.push(ch),
                    _ => parts.push(Part::Lit(ch.to_string(), quoted)),
                };
                while let Some(&c) = it.peek() {
                    match c {
                        ' ' | '\t' | '\r' | '\n' | ';' | '{' | '}' => break,
                        // Redirections and pipes: tokens GRUB's grammar has no rule for.
                        '|' | '&' | '<' | '>' => {
                            it.next();
                            bad.get_or_insert_with(|| format!("unexpected `{c}`"));
                        }
                        '\\' => {
                            it.next();
                            // `\xHH` stays as written: Red Hat's GRUB keeps these
                            // escapes for the kernel command line (Debian's drops the `\`).
                            let mut la = it.clone();
                            if la.next() == Some('x')
                                && la.next().is_some_and(|c| c.is_ascii_hexdigit())
                                && la.next().is_some_and(|c| c.is_ascii_hexdigit())
                            {
                                push_lit(&mut parts, '\\', true);
                                continue;
                            }
                            match it.next() {
                                Some('\n') => line += 1,
                                Some(e) => push_lit(&mut parts, e, true),
                                None => {}
                            }
                        }
                        '\'' => {
                            it.next();
                            let mut closed = false;
                            // An empty '' still makes a (quoted, empty) word.
                            parts.push(Part::Lit(String::new(), true));
                            for q in it.by_ref() {
                                if q == '\'' {
                                    closed = true;
                                    break;
                                }
                                if q == '\n' {
                                    line += 1;
                                }
                                push_lit(&mut parts, q, true);
                            }
                            if !closed {
                                toks.push(Tok::Err(start_line, "unterminated single quote".into()));
                                return toks;
                            }
                        }
                        '"' => {
                            it.next();
                            parts.push(Part::Lit(String::new(), true));
                            let mut closed = false;
                            while let Some(q) = it.next() {
                                match q {
                                    '"' => {
                                        closed = true;
                                        break;
                                    }
                                    '\\' => match it.peek().copied() {
                                        Some('\n') => {
                                            it.next();
                                            line += 1;
                                        }
                                        Some(e @ ('$' | '"' | '\\')) => {
                                            it.next();
                                            push_lit(&mut parts, e, true);
                                        }
                                        _ => push_lit(&mut parts, '\\', true),
                                    },
                                    '$' => match read_var(&mut it) {
                                        VarRef::Name(v) => parts.push(Part::Var(v, true)),
                                        VarRef::Literal => push_lit(&mut parts, '$', true),
                                        VarRef::Bad => {
                                            bad.get_or_insert_with(|| "bad variable reference".into());
                                        }
                                    },
                                    '\n' => {
                                        line += 1;
                                        push_lit(&mut parts, '\n', true);
                                    }
                                    other => push_lit(&mut parts, other, true),
                                }
                            }
                            if !closed {
                                toks.push(Tok::Err(start_line, "unterminated double quote".into()));
                                return toks;
                            }
                        }
                        '$' => {
                            it.next();
                            match read_var(&mut it) {
                                VarRef::Name(v) => parts.push(Part::Var(v, false)),
                                VarRef::Literal => push_lit(&mut parts, '$', false),
                                VarRef::Bad => {
                                    bad.get_or_insert_with(|| "bad variable reference".into());
                                }
                            }
                        }
                        other => {
                            it.next();
                            push_lit(&mut parts, other, false);
                        }
                    }
                }
                match bad {
                    Some(msg) => toks.push(Tok::Err(start_line, msg)),
                    None => toks.push(Tok::Word(Word(parts), start_line)),
                }
            }
        }
    }
    toks.push(Tok::End(line, true));
    toks
}

/// Reads what follows `$`: `{name}`, a name, or one of `? # @ *`.
/// (Checked with grub-emu 2.06: `$`, `${}`, `${a b}`, `${a-b}`, `$(a)` are
/// syntax errors. Positional parameters are digits only, so `$1x` is `$1`
/// then `x`.)
fn read_var(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> VarRef {
    let Some(c) = it.peek().copied() else {
        return VarRef::Bad;
    };
    match c {
        '{' => {
            it.next();
            let mut name = String::new();
            while let Some(&c) = it.peek() {
                if c == '}' {
                    it.next();
                    let ok = !name.is_empty()
                        && (name.chars().all(is_name_char) || matches!(name.as_str(), "?" | "#" | "@" | "*"));
                    return if ok { VarRef::Name(name) } else { VarRef::Bad };
                }
                if c == '\n' || c == '"' {
                    return VarRef::Bad;
                }
                name.push(c);
                it.next();
            }
            VarRef::Bad
        }
        '?' | '#' | '@' | '*' => {
            it.next();
            VarRef::Name(c.to_string())
        }
        c if c.is_ascii_digit() => {
            let mut name = String::new();
            while let Some(&c) = it.peek() {
                if !c.is_ascii_digit() {
                    break;
                }
                name.push(c);
                it.next();
            }
            VarRef::Name(name)
        }
        c if is_name_char(c) => {
            let mut name = String::new();
            while let Some(&c) = it.peek() {
                if !is_name_char(c) {
                    break;
                }
                name.push(c);
                it.next();
            }
            VarRef::Name(name)
        }
        ' ' | '\t' | '\r' | '\n' | ';' | '(' => VarRef::Bad,
        _ => VarRef::Literal,
    }
}
