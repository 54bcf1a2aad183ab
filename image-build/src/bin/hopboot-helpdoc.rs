//! `hopboot-helpdoc`: a man page or a bash completion file made from a built
//! binary's own `--help` (see [`hopboot_image_build::helpdoc`]). Run by
//! scripts/build-deb.sh (`make deb`); not shipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use hopboot_image_build::helpdoc;

const USAGE: &str = "\
Usage: hopboot-helpdoc man --binary PATH --style commands|options --template FILE
                           --version VER --output FILE
       hopboot-helpdoc bash-completion --binary PATH --version VER --output FILE

Runs `PATH --help` and writes, from what it prints, a man page (the template's
@SYNOPSIS@ and @BODY@ lines replaced, @VERSION@ and @DATE@ filled in) or a bash
completion file (commands-style help only). --style: `commands` for a help
listing `  PROGRAM COMMAND [OPTIONS...]` lines (hopboot), `options` for `Usage:`
and `Options:` sections (hopboot-image-build). The date is $SOURCE_DATE_EPOCH
(default 0), so the output is reproducible.

Options:
  --binary PATH      the program whose --help is read; its file name is the
                     program name
  --style STYLE      commands or options (man only)
  --template FILE    man page template, roff (man only)
  --version VER      version shown in the header
  --output FILE      file to write
  -h, --help         print this help
";

#[derive(Default)]
struct Args {
    what: String,
    binary: Option<PathBuf>,
    style: Option<String>,
    template: Option<PathBuf>,
    version: Option<String>,
    output: Option<PathBuf>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let mut a = Args::default();
    while let Some(arg) = argv.next() {
        let mut value = || argv.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--binary" => a.binary = Some(value()?.into()),
            "--style" => a.style = Some(value()?),
            "--template" => a.template = Some(value()?.into()),
            "--version" => a.version = Some(value()?),
            "--output" => a.output = Some(value()?.into()),
            "man" | "bash-completion" if a.what.is_empty() => a.what = arg,
            _ => bail!("unknown argument {arg:?} (see --help)"),
        }
    }
    Ok(Some(a))
}

/// `binary --help`, which must succeed.
fn help_of(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--help")
        .output()
        .with_context(|| format!("running {} --help", binary.display()))?;
    if !out.status.success() {
        bail!("{} --help exited with {}", binary.display(), out.status);
    }
    String::from_utf8(out.stdout).with_context(|| format!("{} --help: not UTF-8", binary.display()))
}

fn source_date() -> Result<String> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number"))?,
        _ => 0,
    };
    Ok(helpdoc::date_of(epoch))
}

fn run(a: Args) -> Result<()> {
    let binary = a.binary.context("--binary is required")?;
    let version = a.version.context("--version is required")?;
    let output = a.output.context("--output is required")?;
    let program = binary
        .file_name()
        .and_then(|n| n.to_str())
        .context("--binary has no file name")?
        .to_owned();
    let help = help_of(&binary)?;
    let text = match a.what.as_str() {
        "man" => {
            let template_path = a.template.context("man needs --template")?;
            let template = std::fs::read_to_string(&template_path)
                .with_context(|| format!("reading {}", template_path.display()))?;
            let (synopsis, body) = match a.style.as_deref() {
                Some("commands") => {
                    let c = helpdoc::parse_commands(&help, &program)?;
                    (helpdoc::man_synopsis(&program, &c), helpdoc::man_commands(&program, &c))
                }
                Some("options") => {
                    let h = helpdoc::parse_options_help(&help)?;
                    (helpdoc::man_usage(&h), helpdoc::man_options(&h))
                }
                other => bail!("--style must be commands or options, not {other:?}"),
            };
            let date = source_date()?;
            helpdoc::fill_template(&helpdoc::ManPage {
                template: &template,
                version: &version,
                date: &date,
                synopsis,
                body,
            })?
        }
        "bash-completion" => {
            let c = helpdoc::parse_commands(&help, &program)?;
            helpdoc::bash_completion(&program, &version, &c)
        }
        "" => bail!("say man or bash-completion (see --help)"),
        other => bail!("unknown output {other:?}"),
    };
    std::fs::write(&output, text).with_context(|| format!("writing {}", output.display()))
}

fn main() {
    let result = parse(std::env::args().skip(1)).and_then(|a| match a {
        None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(a) => run(a),
    });
    if let Err(e) = result {
        eprintln!("hopboot-helpdoc: {e:#}");
        std::process::exit(1);
    }
}
