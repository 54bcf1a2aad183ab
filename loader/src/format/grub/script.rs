//! GRUB 2 script syntax: words with GRUB's quoting rules and the command
//! structure (`if`/`elif`/`else`/`fi`, `menuentry`/`submenu`/`function`
//! blocks, `for`/`while`/`until` loops). The GRUB manual, section "Shell-like
//! scripting", is the reference; this is our own implementation.
//!
//! Quoting: `\` escapes any character outside quotes; single quotes keep
//! everything literally; inside double quotes only `$` expands and `\` is
//! special before `$`, `"`, `\` and newline.

mod lex;

use lex::{lex, Tok};

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
    /// `for NAME in WORDS; do BODY; done`
    For {
        /// The loop variable.
        var: String,
        /// The words after `in`, expanded when the loop runs.
        words: Vec<Word>,
        /// The body.
        body: Vec<Cmd>,
        /// 1-based line.
        line: usize,
    },
    /// `while COND; do BODY; done` (or `until`, which runs while COND fails).
    While {
        /// `true` for `until`.
        until: bool,
        /// The condition list; its last status decides.
        cond: Vec<Cmd>,
        /// The body.
        body: Vec<Cmd>,
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
            Some(Tok::Word(_, l)) | Some(Tok::End(l, _)) | Some(Tok::Err(l, _)) => *l,
            None => 0,
        }
    }

    /// The lexer's error at the current token, if it is one.
    fn lex_error(&self) -> Option<SyntaxError> {
        match self.toks.get(self.pos) {
            Some(Tok::Err(line, msg)) => Some(SyntaxError {
                line: *line,
                msg: msg.clone(),
            }),
            _ => None,
        }
    }

    fn error(&self, msg: String) -> SyntaxError {
        self.lex_error().unwrap_or(SyntaxError { line: self.line(), msg })
    }

    fn skip_ends(&mut self) {
        while matches!(self.toks.get(self.pos), Some(Tok::End(..))) {
            self.pos += 1;
        }
    }

    /// Parses commands until one of `stops` starts a command (not consumed)
    /// or input ends (an error if `stops` is not empty).
    fn list(&mut self, stops: &[&str]) -> Result<Vec<Cmd>, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("blocks nested too deeply".into()));
        }
        let mut out = Vec::new();
        loop {
            self.skip_ends();
            let Some(w) = self.peek_word() else {
                if stops.is_empty() && self.pos >= self.toks.len() {
                    break;
                }
                return Err(self.error(format!("missing `{}`", stops.join("` or `"))));
            };
            if stops.iter().any(|k| w.is(k)) {
                break;
            }
            if let Some(k) = KEYWORDS.iter().find(|k| w.is(k)) {
                return Err(self.error(format!("unexpected `{k}`")));
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
            _ => Err(self.error(format!("expected `{kw}`"))),
        }
    }

    /// The words of a simple command, up to `;`/newline (or a `}` closing a block).
    fn words_to_end(&mut self) -> Result<Vec<Word>, SyntaxError> {
        let mut words = Vec::new();
        while let Some(Tok::Word(w, _)) = self.toks.get(self.pos) {
            if w.is("}") && !words.is_empty() {
                break;
            }
            words.push(w.clone());
            self.pos += 1;
        }
        match self.lex_error() {
            Some(e) => Err(e),
            None => Ok(words),
        }
    }

    /// A literal word (a function or loop variable name).
    fn name(&mut self, what: &str) -> Result<String, SyntaxError> {
        let name = match self.peek_word().map(|w| w.0.as_slice()) {
            Some([Part::Lit(n, _)]) if !n.is_empty() => n.clone(),
            _ => return Err(self.error(format!("bad {what}"))),
        };
        self.pos += 1;
        Ok(name)
    }

    fn command(&mut self) -> Result<Cmd, SyntaxError> {
        let line = self.line();
        if let Some(e) = self.lex_error() {
            return Err(e);
        }
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
                    _ => return Err(self.error("menuentry without `{`".into())),
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
            let name = self.name("function name")?;
            self.expect("{")?;
            let body = self.list(&["}"])?;
            self.expect("}")?;
            return Ok(Cmd::Function { name, body });
        }
        if first.is("for") {
            self.pos += 1;
            let var = self.name("`for` variable")?;
            match self.peek_word() {
                Some(w) if w.is("in") => self.pos += 1,
                _ => return Err(self.error("expected `in`".into())),
            }
            let words = self.words_to_end()?;
            self.expect("do")?;
            let body = self.list(&["done"])?;
            self.expect("done")?;
            return Ok(Cmd::For { var, words, body, line });
        }
        if first.is("while") || first.is("until") {
            self.pos += 1;
            let cond = self.list(&["do"])?;
            self.expect("do")?;
            let body = self.list(&["done"])?;
            self.expect("done")?;
            return Ok(Cmd::While {
                until: first.is("until"),
                cond,
                body,
                line,
            });
        }
        let words = self.words_to_end()?;
        Ok(Cmd::Simple { words, line })
    }

    /// One unit as GRUB's normal mode reads it: the commands of one line, or
    /// of as many lines as it takes to close the blocks opened on it.
    fn unit(&mut self) -> Result<Vec<Cmd>, SyntaxError> {
        self.depth = 0;
        let mut cmds = Vec::new();
        loop {
            while matches!(self.toks.get(self.pos), Some(Tok::End(_, false))) {
                self.pos += 1;
            }
            match self.toks.get(self.pos) {
                None => return Ok(cmds),
                Some(Tok::End(_, true)) => {
                    self.pos += 1;
                    return Ok(cmds);
                }
                Some(Tok::Word(w, _)) if KEYWORDS.iter().any(|k| w.is(k)) => {
                    return Err(self.error(format!("unexpected `{}`", word_text(w))));
                }
                _ => cmds.push(self.command()?),
            }
        }
    }

    /// After an error: drops the rest of the line the error is on.
    fn skip_line(&mut self, line: usize) {
        while let Some(t) = self.toks.get(self.pos) {
            self.pos += 1;
            if matches!(t, Tok::End(l, true) if *l >= line) {
                break;
            }
        }
    }
}

fn word_text(w: &Word) -> String {
    w.0.iter()
        .map(|p| match p {
            Part::Lit(s, _) => s.as_str(),
            Part::Var(..) => "$",
        })
        .collect()
}

/// Parses a whole script the way GRUB reads it, a unit (a line, or the lines
/// of a block) at a time: a unit with a syntax error is dropped with the rest
/// of the line the error is on, and reading resumes on the next line. (Checked
/// with grub-emu 2.06: `set t=5 ; echo < ; set s=6` sets neither; a bad line
/// inside an `if` block drops the block and the lines after the bad one run
/// at the top level; an unterminated quote swallows the rest of the file.)
pub fn parse_recovering(src: &str) -> (Vec<Cmd>, Vec<SyntaxError>) {
    let mut p = Parser {
        toks: lex(src),
        pos: 0,
        depth: 0,
    };
    let mut cmds = Vec::new();
    let mut errors = Vec::new();
    while p.pos < p.toks.len() {
        let start = p.pos;
        match p.unit() {
            Ok(mut unit) => cmds.append(&mut unit),
            Err(e) => {
                p.skip_line(e.line);
                errors.push(e);
            }
        }
        if p.pos == start {
            // Cannot happen (every unit consumes a token); never loop forever.
            p.pos += 1;
        }
    }
    (cmds, errors)
}

/// Parses a whole script; the first syntax error fails it.
pub fn parse(src: &str) -> Result<Vec<Cmd>, SyntaxError> {
    let (cmds, mut errors) = parse_recovering(src);
    if errors.is_empty() {
        Ok(cmds)
    } else {
        Err(errors.swap_remove(0))
    }
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
    fn loops_parse() {
        let cmds =
            parse("for k in a $b; do echo $k; done\nwhile false; do break; done\nuntil true\ndo\n:\ndone").unwrap();
        assert!(
            matches!(&cmds[0], Cmd::For { var, words, body, .. } if var == "k" && words.len() == 2 && body.len() == 1)
        );
        assert!(matches!(&cmds[1], Cmd::While { until: false, .. }));
        assert!(matches!(&cmds[2], Cmd::While { until: true, body, .. } if body.len() == 1));
        assert!(parse("for k a b; do x; done").is_err());
        assert!(parse("for k in a; do x").is_err());
    }

    // Expectations checked with grub-emu 2.06: these are syntax errors there.
    #[test]
    fn lexer_rejects_what_grub_rejects() {
        for bad in [
            "echo a|b",
            "echo a > b",
            "echo a<b",
            "echo a && b",
            "echo ;;",
            "echo $",
            "echo ${}",
            "echo ${a b}",
            "echo \"${a-b}\"",
            "echo $(a)",
            "echo }",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for good in [
            "echo !",
            "echo ( a )",
            "echo then fi",
            "echo {",
            "echo a=b",
            "echo $1x",
            "echo $?x",
            "x=1",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
    }

    // Checked with grub-emu 2.06: an error drops its whole line (all the
    // `;`-separated commands on it) and the unit it is in; an error inside a
    // multi-line block drops the block, and the following lines run at the
    // top level; an unterminated quote swallows the rest of the file.
    #[test]
    fn recovery_line_by_line() {
        let src = "set a=1\nset x=1 <\nif true; then\n set y=1\n echo a < b\n set z=2\nfi\nset t=5 ; echo < ; set s=6\nset v=3\necho 'open\nset w=4\n";
        let (cmds, errors) = parse_recovering(src);
        let names: Vec<String> = cmds
            .iter()
            .filter_map(|c| match c {
                Cmd::Simple { words, .. } => words.get(1).map(word_text),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["a=1", "z=2", "v=3"]);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 5, 7, 8, 10]);
    }

    #[test]
    fn comments_and_continuations() {
        let cmds = parse("# c\nlinux /v \\\n  ro # trailing\n").unwrap();
        let Cmd::Simple { words, .. } = &cmds[0] else { panic!() };
        assert_eq!(words.len(), 3);
    }
}
