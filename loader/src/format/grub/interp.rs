//! The interpreter core: variables, the command loop, word expansion,
//! control flow (`if`, loops, `break`/`continue`/`return`), function calls,
//! `eval`, and the budgets that stop a hostile config.

use super::menu::{Boot, Item};
use super::script::{parse_recovering, Cmd, Part, Word};
use super::{GrubHost, MAX_CALL_DEPTH, MAX_LOOP_ITERATIONS, MAX_STEPS, MAX_WORK};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// The variables of one context, and which of them are exported.
#[derive(Debug, Clone, Default)]
pub(super) struct Env {
    pub(super) vars: HashMap<String, String>,
    pub(super) exported: HashSet<String>,
}

impl Env {
    pub(super) fn get(&self, k: &str) -> &str {
        self.vars.get(k).map(String::as_str).unwrap_or("")
    }
    pub(super) fn set(&mut self, k: &str, v: &str) {
        self.vars.insert(k.to_string(), v.to_string());
    }
    /// Bytes of names and values: what a copy costs.
    pub(super) fn bytes(&self) -> usize {
        self.vars.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
    /// A new context as `grub_env_context_open` makes it: exported variables only.
    pub(super) fn exported_only(&self) -> Env {
        let vars = self
            .vars
            .iter()
            .filter(|(k, _)| self.exported.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Env {
            vars,
            exported: self.exported.clone(),
        }
    }
}

/// One run of a grub.cfg: the state every command sees, and the counts the
/// budgets in [`super`] are checked against.
pub(super) struct Interp<'h> {
    pub(super) host: &'h dyn GrubHost,
    pub(super) env: Env,
    pub(super) functions: HashMap<String, Vec<Cmd>>,
    pub(super) menu: Vec<Item>,
    pub(super) errors: Vec<String>,
    steps: usize,
    pub(super) depth: usize,
    pub(super) params: Vec<String>,
    pub(super) boot: Option<Boot>,
    pub(super) file: String,
    /// A pending `break`/`continue`/`return`.
    pub(super) ctrl: Option<Ctrl>,
    /// Loops running in the current function (or script).
    pub(super) loops: usize,
    /// Function calls in progress.
    pub(super) calls: usize,
    /// Loop iterations so far.
    iterations: usize,
    /// Bytes of work so far (see [`MAX_WORK`]).
    work: Cell<usize>,
    /// Whether "stopped" was reported.
    stop_reported: bool,
    /// Whether "too many entries" was reported.
    pub(super) entries_capped: bool,
    /// Whether the config ran `blscfg`: it is written for Red Hat's GRUB
    /// (see `menu::Flavour`).
    pub(super) red_hat: bool,
}

/// Control flow leaving a command list early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctrl {
    /// `break N`: leave N loops.
    Break(usize),
    /// `continue N`: leave N-1 loops and go on with the next iteration of the Nth.
    Continue(usize),
    /// `return`: leave the function.
    Return,
}

impl<'h> Interp<'h> {
    /// An interpreter for the config file `file` with nothing set, defined
    /// or counted yet.
    pub(super) fn new(host: &'h dyn GrubHost, file: &str) -> Self {
        Interp {
            host,
            env: Env::default(),
            functions: HashMap::new(),
            menu: Vec::new(),
            errors: Vec::new(),
            steps: 0,
            depth: 0,
            params: Vec::new(),
            boot: None,
            file: file.to_string(),
            ctrl: None,
            loops: 0,
            calls: 0,
            iterations: 0,
            work: Cell::new(0),
            stop_reported: false,
            entries_capped: false,
            red_hat: false,
        }
    }
}

/// Roughly the bytes a copy of `cmds` takes: what copying a body costs.
pub(super) fn weight(cmds: &[Cmd]) -> usize {
    let words = |ws: &[Word]| -> usize {
        ws.iter()
            .flat_map(|w| &w.0)
            .map(|p| match p {
                Part::Lit(s, _) | Part::Var(s, _) => s.len() + 32,
            })
            .sum()
    };
    cmds.iter()
        .map(|c| {
            64 + match c {
                Cmd::Simple { words: w, .. } => words(w),
                Cmd::If { branches, otherwise } => {
                    branches.iter().map(|(c, b)| weight(c) + weight(b)).sum::<usize>() + weight(otherwise)
                }
                Cmd::Menu { args, body, .. } => words(args) + weight(body),
                Cmd::Function { name, body } => name.len() + weight(body),
                Cmd::For {
                    var, words: w, body, ..
                } => var.len() + words(w) + weight(body),
                Cmd::While { cond, body, .. } => weight(cond) + weight(body),
            }
        })
        .sum()
}

impl Interp<'_> {
    /// Counts `n` bytes of work (see [`MAX_WORK`]).
    pub(super) fn charge(&self, n: usize) {
        self.work.set(self.work.get().saturating_add(n));
    }

    /// Whether the run is over its command or work budget: nothing more runs.
    pub(super) fn stopped(&self) -> bool {
        self.steps > MAX_STEPS || self.work.get() > MAX_WORK
    }

    pub(super) fn run_source(&mut self, src: &str) {
        let (cmds, errors) = parse_recovering(src);
        for e in errors {
            self.errors.push(format!("{}: {e}", self.file));
        }
        // A script's own `break`/`continue`/`return` end at its boundary.
        let saved_loops = std::mem::replace(&mut self.loops, 0);
        for c in &cmds {
            self.exec(c);
            if self.stopped() {
                break;
            }
            if self.ctrl == Some(Ctrl::Return) {
                break;
            }
            self.ctrl = None;
        }
        self.ctrl = None;
        self.loops = saved_loops;
    }

    pub(super) fn exec_list(&mut self, cmds: &[Cmd]) -> i32 {
        let mut rc = 0;
        for c in cmds {
            rc = self.exec(c);
            if self.stopped() || self.ctrl.is_some() {
                break;
            }
        }
        rc
    }

    /// Counts one loop iteration; `false` once the cap is reached.
    fn iteration(&mut self, line: usize) -> bool {
        self.iterations += 1;
        if self.iterations > MAX_LOOP_ITERATIONS {
            if self.iterations == MAX_LOOP_ITERATIONS + 1 {
                self.errors.push(format!(
                    "{}:{line}: loops stopped after {MAX_LOOP_ITERATIONS} iterations",
                    self.file
                ));
            }
            return false;
        }
        !self.stopped()
    }

    /// After a loop body: whether the loop goes on, consuming its own
    /// `break`/`continue`.
    fn loop_continues(&mut self) -> bool {
        match self.ctrl {
            None => true,
            Some(Ctrl::Return) => false,
            Some(Ctrl::Break(n)) => {
                self.ctrl = (n > 1).then_some(Ctrl::Break(n - 1));
                false
            }
            Some(Ctrl::Continue(n)) => {
                if n > 1 {
                    self.ctrl = Some(Ctrl::Continue(n - 1));
                    false
                } else {
                    self.ctrl = None;
                    true
                }
            }
        }
    }

    fn run_for(&mut self, var: &str, words: &[Word], body: &[Cmd], line: usize) -> i32 {
        let items = self.expand_all(words);
        let mut rc = 0;
        self.loops += 1;
        for item in items {
            if !self.iteration(line) {
                break;
            }
            self.env.set(var, &item);
            rc = self.exec_list(body);
            if !self.loop_continues() {
                break;
            }
        }
        self.loops -= 1;
        rc
    }

    fn run_while(&mut self, until: bool, cond: &[Cmd], body: &[Cmd], line: usize) -> i32 {
        let mut rc = 0;
        self.loops += 1;
        while self.iteration(line) {
            let c = self.exec_list(cond);
            if self.ctrl.is_some() {
                if self.loop_continues() {
                    continue;
                }
                break;
            }
            if (c == 0) == until {
                break;
            }
            rc = self.exec_list(body);
            if !self.loop_continues() {
                break;
            }
        }
        self.loops -= 1;
        rc
    }

    fn expand(&self, w: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for p in &w.0 {
            if self.stopped() {
                break;
            }
            match p {
                Part::Lit(s, quoted) => {
                    self.charge(s.len());
                    cur.push_str(s);
                    has |= *quoted || !s.is_empty();
                }
                // A quoted `"$@"` gives one word per parameter, unsplit: text
                // before it joins the first, text after it the last
                // (grub-emu 2.06: `"x$@y"` with `"p q" r` is `xp q`, `ry`).
                Part::Var(name, true) if name == "@" && self.params.len() > 1 => {
                    let last = self.params.len() - 1;
                    for (i, v) in self.params.iter().enumerate() {
                        self.charge(v.len());
                        cur.push_str(v);
                        if i < last {
                            fields.push(std::mem::take(&mut cur));
                        }
                    }
                    has = true;
                }
                Part::Var(name, true) => {
                    let v = self.var(name);
                    self.charge(v.len());
                    cur.push_str(&v);
                    has = true;
                }
                Part::Var(name, false) => {
                    let v = self.var(name);
                    self.charge(v.len());
                    let mut pieces = v.split([' ', '\t', '\n']).filter(|s| !s.is_empty()).peekable();
                    if v.starts_with([' ', '\t', '\n']) && has {
                        fields.push(std::mem::take(&mut cur));
                        has = false;
                    }
                    while let Some(piece) = pieces.next() {
                        cur.push_str(piece);
                        has = true;
                        if pieces.peek().is_some() {
                            fields.push(std::mem::take(&mut cur));
                        }
                    }
                    if v.ends_with([' ', '\t', '\n']) && has {
                        fields.push(std::mem::take(&mut cur));
                        has = false;
                    }
                }
            }
        }
        if has {
            fields.push(cur);
        }
        fields
    }

    fn var(&self, name: &str) -> String {
        if let Ok(n) = name.parse::<usize>() {
            return if n == 0 {
                String::new()
            } else {
                self.params.get(n - 1).cloned().unwrap_or_default()
            };
        }
        match name {
            "#" => self.params.len().to_string(),
            "@" | "*" => self.params.join(" "),
            _ => self.env.get(name).to_string(),
        }
    }

    fn expand_all(&self, words: &[Word]) -> Vec<String> {
        words.iter().flat_map(|w| self.expand(w)).collect()
    }

    fn exec(&mut self, c: &Cmd) -> i32 {
        self.steps += 1;
        if self.stopped() {
            self.report_stop();
            return 1;
        }
        let rc = match c {
            Cmd::Simple { words, line } => {
                let args = self.expand_all(words);
                self.simple(&args, *line)
            }
            Cmd::If { branches, otherwise } => {
                let mut ran = None;
                for (cond, body) in branches {
                    if self.exec_list(cond) == 0 {
                        ran = Some(self.exec_list(body));
                        break;
                    }
                }
                match ran {
                    Some(rc) => rc,
                    None => self.exec_list(otherwise),
                }
            }
            Cmd::Menu {
                submenu,
                args,
                body,
                line,
            } => {
                let args = self.expand_all(args);
                self.define_menu(*submenu, &args, body, *line)
            }
            Cmd::Function { name, body } => {
                self.charge(weight(body));
                self.functions.insert(name.clone(), body.clone());
                0
            }
            Cmd::For { var, words, body, line } => self.run_for(var, words, body, *line),
            Cmd::While {
                until,
                cond,
                body,
                line,
            } => self.run_while(*until, cond, body, *line),
        };
        self.env.set("?", &rc.to_string());
        rc
    }

    pub(super) fn call(&mut self, body: &[Cmd], args: &[String], line: usize) -> i32 {
        if self.calls + self.depth >= MAX_CALL_DEPTH {
            self.errors
                .push(format!("{}:{line}: maximum recursion depth exceeded", self.file));
            return 1;
        }
        self.calls += 1;
        let saved = std::mem::replace(&mut self.params, args.to_vec());
        let saved_loops = std::mem::replace(&mut self.loops, 0);
        let rc = self.exec_list(body);
        if self.ctrl == Some(Ctrl::Return) {
            self.ctrl = None;
        }
        self.loops = saved_loops;
        self.params = saved;
        self.calls -= 1;
        rc
    }

    /// `eval`: runs its arguments, joined by spaces, as script.
    pub(super) fn eval(&mut self, src: &str, line: usize) -> i32 {
        if self.calls + self.depth >= MAX_CALL_DEPTH {
            self.errors
                .push(format!("{}:{line}: maximum recursion depth exceeded", self.file));
            return 1;
        }
        let (cmds, errors) = parse_recovering(src);
        for e in &errors {
            self.errors.push(format!("{}:{line}: eval: {e}", self.file));
        }
        self.depth += 1;
        let rc = self.exec_list(&cmds);
        self.depth -= 1;
        if errors.is_empty() {
            rc
        } else {
            1
        }
    }

    /// Says once why the run stopped, if it did.
    pub(super) fn report_stop(&mut self) {
        if self.stop_reported || !self.stopped() {
            return;
        }
        self.stop_reported = true;
        self.errors.push(if self.steps > MAX_STEPS {
            format!("{}: stopped after {MAX_STEPS} commands", self.file)
        } else {
            format!(
                "{}: stopped after {} MiB of work (files read, variables expanded, copies)",
                self.file,
                MAX_WORK >> 20
            )
        });
    }
}
