//! Man pages and bash completion made from a program's own `--help` text, so that
//! neither can drift from the binary: `make deb` runs the built binaries' `--help`
//! through `hopboot-helpdoc` (scripts/build-deb.sh). Nothing here is in the hopboot
//! binary.
//!
//! Two shapes of help text are understood:
//! - **commands** (hopboot's): a header line, then one line per command,
//!   `  hopboot CMD [OPTIONS...]` (an inline description may follow after two
//!   spaces), each followed by its description lines, indented deeper;
//! - **options** (hopboot-image-build's): `Usage:` lines, paragraphs, and
//!   sections (`Options:`, `Profiles ...:`) whose option lines are
//!   `  --name ARG   description`, continued on deeper-indented lines.
//!
//! The man page's prose (NAME, DESCRIPTION, FILES, SEE ALSO) is a template written
//! by hand (dist/man/*.in); the generated parts replace its `@...@` lines.

use anyhow::{bail, Result};

/// One command of a commands-style help text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command word (`probe`).
    pub name: String,
    /// What follows the command word on its line (`[--json] [-v] [PATH...]`).
    pub synopsis: String,
    /// Its description, line by line as written (an inline one first).
    pub description: Vec<String>,
    /// Options named in the synopsis, in order.
    pub options: Vec<Opt>,
    /// Positional arguments named in the synopsis (`PATH...`, `ENTRY`).
    pub positionals: Vec<String>,
}

/// An option of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    /// Its spellings (`-v`, or `-v` and `--verbose` for `-v|--verbose`).
    pub names: Vec<String>,
    /// The argument it takes, if any (`ARGS` for `--append ARGS`).
    pub arg: Option<String>,
}

/// Parses a commands-style help text: the commands of `program`, in order.
///
/// A command line is a line whose first word is `program` followed by a
/// command word; the first one fixes the commands' indentation. Lines indented
/// deeper belong to the command above: lines starting with `[` right under it
/// continue its synopsis, the others describe it; anything else (a header such
/// as `usage:`) is skipped.
pub fn parse_commands(help: &str, program: &str) -> Result<Vec<Command>> {
    let mut commands: Vec<Command> = Vec::new();
    let mut indent: Option<usize> = None;
    for line in help.lines() {
        let text = line.trim_start();
        let depth = line.len() - text.len();
        let words: Vec<&str> = text.split_whitespace().collect();
        let is_command = words.len() >= 2
            && words.first() == Some(&program)
            && indent.is_none_or(|i| depth <= i)
            && words.get(1).is_some_and(|w| !w.starts_with('-'));
        if is_command {
            indent = Some(depth);
            let rest = text[program.len()..].trim_start();
            let (name, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            // An inline description starts after a run of two or more spaces
            // (right after the command word when it has no arguments).
            let (synopsis, inline) = if after.starts_with(char::is_whitespace) {
                (String::new(), Some(after.trim().to_owned()).filter(|d| !d.is_empty()))
            } else {
                match after.split_once("  ") {
                    Some((s, d)) => (s.trim().to_owned(), Some(d.trim().to_owned())),
                    None => (after.trim().to_owned(), None),
                }
            };
            let (options, positionals) = parse_synopsis(&synopsis);
            commands.push(Command {
                name: name.to_owned(),
                synopsis,
                description: inline.into_iter().collect(),
                options,
                positionals,
            });
        } else if let (Some(i), Some(cmd)) = (indent, commands.last_mut()) {
            if depth > i && !text.is_empty() {
                // A synopsis too long for one line goes on under it, before the
                // description: `               [--kexec-file] [--systemd] [-v]`.
                if cmd.description.is_empty() && text.starts_with('[') {
                    cmd.synopsis = format!("{} {text}", cmd.synopsis).trim().to_owned();
                    (cmd.options, cmd.positionals) = parse_synopsis(&cmd.synopsis);
                } else {
                    cmd.description.push(text.to_owned());
                }
            }
        }
    }
    if commands.is_empty() {
        bail!("no command lines (`  {program} COMMAND ...`) in the help text");
    }
    Ok(commands)
}

/// Splits a synopsis into options and positional arguments. An option's
/// argument is the next word in the same `[...]` group (`[--append ARGS]`);
/// `-v|--verbose` is one option with two spellings.
pub fn parse_synopsis(synopsis: &str) -> (Vec<Opt>, Vec<String>) {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut word = String::new();
    let flush_word = |word: &mut String, current: &mut Vec<String>| {
        if !word.is_empty() {
            current.push(std::mem::take(word));
        }
    };
    for c in synopsis.chars() {
        match c {
            '[' => {
                flush_word(&mut word, &mut current);
                if depth == 0 && !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
                depth += 1;
            }
            ']' => {
                flush_word(&mut word, &mut current);
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    groups.push(std::mem::take(&mut current));
                }
            }
            c if c.is_whitespace() => {
                flush_word(&mut word, &mut current);
                // Outside brackets each word stands alone.
                if depth == 0 && !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
            }
            c => word.push(c),
        }
    }
    flush_word(&mut word, &mut current);
    if !current.is_empty() {
        groups.push(current);
    }

    let mut options: Vec<Opt> = Vec::new();
    let mut positionals = Vec::new();
    for group in groups {
        let mut words = group.iter().peekable();
        while let Some(w) = words.next() {
            if w == "|" {
                continue;
            }
            let spellings: Vec<String> = w
                .split('|')
                .filter(|s| s.starts_with('-') && s.len() > 1)
                .map(str::to_owned)
                .collect();
            if spellings.is_empty() {
                positionals.push(w.trim_matches('|').to_owned());
                continue;
            }
            let arg = words
                .next_if(|n| !n.starts_with('-') && !n.starts_with('|'))
                .map(|n| n.to_owned());
            if !options.iter().any(|o| o.names == spellings) {
                options.push(Opt { names: spellings, arg });
            }
        }
    }
    (options, positionals)
}

/// Every option spelling (`-x`, `--long`) written anywhere in `text`.
pub fn options_in(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for raw in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        let long = raw
            .strip_prefix("--")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphanumeric()));
        let short = raw.len() == 2 && raw.starts_with('-') && raw[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        if (long || short) && !found.iter().any(|f| f == raw) {
            found.push(raw.to_owned());
        }
    }
    found
}

/// Text for roff: backslashes, hyphens (`\-`, so options print as ASCII
/// hyphen-minus), a leading `.` or `'`, characters outside ASCII (`\[u2026]`);
/// `` `code` `` spans become bold.
pub fn roff_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut bold = false;
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            // groff reads ASCII unless told otherwise: name other characters.
            c if !c.is_ascii() => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
            c => out.push(c),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// Description lines as roff: lines are joined into filled text, with a
/// line break after a line that ends a sentence or introduces something
/// (`.` or `:`), which keeps the help's grouping.
fn roff_lines(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(&roff_escape(line));
        out.push('\n');
        let ends = line.ends_with('.') || line.ends_with(':');
        if ends && i + 1 < lines.len() {
            out.push_str(".br\n");
        }
    }
    out
}

/// The SYNOPSIS lines of a commands-style page.
pub fn man_synopsis(program: &str, commands: &[Command]) -> String {
    let mut out = String::new();
    for (i, c) in commands.iter().enumerate() {
        if i > 0 {
            out.push_str(".br\n");
        }
        out.push_str(&format!(".B {} {}\n", roff_escape(program), roff_escape(&c.name)));
        if !c.synopsis.is_empty() {
            out.push_str(&roff_escape(&c.synopsis));
            out.push('\n');
        }
    }
    out
}

/// The COMMANDS section's body: one tagged paragraph per command.
pub fn man_commands(program: &str, commands: &[Command]) -> String {
    let mut out = String::new();
    for c in commands {
        out.push_str(".TP\n");
        let head = roff_escape(&format!("{program} {}", c.name));
        if c.synopsis.is_empty() {
            out.push_str(&format!(".B {head}\n"));
        } else {
            // One line as the tag: the command in bold, its arguments in roman.
            out.push_str(&format!("\\fB{head}\\fR {}\n", roff_escape(&c.synopsis)));
        }
        out.push_str(&roff_lines(&c.description));
    }
    out
}

/// An options-style help text (hopboot-image-build's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionsHelp {
    /// The usage lines, without `Usage:` (`hopboot-image-build --binary PATH ...`).
    pub usage: Vec<String>,
    /// Paragraphs before the first section, each a list of lines.
    pub paragraphs: Vec<Vec<String>>,
    /// Sections in order: title (without `:`) and body.
    pub sections: Vec<Section>,
}

/// One `Title:` section of an options-style help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The title as written, without the colon.
    pub title: String,
    /// Items: a term (`--binary PATH`, `minimal`) and its description lines.
    pub items: Vec<(String, Vec<String>)>,
    /// Lines that are not items (a note under the list).
    pub text: Vec<String>,
}

/// Parses an options-style help text.
pub fn parse_options_help(help: &str) -> Result<OptionsHelp> {
    let mut h = OptionsHelp::default();
    let mut para: Vec<String> = Vec::new();
    let mut in_usage = false;
    // Column where the current item's description starts.
    let mut item_col: Option<usize> = None;
    for line in help.lines() {
        let text = line.trim_start();
        let depth = line.len() - text.len();
        if text.is_empty() {
            if !para.is_empty() && h.sections.is_empty() {
                h.paragraphs.push(std::mem::take(&mut para));
            }
            in_usage = false;
            item_col = None;
            continue;
        }
        if let Some(u) = text.strip_prefix("Usage:").or_else(|| text.strip_prefix("usage:")) {
            h.usage.push(u.trim().to_owned());
            in_usage = true;
            continue;
        }
        if in_usage && depth > 0 {
            h.usage.push(text.to_owned());
            continue;
        }
        if depth == 0 && text.ends_with(':') {
            if !para.is_empty() {
                h.paragraphs.push(std::mem::take(&mut para));
            }
            h.sections.push(Section {
                title: text.trim_end_matches(':').to_owned(),
                items: Vec::new(),
                text: Vec::new(),
            });
            item_col = None;
            continue;
        }
        let Some(section) = h.sections.last_mut() else {
            para.push(text.to_owned());
            continue;
        };
        if depth == 0 {
            section.text.push(text.to_owned());
            continue;
        }
        // A continuation: indented to (or past) the description column.
        if let (Some(col), Some(item)) = (item_col, section.items.last_mut()) {
            if depth >= col {
                item.1.push(text.to_owned());
                continue;
            }
        }
        // An item: term, two or more spaces, description.
        match text.split_once("  ") {
            Some((term, desc)) => {
                let desc_trim = desc.trim_start();
                item_col = Some(line.len() - desc_trim.len());
                section.items.push((term.trim().to_owned(), vec![desc_trim.to_owned()]));
            }
            None => {
                item_col = None;
                section.items.push((text.to_owned(), Vec::new()));
            }
        }
    }
    if !para.is_empty() {
        if h.sections.is_empty() {
            h.paragraphs.push(para);
        } else if let Some(s) = h.sections.last_mut() {
            s.text.extend(para);
        }
    }
    if h.usage.is_empty() {
        bail!("no `Usage:` line in the help text");
    }
    Ok(h)
}

/// The SYNOPSIS of an options-style page.
pub fn man_usage(h: &OptionsHelp) -> String {
    let mut out = String::new();
    for (i, u) in h.usage.iter().enumerate() {
        if i > 0 {
            out.push_str(".br\n");
        }
        let (prog, rest) = u.split_once(' ').unwrap_or((u, ""));
        out.push_str(&format!(".B {}\n", roff_escape(prog)));
        if !rest.is_empty() {
            out.push_str(&roff_escape(rest));
            out.push('\n');
        }
    }
    out
}

/// DESCRIPTION paragraphs and the sections (`.SH` each) of an options-style page.
pub fn man_options(h: &OptionsHelp) -> String {
    let mut out = String::new();
    for p in &h.paragraphs {
        out.push_str(".PP\n");
        out.push_str(&roff_lines(p));
    }
    for s in &h.sections {
        out.push_str(&format!(".SH {}\n", roff_escape(&s.title.to_uppercase())));
        for (term, desc) in &s.items {
            out.push_str(".TP\n");
            out.push_str(&format!("\\fB{}\\fR\n", roff_escape(term)));
            out.push_str(&roff_lines(desc));
        }
        if !s.text.is_empty() {
            out.push_str(".PP\n");
            out.push_str(&roff_lines(&s.text));
        }
    }
    out
}

/// Values for a man page template.
pub struct ManPage<'a> {
    /// The template: roff with `@VERSION@`, `@DATE@` anywhere and the lines
    /// `@SYNOPSIS@` and `@BODY@` replaced by generated text.
    pub template: &'a str,
    /// The program's version.
    pub version: &'a str,
    /// The date (`YYYY-MM-DD`).
    pub date: &'a str,
    /// The generated SYNOPSIS lines.
    pub synopsis: String,
    /// The generated body.
    pub body: String,
}

/// Fills a man page template; fails when a placeholder line is missing.
pub fn fill_template(p: &ManPage) -> Result<String> {
    let mut out = String::new();
    let (mut saw_synopsis, mut saw_body) = (false, false);
    for line in p.template.lines() {
        match line.trim() {
            "@SYNOPSIS@" => {
                out.push_str(&p.synopsis);
                saw_synopsis = true;
            }
            "@BODY@" => {
                out.push_str(&p.body);
                saw_body = true;
            }
            _ => {
                out.push_str(&line.replace("@VERSION@", p.version).replace("@DATE@", p.date));
                out.push('\n');
            }
        }
    }
    if !saw_synopsis || !saw_body {
        bail!("the man page template needs the lines @SYNOPSIS@ and @BODY@");
    }
    Ok(out)
}

/// `YYYY-MM-DD` of a Unix time (UTC), for `SOURCE_DATE_EPOCH`.
pub fn date_of(epoch: i64) -> String {
    // Days to civil date (proleptic Gregorian), era-based.
    let days = epoch.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A bash completion script for a commands-style program: the command words
/// first, then each command's options; after an option that takes an argument,
/// nothing is offered; a command with a `PATH`/`FILE` argument completes file
/// names. Plain bash (`compgen`, `complete`), no bash-completion helpers needed.
pub fn bash_completion(program: &str, version: &str, commands: &[Command]) -> String {
    let func = format!("_{}", program.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let words: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    let mut out = format!(
        "# bash completion for {program}(8) {version}: generated by hopboot-helpdoc from\n\
         # `{program} --help`; do not edit.\n\
         {func}() {{\n\
         \x20   local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}\n\
         \x20   local opts='' files=0\n\
         \x20   if [ \"$COMP_CWORD\" -eq 1 ]; then\n\
         \x20       COMPREPLY=($(compgen -W '{}' -- \"$cur\"))\n\
         \x20       return 0\n\
         \x20   fi\n\
         \x20   case ${{COMP_WORDS[1]}} in\n",
        words.join(" ")
    );
    for c in commands {
        let spellings: Vec<&str> = c
            .options
            .iter()
            .flat_map(|o| o.names.iter().map(String::as_str))
            .collect();
        let with_arg: Vec<&str> = c
            .options
            .iter()
            .filter(|o| o.arg.is_some())
            .flat_map(|o| o.names.iter().map(String::as_str))
            .collect();
        let files = c.positionals.iter().any(|p| p.contains("PATH") || p.contains("FILE"));
        out.push_str(&format!("        {})\n", c.name));
        if !with_arg.is_empty() {
            out.push_str(&format!(
                "            case $prev in {}) return 0 ;; esac\n",
                with_arg.join("|")
            ));
        }
        out.push_str(&format!("            opts='{}'", spellings.join(" ")));
        if files {
            out.push_str("; files=1");
        }
        out.push_str(" ;;\n");
    }
    out.push_str(&format!(
        "        *) return 0 ;;\n\
         \x20   esac\n\
         \x20   if [ \"$files\" = 1 ] && [[ $cur != -* ]]; then\n\
         \x20       compopt -o filenames 2>/dev/null\n\
         \x20       COMPREPLY=($(compgen -f -- \"$cur\"))\n\
         \x20   else\n\
         \x20       COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n\
         \x20   fi\n\
         }}\n\
         complete -F {func} {program}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hopboot's --help as of this writing, plus lines in the shape the CLI is
    /// growing (`--entry ID|TITLE|INDEX`, `-v|--verbose`, a command without
    /// options, a trailing note).
    const HELP: &str = "usage:
  hopboot probe [--json] [-v] [PATH...]
      Shows the boot entries hopboot would offer, in menu order; boots nothing.
      PATH: a directory (the root of one filesystem), a disk image, or a block device.
  hopboot load [ENTRY] [--entry ID|TITLE|INDEX] [--append ARGS] [--next] [-v|--verbose]
      Loads ENTRY, then exits. `systemctl kexec` boots it.
      --reuse-cmdline uses /proc/cmdline.
  hopboot list
      Prints the entries' ids.
  hopboot exec      Boots the kernel loaded before (like `kexec -e`).
  hopboot unload    Unloads a loaded kernel.";

    #[test]
    fn commands_and_their_options() {
        let c = parse_commands(HELP, "hopboot").unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["probe", "load", "list", "exec", "unload"]);
        assert_eq!(c[0].synopsis, "[--json] [-v] [PATH...]");
        assert_eq!(c[0].positionals, ["PATH..."]);
        assert_eq!(
            c[0].options,
            [
                Opt {
                    names: vec!["--json".into()],
                    arg: None
                },
                Opt {
                    names: vec!["-v".into()],
                    arg: None
                }
            ]
        );
        assert_eq!(c[0].description.len(), 2);
        let load = &c[1];
        assert_eq!(load.positionals, ["ENTRY"]);
        assert_eq!(
            load.options[0],
            Opt {
                names: vec!["--entry".into()],
                arg: Some("ID|TITLE|INDEX".into())
            }
        );
        assert_eq!(load.options[1].arg.as_deref(), Some("ARGS"));
        assert_eq!(
            load.options[2],
            Opt {
                names: vec!["--next".into()],
                arg: None
            }
        );
        assert_eq!(load.options[3].names, ["-v", "--verbose"]);
        assert!(c[2].options.is_empty() && c[2].synopsis.is_empty());
        assert_eq!(c[2].description, ["Prints the entries' ids."]);
        assert_eq!(c[3].synopsis, "");
        assert_eq!(c[3].description, ["Boots the kernel loaded before (like `kexec -e`)."]);
    }

    /// A synopsis wrapped onto a second line, and a description line that
    /// starts with an option (it is not synopsis).
    const WRAPPED: &str = "usage:
  hopboot list [PATH...]
      One line per entry.
  hopboot load [ENTRY] [--entry ENTRY] [--next] [--reuse-cmdline] [--append ARGS]
               [--kexec-file] [--systemd] [-v]
      Loads ENTRY.
      --next also uses up GRUB's one-shot.
  hopboot exec      Boots it.";

    #[test]
    fn wrapped_synopsis() {
        let c = parse_commands(WRAPPED, "hopboot").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].positionals, ["PATH..."]);
        let load = &c[1];
        assert_eq!(
            load.synopsis,
            "[ENTRY] [--entry ENTRY] [--next] [--reuse-cmdline] [--append ARGS] [--kexec-file] [--systemd] [-v]"
        );
        let names: Vec<&str> = load.options.iter().map(|o| o.names[0].as_str()).collect();
        assert_eq!(
            names,
            [
                "--entry",
                "--next",
                "--reuse-cmdline",
                "--append",
                "--kexec-file",
                "--systemd",
                "-v"
            ]
        );
        assert_eq!(load.options[0].arg.as_deref(), Some("ENTRY"));
        assert_eq!(
            load.description,
            ["Loads ENTRY.", "--next also uses up GRUB's one-shot."]
        );
        let m = man_synopsis("hopboot", &c);
        assert!(m.contains("[\\-\\-kexec\\-file] [\\-\\-systemd] [\\-v]\n"), "{m}");
    }

    #[test]
    fn no_command_lines_is_an_error() {
        assert!(parse_commands("usage: nothing here\n", "hopboot").is_err());
    }

    #[test]
    fn options_in_text() {
        assert_eq!(
            options_in("a --reuse-cmdline b [-v] --x=1 -- -5 x-y --append ARGS"),
            ["--reuse-cmdline", "-v", "--x", "--append"]
        );
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(roff_escape(".x -v `a` \\n"), "\\&.x \\-v \\fBa\\fR \\en");
        assert_eq!(roff_escape("'quote"), "\\&'quote");
        assert_eq!(roff_escape("`open"), "\\fBopen\\fR");
        assert_eq!(roff_escape("ext4, …"), "ext4, \\[u2026]");
    }

    #[test]
    fn man_commands_tags_and_breaks() {
        let c = parse_commands(HELP, "hopboot").unwrap();
        let m = man_commands("hopboot", &c);
        assert!(
            m.contains(".TP\n\\fBhopboot probe\\fR [\\-\\-json] [\\-v] [PATH...]\nShows"),
            "{m}"
        );
        assert!(m.contains("nothing.\n.br\nPATH:"), "{m}");
        assert!(m.contains(".TP\n.B hopboot list\nPrints"), "{m}");
        // Every option of the help text is in the page (hyphens unescaped).
        let plain = m.replace("\\-", "-");
        for o in options_in(HELP) {
            assert!(plain.contains(&o), "{o} missing");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_796_325_807), "2026-12-03");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(-86_400), "1969-12-31");
    }

    #[test]
    fn template_needs_its_placeholders() {
        let p = |t| ManPage {
            template: t,
            version: "1",
            date: "d",
            synopsis: "S\n".into(),
            body: "B\n".into(),
        };
        assert_eq!(
            fill_template(&p(".TH X 8 \"@DATE@\" \"x @VERSION@\"\n@SYNOPSIS@\n@BODY@\n")).unwrap(),
            ".TH X 8 \"d\" \"x 1\"\nS\nB\n"
        );
        assert!(fill_template(&p(".TH X\n@SYNOPSIS@\n")).is_err());
    }

    const IMAGE_HELP: &str = "\
Usage: prog --binary PATH --output FILE [OPTIONS]
       prog --modules-dir DIR --list

Writes an image: a cpio
archive.

Options:
  --binary PATH          hopboot binary, stored as /init
  --module NAME[,NAME]   extra module(s) to ship,
                         loaded at every boot
  -h, --help             print this help

Profiles (each with deps):
  minimal      virtio_blk
  server       minimal + SATA,
               NVMe

The mtime is $SOURCE_DATE_EPOCH.
";

    #[test]
    fn options_style_help() {
        let h = parse_options_help(IMAGE_HELP).unwrap();
        assert_eq!(
            h.usage,
            [
                "prog --binary PATH --output FILE [OPTIONS]",
                "prog --modules-dir DIR --list"
            ]
        );
        assert_eq!(
            h.paragraphs,
            [vec!["Writes an image: a cpio".to_owned(), "archive.".to_owned()]]
        );
        assert_eq!(h.sections.len(), 2);
        let o = &h.sections[0];
        assert_eq!(o.title, "Options");
        assert_eq!(
            o.items[1],
            (
                "--module NAME[,NAME]".into(),
                vec!["extra module(s) to ship,".into(), "loaded at every boot".into()]
            )
        );
        assert_eq!(o.items[2].0, "-h, --help");
        let p = &h.sections[1];
        assert_eq!(p.items[1].1, ["minimal + SATA,", "NVMe"]);
        assert_eq!(p.text, ["The mtime is $SOURCE_DATE_EPOCH."]);
        let m = format!("{}{}", man_usage(&h), man_options(&h)).replace("\\-", "-");
        for o in options_in(IMAGE_HELP) {
            assert!(m.contains(&o), "{o} missing from\n{m}");
        }
        assert!(m.contains(".SH PROFILES (EACH WITH DEPS)\n"), "{m}");
    }

    /// The completion script, run by bash: COMPREPLY for a few command lines.
    #[test]
    fn bash_completion_completes() {
        let c = parse_commands(HELP, "hopboot").unwrap();
        let script = bash_completion("hopboot", "0.1.0", &c);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("afile"), "").unwrap();
        let ask = |words: &[&str]| -> String {
            let words_q: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
            let prog = format!(
                "{script}\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_hopboot\necho \"${{COMPREPLY[*]}}\"",
                words_q.join(" "),
                words.len() - 1
            );
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(prog)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        assert_eq!(ask(&["hopboot", "l"]), "load list");
        assert_eq!(ask(&["hopboot", ""]), "probe load list exec unload");
        assert_eq!(ask(&["hopboot", "load", "--"]), "--entry --append --next --verbose");
        assert_eq!(ask(&["hopboot", "load", "--entry", ""]), "");
        assert_eq!(ask(&["hopboot", "probe", "a"]), "afile");
        assert_eq!(ask(&["hopboot", "probe", "-"]), "--json -v");
        assert_eq!(ask(&["hopboot", "nope", ""]), "");
    }
}
