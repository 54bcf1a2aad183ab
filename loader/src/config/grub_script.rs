//! GRUB 2 script syntax: words with GRUB's quoting rules and the command
//! structure (`if`/`elif`/`else`/`fi`, `menuentry`/`submenu`/`function`
//! blocks, `for`/`while`/`until` loops). The GRUB manual, section "Shell-like
//! scripting", is the reference; this is our own implementation.
//!
//! Quoting: `\` escapes any character outside quotes; single quotes keep
//! everything literally; inside double quotes only `$` expands and `\` is
//! special before `$`, `"`, `\` and newline.

/// Deepest block nesting accepted (guards the recursive parser).
const MAX_DEPTH: usize = 64;

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text; `quoted` when it came from quotes or an escape.
    Lit(String, bool),
    /// `$name` / `${name}`; `quoted` inside double quotes (no field splitting).
    Var(String, bool),
}

/// A word: the parts it is made of, joined on expansion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word(pub Vec<Part>);

impl Word {
    /// Whether the word is exactly the unquoted literal `s` (a keyword).
    pub fn is(&self, s: &str) -> bool {
        matches!(self.0.as_slice(), [Part::Lit(l, false)] if l == s)
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `name args…`
    Simple {
        /// The words, name first.
        words: Vec<Word>,
        /// 1-based line.
        line: usize,
    },
    /// `if LIST; then LIST; [elif LIST; then LIST;]… [else LIST;] fi`
    If {
        /// (condition, body) pairs: the `if` and each `elif`.
        branches: Vec<(Vec<Cmd>, Vec<Cmd>)>,
        /// The `else` body.
        otherwise: Vec<Cmd>,
    },
    /// `menuentry ARGS { BODY }` or `submenu ARGS { BODY }`.
    Menu {
        /// `true` for `submenu`.
        submenu: bool,
        /// Arguments: title and options.
        args: Vec<Word>,
        /// The body, run when the entry is chosen.
        body: Vec<Cmd>,
        /// 1-based line.
        line: usize,
    },
    /// `function NAME { BODY }`
    Function {
        /// Function name.
        name: String,
        /// Body.
        body: Vec<Cmd>,
    },
    /// `for`/`while`/`until` — parsed so the rest of the file stays in step.
    Loop {
        /// Keyword that opened it.
        kind: String,
        /// 1-based line.
        line: usize,
    },
}

/// A syntax error with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Word, usize),
    End(usize), // newline or ';'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Result<Vec<Tok>, SyntaxError> {
    let mut toks = Vec::new();
    let mut it = src.chars().peekable();
    let mut line = 1usize;
    let err = |line, msg: &str| SyntaxError {
        line,
        msg: msg.to_string(),
    };
    while let Some(&c) = it.peek() {
        match c {
            ' ' | '\t' | '\r' => {
                it.next();
            }
            '\n' => {
                it.next();
                toks.push(Tok::End(line));
                line += 1;
            }
            ';' => {
                it.next();
                toks.push(Tok::End(line));
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
                let push_lit = |parts: &mut Vec<Part>, ch: char, quoted: bool| match parts.last_mut() {
                    Some(Part::Lit(s, q)) if *q == quoted => s.push(ch),
                    _ => parts.push(Part::Lit(ch.to_string(), quoted)),
                };
                while let Some(&c) = it.peek() {
                    match c {
                        ' ' | '\t' | '\r' | '\n' | ';' | '{' | '}' => break,
                        '\\' => {
                            it.next();
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
                                return Err(err(start_line, "unterminated single quote"));
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
                                        Some(v) => parts.push(Part::Var(v, true)),
                                        None => push_lit(&mut parts, '$', true),
                                    },
                                    '\n' => {
                                        line += 1;
                                        push_lit(&mut parts, '\n', true);
                                    }
                                    other => push_lit(&mut parts, other, true),
                                }
                            }
                            if !closed {
                                return Err(err(start_line, "unterminated double quote"));
                            }
                        }
                        '$' => {
                            it.next();
                            match read_var(&mut it) {
                                Some(v) => parts.push(Part::Var(v, false)),
                                None => push_lit(&mut parts, '$', false),
                            }
                        }
                        other => {
                            it.next();
                            push_lit(&mut parts, other, false);
                        }
                    }
                }
                toks.push(Tok::Word(Word(parts), start_line));
            }
        }
    }
    toks.push(Tok::End(line));
    Ok(toks)
}

/// Reads a variable name after `$`: `{name}`, a name, or one of `? # @ *`.
fn read_var(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    match it.peek().copied()? {
        '{' => {
            let mut la = it.clone();
            la.next();
            let mut name = String::new();
            for c in la.by_ref() {
                if c == '}' {
                    *it = la;
                    return Some(name);
                }
                if c == '\n' {
                    return None;
                }
                name.push(c);
            }
            None
        }
        c @ ('?' | '#' | '@' | '*') => {
            it.next();
            Some(c.to_string())
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
            Some(name)
        }
        _ => None,
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

const KEYWORDS: &[&str] = &["then", "elif", "else", "fi", "}", "do", "done"];

impl Parser {
    fn peek_word(&self) -> Option<&Word> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w, _)) => Some(w),
            _ => None,
        }
    }

    fn line(&self) -> usize {
        match self.toks.get(self.pos).or(self.toks.last()) {
            Some(Tok::Word(_, l)) | Some(Tok::End(l)) => *l,
            None => 0,
        }
    }

    fn skip_ends(&mut self) {
        while matches!(self.toks.get(self.pos), Some(Tok::End(_))) {
            self.pos += 1;
        }
    }

    /// Parses commands until one of `stops` starts a command (not consumed)
    /// or input ends (an error if `stops` is not empty).
    fn list(&mut self, stops: &[&str]) -> Result<Vec<Cmd>, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                line: self.line(),
                msg: "blocks nested too deeply".into(),
            });
        }
        let mut out = Vec::new();
        loop {
            self.skip_ends();
            let Some(w) = self.peek_word() else {
                if stops.is_empty() {
                    break;
                }
                return Err(SyntaxError {
                    line: self.line(),
                    msg: format!("missing `{}`", stops.join("` or `")),
                });
            };
            if let Some(k) = stops.iter().find(|k| w.is(k)) {
                let _ = k;
                break;
            }
            if let Some(k) = KEYWORDS.iter().find(|k| w.is(k)) {
                return Err(SyntaxError {
                    line: self.line(),
                    msg: format!("unexpected `{k}`"),
                });
            }
            out.push(self.command()?);
        }
        self.depth -= 1;
        Ok(out)
    }

    fn expect(&mut self, kw: &str) -> Result<(), SyntaxError> {
        self.skip_ends();
        match self.peek_word() {
            Some(w) if w.is(kw) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(SyntaxError {
                line: self.line(),
                msg: format!("expected `{kw}`"),
            }),
        }
    }

    fn words_to_end(&mut self) -> Vec<Word> {
        let mut words = Vec::new();
        while let Some(Tok::Word(w, _)) = self.toks.get(self.pos) {
            if w.is("}") && !words.is_empty() {
                break;
            }
            words.push(w.clone());
            self.pos += 1;
        }
        words
    }

    fn command(&mut self) -> Result<Cmd, SyntaxError> {
        let line = self.line();
        let first = self.peek_word().cloned().unwrap_or_default();
        if first.is("if") {
            self.pos += 1;
            let mut branches = Vec::new();
            let mut otherwise = Vec::new();
            loop {
                let cond = self.list(&["then"])?;
                self.expect("then")?;
                let body = self.list(&["elif", "else", "fi"])?;
                branches.push((cond, body));
                if self.peek_word().is_some_and(|w| w.is("elif")) {
                    self.pos += 1;
                    continue;
                }
                if self.peek_word().is_some_and(|w| w.is("else")) {
                    self.pos += 1;
                    otherwise = self.list(&["fi"])?;
                }
                self.expect("fi")?;
                break;
            }
            return Ok(Cmd::If { branches, otherwise });
        }
        if first.is("menuentry") || first.is("submenu") {
            self.pos += 1;
            let mut args = Vec::new();
            loop {
                match self.toks.get(self.pos) {
                    Some(Tok::Word(w, _)) if w.is("{") => {
                        self.pos += 1;
                        break;
                    }
                    Some(Tok::Word(w, _)) => {
                        args.push(w.clone());
                        self.pos += 1;
                    }
                    _ => {
                        return Err(SyntaxError {
                            line,
                            msg: "menuentry without `{`".into(),
                        })
                    }
                }
            }
            let body = self.list(&["}"])?;
            self.expect("}")?;
            return Ok(Cmd::Menu {
                submenu: first.is("submenu"),
                args,
                body,
                line,
            });
        }
        if first.is("function") {
            self.pos += 1;
            let name = match self.peek_word() {
                Some(Word(p)) => match p.as_slice() {
                    [Part::Lit(n, _)] => n.clone(),
                    _ => {
                        return Err(SyntaxError {
                            line,
                            msg: "bad function name".into(),
                        })
                    }
                },
                None => {
                    return Err(SyntaxError {
                        line,
                        msg: "function without a name".into(),
                    })
                }
            };
            self.pos += 1;
            self.expect("{")?;
            let body = self.list(&["}"])?;
            self.expect("}")?;
            return Ok(Cmd::Function { name, body });
        }
        if first.is("for") || first.is("while") || first.is("until") {
            self.pos += 1;
            let kind = ["for", "while", "until"]
                .into_iter()
                .find(|k| first.is(k))
                .unwrap_or("for");
            // Skip the header and the body up to the matching `done`.
            self.words_to_end();
            self.list(&["do"])?;
            self.expect("do")?;
            self.list(&["done"])?;
            self.expect("done")?;
            return Ok(Cmd::Loop {
                kind: kind.to_string(),
                line,
            });
        }
        let words = self.words_to_end();
        Ok(Cmd::Simple { words, line })
    }
}

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Vec<Cmd>, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0, depth: 0 };
    p.list(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Lit(s.into(), false)
    }

    #[test]
    fn quoting_rules() {
        let cmds = parse(r#"set a='x $y' b="1 $z\$ \q" c=d\ e ${f}g"#).unwrap();
        let Cmd::Simple { words, .. } = &cmds[0] else { panic!() };
        assert_eq!(words[1].0, vec![lit("a="), Part::Lit("x $y".into(), true)]);
        assert_eq!(
            words[2].0,
            vec![
                lit("b="),
                Part::Lit("1 ".into(), true),
                Part::Var("z".into(), true),
                Part::Lit("$ \\q".into(), true)
            ]
        );
        assert_eq!(words[3].0, vec![lit("c=d"), Part::Lit(" ".into(), true), lit("e")]);
        assert_eq!(words[4].0, vec![Part::Var("f".into(), false), lit("g")]);
    }

    #[test]
    fn blocks() {
        let src = "if [ -s $prefix/grubenv ]; then\n  load_env\nfi\nmenuentry 'A' --id a {\n linux /v root=x\n}\nsubmenu 'S' { menuentry 'B' { true; } }\n";
        let cmds = parse(src).unwrap();
        assert_eq!(cmds.len(), 3);
        assert!(matches!(&cmds[0], Cmd::If { branches, .. } if branches.len() == 1));
        assert!(matches!(&cmds[1], Cmd::Menu { submenu: false, body, .. } if body.len() == 1));
        assert!(matches!(&cmds[2], Cmd::Menu { submenu: true, body, .. } if matches!(&body[0], Cmd::Menu { .. })));
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(parse("set a=1\nmenuentry 'x' {\n").unwrap_err().line, 3);
        assert_eq!(parse("echo 'abc\n\n").unwrap_err().line, 1);
        assert!(parse("fi").is_err());
        assert!(parse(&"if true; then ".repeat(100)).is_err());
    }

    #[test]
    fn comments_and_continuations() {
        let cmds = parse("# c\nlinux /v \\\n  ro # trailing\n").unwrap();
        let Cmd::Simple { words, .. } = &cmds[0] else { panic!() };
        assert_eq!(words.len(), 3);
    }
}
