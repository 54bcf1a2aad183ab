//! The interpreter run end to end on small configs.

use super::*;
use std::collections::BTreeMap;

#[derive(Default)]
struct Host {
    files: BTreeMap<(String, String), String>,
    uuids: BTreeMap<String, String>,
    /// Other searches: (kind, value) → device.
    others: BTreeMap<(String, String), String>,
}

impl GrubHost for Host {
    fn list(&self, dev: &str, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        self.files
            .keys()
            .filter(|(d, p)| d == dev && p.starts_with(&prefix))
            .filter_map(|(_, p)| p.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }
    fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
        if self.files.contains_key(&(dev.to_string(), path.to_string())) {
            return Some(Kind::File);
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.files
            .keys()
            .any(|(d, p)| d == dev && p.starts_with(&prefix))
            .then_some(Kind::Dir)
    }
    fn size(&self, dev: &str, path: &str) -> Option<u64> {
        self.files
            .get(&(dev.to_string(), path.to_string()))
            .map(|s| s.len() as u64)
    }
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
        self.files
            .get(&(dev.to_string(), path.to_string()))
            .cloned()
            .ok_or_else(|| "not found".into())
    }
    fn search(&self, by: SearchBy, value: &str) -> Option<String> {
        match by {
            SearchBy::FsUuid => self.uuids.get(value).cloned(),
            other => self.others.get(&(format!("{other:?}"), value.to_string())).cloned(),
        }
    }
}

fn host(cfg: &str) -> Host {
    let mut h = Host::default();
    h.files
        .insert(("hd0,gpt1".into(), "/boot/grub/grub.cfg".into()), cfg.into());
    h.uuids.insert("1234".into(), "hd0,gpt2".into());
    h
}

fn run_cfg(h: &Host) -> GrubMenu {
    run(h, "hd0,gpt1", "/boot/grub/grub.cfg")
}

#[test]
fn search_kinds_and_their_precedence() {
    let mut h = host(
        r#"
menuentry fs-uuid { search --no-floppy --fs-uuid --set=root 1234; linux /k }
menuentry label { search -l -s hb-label; linux /k }
menuentry file { search -f --set /only-here; linux /k }
menuentry part-uuid { search --no-floppy --part-uuid --set=root 0A0B-P; linux /k }
menuentry part-label { search --part-label --set=root hb-part; linux /k }
menuentry short-part-uuid { search.part_uuid 0A0B-P; linux /k }
menuentry short-part-label { search.part_label hb-part other; linux ($other)/k }
menuentry short-fs-uuid { search.fs_uuid 1234 r2; linux ($r2)/k }
menuentry label-beats-file { search --file --label --set=root hb-label; linux /k }
menuentry no-kind { search --set=root /only-here; linux /k }
menuentry not-found { search --label --set=root nope; linux /k }
menuentry set-var { search --label --set=x hb-label; linux /k $x }
"#,
    );
    let add = |h: &mut Host, kind: SearchBy, value: &str, dev: &str| {
        h.others
            .insert((format!("{kind:?}"), value.to_string()), dev.to_string());
    };
    add(&mut h, SearchBy::Label, "hb-label", "hd1,gpt1");
    add(&mut h, SearchBy::File, "/only-here", "hd1,gpt3");
    add(&mut h, SearchBy::File, "hb-label", "hd1,gpt3");
    add(&mut h, SearchBy::PartUuid, "0A0B-P", "hd2,msdos1");
    add(&mut h, SearchBy::PartLabel, "hb-part", "hd1,gpt4");
    let m = run_cfg(&h);
    assert_eq!(m.errors, Vec::<String>::new());
    let got: Vec<(&str, &str, &str)> = m
        .entries
        .iter()
        .map(|e| (e.title.as_str(), e.kernel.device.as_str(), e.cmdline.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("fs-uuid", "hd0,gpt2", ""),
            ("label", "hd1,gpt1", ""),
            ("file", "hd1,gpt3", ""),
            ("part-uuid", "hd2,msdos1", ""),
            ("part-label", "hd1,gpt4", ""),
            ("short-part-uuid", "hd2,msdos1", ""),
            ("short-part-label", "hd1,gpt4", ""),
            ("short-fs-uuid", "hd0,gpt2", ""),
            // GRUB's search_wrap.c tries --label before --fs-uuid before --file.
            ("label-beats-file", "hd1,gpt1", ""),
            // No kind: "unspecified search type", $root stays the config's device.
            ("no-kind", "hd0,gpt1", ""),
            ("not-found", "hd0,gpt1", ""),
            ("set-var", "hd0,gpt1", "hd1,gpt1"),
        ]
    );
}

#[test]
fn debian_like_entry() {
    let h = host(
        r#"
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
set default="0"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-1234' {
	insmod ext2
	search --no-floppy --fs-uuid --set=root 1234
	echo	'Loading Linux 6.1.0-13-amd64 ...'
	linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=1234 ro  quiet
	initrd	/boot/initrd.img-6.1.0-13-amd64
}
"#,
    );
    let m = run_cfg(&h);
    assert_eq!(m.errors, Vec::<String>::new());
    assert_eq!(m.entries.len(), 1);
    let e = &m.entries[0];
    assert_eq!(e.id.as_deref(), Some("gnulinux-simple-1234"));
    assert_eq!(
        e.kernel,
        GrubPath {
            device: "hd0,gpt2".into(),
            path: "/boot/vmlinuz-6.1.0-13-amd64".into()
        }
    );
    assert_eq!(e.cmdline, "root=UUID=1234 ro quiet");
    assert_eq!(e.initrds.len(), 1);
    assert_eq!(m.default, Some(0));
}

#[test]
fn default_by_path_and_late_binding() {
    let h = host(
        r#"
set default="adv>k2"
menuentry A { linux /a $opts }
submenu 'Advanced' --id adv {
  menuentry 'K1' --id k1 { linux /k1 }
  menuentry 'K2' --id k2 { linux /k2 $opts }
}
set opts="x=1 y=2"
"#,
    );
    let m = run_cfg(&h);
    let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(titles, ["A", "K1", "K2"]);
    assert_eq!(m.default, Some(2));
    assert_eq!(m.entries[0].cmdline, "x=1 y=2");
    // `opts` is not exported: inside the submenu it is empty.
    assert_eq!(m.entries[2].cmdline, "");
}

#[test]
fn unknown_default_falls_back_to_zero() {
    let m = run_cfg(&host(
        "set default=nope\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
    ));
    assert_eq!(m.default, Some(0));
    let m = run_cfg(&host(
        "set default=1\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
    ));
    assert_eq!(m.default, Some(1));
}

#[test]
fn grubenv_and_functions() {
    let mut h = host(
        r#"
if [ -s $prefix/grubenv ]; then load_env; fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
else
   set default="${saved_entry}"
fi
function add { menuentry "$1" "$1" { linux /$1 $kernelopts } }
add one
add two
"#,
    );
    h.files.insert(
        ("hd0,gpt1".into(), "/boot/grub/grubenv".into()),
        "# GRUB Environment Block\nsaved_entry=two\nkernelopts=root=/dev/x ro\n####".into(),
    );
    let m = run_cfg(&h);
    assert_eq!(m.entries.len(), 2);
    assert_eq!(m.default, Some(1));
    assert_eq!(m.entries[1].cmdline, "root=/dev/x ro");
    assert_eq!(m.entries[1].kernel.path, "/two");
}

fn cmdlines(m: &GrubMenu) -> Vec<&str> {
    m.entries.iter().map(|e| e.cmdline.as_str()).collect()
}

// Checked with grub-emu 2.06: a function is called only when no command
// has its name; `gfxmode`/`recordfail`/`savedefault` are functions.
#[test]
fn functions_unless_a_command_has_the_name() {
    let m = run_cfg(&host(
        r#"
function gfxmode { set gfxpayload="$1"; if [ "$1" = keep ]; then set vt_handoff=vt.handoff=7; fi; }
function echo { set hijacked=yes; }
function recordfail { set rf=1; }
function savedefault { set sd=1; }
menuentry U {
  recordfail
  savedefault
  gfxmode keep
  echo hi
  linux /v quiet $vt_handoff rf=$rf sd=$sd h=$hijacked
}
"#,
    ));
    assert_eq!(cmdlines(&m), ["quiet vt.handoff=7 rf=1 sd=1 h="]);
}

// Each expectation is what grub-emu 2.06 answered for the same test.
#[test]
fn test_command_like_grub() {
    let cases: &[(&str, bool)] = &[
        ("[ ]", true),
        ("test", true),
        ("[ \"\" ]", false),
        ("[ -n ]", true),
        ("[ -z ]", true),
        ("[ ! ]", true),
        ("[ \"\" a ]", false),
        ("[ a \"\" ]", false),
        ("[ \"\" -o a ]", true),
        ("[ a -a \"\" ]", false),
        ("[ a = a -a b = c ]", false),
        ("[ a -a \"\" -o a ]", true),
        ("[ ( a = b ) -o a ]", true),
        ("[ ( \"\" ]", false),
        ("[ a = a", true),
        ("test a = b ]", false),
        ("[ 0x10 -eq 16 ]", true),
        ("[ 010 -eq 10 ]", false),
        ("[ abc -gt 1 ]", false),
        ("[ 5x -eq 5 ]", true),
        ("[ -3 -lt 2 ]", true),
        ("[ -f /boot/grub/grub.cfg ]", true),
        ("[ -f /boot/grub ]", false),
        ("[ -f /nope ]", false),
        ("[ ! -f /nope ]", true),
        ("[ ! a -a \"\" ]", false),
        ("[ \"\" -a ! \"\" ]", false),
        ("[ a ) \"\" ]", true),
        ("[ \"\" ) a ]", false),
        ("[ -n = x ]", false),
        ("[ -z \"\" = \"\" ]", false),
        ("[ a ] ]", true),
        ("[ \"\" -o ]", true),
        ("[ vmlinuz-5.10 -pgt vmlinuz-5.9 ]", true),
        ("[ a5 -plt a10 ]", true),
        ("[ a != a ]", false),
    ];
    for (t, want) in cases {
        let mut h = host(&format!(
            "menuentry t {{ if {t} ; then r=T; else r=F; fi; linux /v $r }}"
        ));
        h.files
            .insert(("hd0,gpt1".into(), "/boot/grub/x".into()), String::new());
        let m = run_cfg(&h);
        assert_eq!(cmdlines(&m), [if *want { "T" } else { "F" }], "{t}");
    }
}

// Checked with grub-emu 2.06 (the oracle's cmdline rule, lib/cmdline.c).
#[test]
fn cmdline_quoting() {
    let m = run_cfg(&host(
        r#"set plain=p
set empty=
menuentry q { linux /v a\ b 'c d' "e\"f" g\\h 'i$plain' "j$plain" }
menuentry e { linux /v a "${empty}" b "$empty" }
menuentry x { linux /v LABEL=A\x20B }
"#,
    ));
    assert_eq!(
        cmdlines(&m),
        [r#""a b" "c d" e\"f g\\h i$plain jp"#, "a  b ", r"LABEL=A\x20B"]
    );
}

// Checked with grub-emu 2.06 (grub-semantics corpus case for `for`).
#[test]
fn loops_and_control_flow() {
    let m = run_cfg(&host(
        r#"
for k in a "b c" $nothing d; do set acc="${acc}[$k]"; done
for k in 1 2 3 4; do if [ $k = 2 ]; then continue; fi; if [ $k = 4 ]; then break; fi; set l="${l}$k"; done
set w=x
while [ "$w" != xxx ]; do set w="${w}x"; done
until [ "$u" = yy ]; do set u="${u}y"; done
function r { set before=1; return 3; set after=1; }
r
set rc=$?
for i in 1 2; do for j in 1 2; do set n="${n}$i$j"; break 2; done; done
while true; do set spin=1; done
menuentry L { linux /v $acc l=$l w=$w u=$u rc=$rc b=$before a=$after n=$n }
"#,
    ));
    assert_eq!(cmdlines(&m), ["[a][b c][d] l=13 w=xxx u=yy rc=3 b=1 a= n=11"]);
    assert!(m.errors.iter().any(|e| e.contains("iterations")), "{:?}", m.errors);
}

// Checked with grub-emu 2.06: entries before a syntax error survive, a
// bad line is dropped, reading resumes on the next line; an unterminated
// quote swallows the rest.
#[test]
fn syntax_errors_drop_only_their_line() {
    let m = run_cfg(&host(
        "menuentry a { linux /v a }\nset x=1 <\nset w=1\nmenuentry c { linux /v x=$x w=$w }\nmenuentry 'd {\n linux /v d\n}\nmenuentry e { linux /v e }\n",
    ));
    assert_eq!(cmdlines(&m), ["a", "x= w=1"]);
    assert_eq!(m.errors.len(), 2, "{:?}", m.errors);
    assert!(m.errors.iter().all(|e| e.contains("grub.cfg")));
}

// Checked with grub-emu 2.06: a self-calling function body runs 29 times,
// a self-sourcing file 28 times, then "maximum recursion depth exceeded";
// the rest of grub.cfg still runs.
#[test]
fn recursion_limit() {
    let mut h =
        host("function f { set c=\"${c}x\"; f; }\nf\nsource $prefix/loop.cfg\nmenuentry a { linux /v $c $d }\n");
    h.files.insert(
        ("hd0,gpt1".into(), "/boot/grub/loop.cfg".into()),
        "set d=\"${d}y\"\nsource $prefix/loop.cfg\n".into(),
    );
    let m = run_cfg(&h);
    assert_eq!(cmdlines(&m), [format!("{} {}", "x".repeat(29), "y".repeat(28))]);
    assert_eq!(m.errors.len(), 2, "{:?}", m.errors);
    assert!(m.errors.iter().all(|e| e.contains("maximum recursion depth exceeded")));
}

// Checked with grub-emu 2.06: `default` naming a submenu boots the
// submenu's own default (its `set default`, else its first entry);
// `chosen` is the `>`-joined ids (titles where no id).
#[test]
fn default_into_submenu_and_chosen() {
    let m = run_cfg(&host(
        r#"set default=1
menuentry A --id ida { linux /a $chosen }
submenu S --id ids {
  menuentry B { linux /b $chosen }
  menuentry C --id idc { linux /c $chosen }
  set default=1
}
"#,
    ));
    assert_eq!(cmdlines(&m), ["ida", "ids>B", "ids>idc"]);
    assert_eq!(m.default, Some(2));
    let m = run_cfg(&host(
        "set default=S\nmenuentry A { linux /a }\nsubmenu S { menuentry B { linux /b }\nmenuentry C { linux /c } }",
    ));
    assert_eq!(m.default, Some(1));
    let m = run_cfg(&host(
        "set default=5\nmenuentry A { linux /a }\nmenuentry B { linux /b }",
    ));
    assert_eq!(m.default, Some(0));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for src in [
        "menuentry {",
        "if then fi",
        "}}}",
        "\"",
        "${",
        "linux",
        "[ -f ]",
        "set =x",
    ] {
        let _ = run_cfg(&host(src));
    }
    let m = run_cfg(&host("function f { f }\nf"));
    assert!(
        m.errors.iter().any(|e| e.contains("maximum recursion")),
        "{:?}",
        m.errors
    );
}

/// `blscfg` reads snippets its own way: file-name order (not `version`),
/// first `options` line, `$default_kernelopts` when there is none, the
/// kernel path as title when there is no `title`, `$early_initrd` first.
#[test]
fn blscfg_follows_the_module_not_systemd_boot() {
    let mut h = host("set default_kernelopts=\"root=/dev/def ro\"\nset early_initrd=\"ucode.img\"\nblscfg\n");
    let d = "hd0,gpt1".to_string();
    let mut add = |name: &str, text: &str| {
        h.files
            .insert((d.clone(), format!("/boot/loader/entries/{name}.conf")), text.into());
    };
    // `version` says otherwise, but file names decide.
    add(
        "m-5.0",
        "title Five\nversion 9.9\nlinux /vmlinuz-5\noptions first\noptions second\n",
    );
    add("m-6.0", "version 1.0\nlinux /vmlinuz-6\ninitrd /boot/initramfs-6.img\n");
    let m = run_cfg(&h);
    let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(titles, ["/vmlinuz-6", "Five"]);
    assert_eq!(m.entries[0].cmdline, "root=/dev/def ro");
    let initrds: Vec<_> = m.entries[0].initrds.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(initrds, ["/boot/ucode.img", "/boot/initramfs-6.img"]);
    assert_eq!(m.entries[1].cmdline, "first");
}

/// Red Hat's `blscfg`: snippets become entries, newest version first; their
/// options expand `$kernelopts` from grubenv (when `blscfg` runs), and
/// `saved_entry` names a snippet by its file name.
#[test]
fn blscfg_entries_from_snippets() {
    let mut h = host(
        "load_env -f ($root)/boot/grub/grubenv\nset default=\"${saved_entry}\"\nblscfg\nmenuentry After { linux /after }\n",
    );
    let d = "hd0,gpt1".to_string();
    h.files.insert(
        (d.clone(), "/boot/grub/grubenv".into()),
        "saved_entry=m-6.5.5\nkernelopts=root=/dev/x ro\n".into(),
    );
    for v in ["6.5.5", "6.5.12", "0-rescue"] {
        h.files.insert(
            (d.clone(), format!("/loader/entries/m-{v}.conf")),
            format!("title Fedora ({v})\nversion {v}\nlinux /vmlinuz-{v}\ninitrd /initramfs-{v}.img $tuned_initrd\noptions $kernelopts $tuned_params\n"),
        );
    }
    let m = run_cfg(&h);
    let titles: Vec<_> = m.entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Fedora (6.5.12)", "Fedora (6.5.5)", "Fedora (0-rescue)", "After"]
    );
    assert!(m.entries[0].bls && !m.entries[3].bls);
    assert_eq!(m.entries[1].cmdline, "root=/dev/x ro");
    assert_eq!(m.entries[1].initrds.len(), 1);
    assert_eq!(m.default, Some(1));
}

/// A variable doubled into 8 KiB and put on every one of 1,024 entries:
/// the menu stops where its text reaches discovery's budget for one config
/// (it held 12 MiB of titles and command lines, all copied again after).
#[test]
fn entries_stop_at_the_text_budget() {
    let mut cfg = String::from("set a=xxxxxxxxxxxxxxxx\n");
    cfg.push_str(&"set a=\"$a$a\"\n".repeat(8));
    cfg.push_str(&"menuentry \"t$a\" { linux /vmlinuz $a\n }\n".repeat(1024));
    let m = run_cfg(&host(&cfg));
    let text: usize = m.entries.iter().map(|e| e.title.len() + e.cmdline.len()).sum();
    assert!(
        m.entries.len() < 1024 && text <= crate::discover::MAX_CONFIG_TEXT + (16 << 10),
        "{}",
        m.entries.len()
    );
    assert!(m.errors.iter().any(|e| e.contains("KiB of text")), "{:?}", m.errors);
}

/// `default` values that start with digits, as upstream GRUB and Red Hat's
/// GRUB (a config that runs `blscfg`) resolve them. Upstream's answers are
/// grub-emu 2.06's (Debian 2.06-13+deb12u2, through scripts/grub-oracle on
/// these very menus); Red Hat's follow rhboot/grub2's "Fix menu entry
/// selection based on ID and title" (`get_entry_number_helper`).
#[test]
fn numeric_looking_defaults_upstream_and_red_hat() {
    let one = "menuentry 'Alpha' --id alpha { linux /a }\nmenuentry '2nd kernel' --id 1b2c-5.14 { linux /b }\n\
               menuentry 'Gamma' --id 0c5d-6.5 { linux /c }\nmenuentry 'Delta' --id e1f0-6.1 { linux /d }\n";
    let two = "menuentry 'Alpha' --id alpha { linux /a }\nmenuentry 'gamma' --id 1b2c-5.14 { linux /b }\n\
               menuentry 'Gamma' --id 0c5d-6.5 { linux /c }\nmenuentry 'Delta' --id gamma { linux /d }\n";
    // (menu, default, upstream's entry, Red Hat's entry)
    let cases = [
        (one, "0c5d-6.5", 0, 2),
        (one, "2nd kernel", 2, 1),
        (one, "0x2-foo", 2, 0),
        (one, "010", 0, 0),
        (one, "1b2c-5.14", 1, 1),
        (one, "9abc-1", 0, 0),
        (one, " 1", 1, 1),
        (one, "e1f0-6.1", 3, 3),
        (two, "gamma", 1, 3),
        (two, "Delta", 3, 3),
        (two, "1 ", 1, 0),
        (two, "07", 0, 0),
        (two, "0xyz", 0, 0),
        (two, "4294967298", 2, 2),
        (two, "18446744073709551616", 0, 0),
    ];
    for (menu, default, upstream, red_hat) in cases {
        let m = run_cfg(&host(&format!("set default=\"{default}\"\n{menu}")));
        assert_eq!(m.default, Some(upstream), "upstream GRUB, default={default:?}");
        let m = run_cfg(&host(&format!("set default=\"{default}\"\nblscfg\n{menu}")));
        assert_eq!(m.default, Some(red_hat), "Red Hat's GRUB, default={default:?}");
    }
}

/// A submenu path: both GRUBs go down by id; Red Hat's takes a number only
/// when it is the whole value, so `1>1` names nothing there, and an id
/// followed by a title with blanks fails its id rule.
#[test]
fn default_paths_upstream_and_red_hat() {
    let menu = "menuentry A --id a { linux /a }\nsubmenu 'Adv' --id adv {\n\
                menuentry 'K one' --id k1 { linux /k1 }\nmenuentry 'K two' --id k2 { linux /k2 }\n}\n";
    for (default, upstream, red_hat) in [
        ("adv>k2", 2, 2),
        ("1>1", 2, 0),
        ("adv>K two", 2, 0),
        ("Adv>K two", 2, 2),
    ] {
        let m = run_cfg(&host(&format!("set default=\"{default}\"\n{menu}")));
        assert_eq!(m.default, Some(upstream), "upstream GRUB, default={default:?}");
        let m = run_cfg(&host(&format!("set default=\"{default}\"\nblscfg\n{menu}")));
        assert_eq!(m.default, Some(red_hat), "Red Hat's GRUB, default={default:?}");
    }
}

/// `search --set VAR` (a space, not `=`), as grub-emu 2.06 runs it: the next
/// word is the variable unless it starts with `-`; when no word is left to
/// search for, that word was the value and the variable is `root`.
#[test]
fn search_set_takes_the_next_word() {
    let h = host(
        r#"
menuentry named { search --no-floppy --fs-uuid --set foo 1234; linux ($foo)/k foo=$foo root=$root }
menuentry named-first { search --set foo --fs-uuid 1234; linux ($foo)/k root=$root }
menuentry short { search -s foo -u 1234; linux ($foo)/k root=$root }
menuentry option-next { search --set --fs-uuid 1234; linux /k root=$root }
menuentry last { search --fs-uuid 1234 --set; linux /k root=$root }
menuentry value-only { search --fs-uuid --set 1234; linux /k root=$root }
menuentry equals { search --fs-uuid --set=bar 1234; linux ($bar)/k root=$root }
"#,
    );
    let m = run_cfg(&h);
    assert_eq!(m.errors, Vec::<String>::new());
    let got: Vec<(&str, &str, &str)> = m
        .entries
        .iter()
        .map(|e| (e.title.as_str(), e.kernel.device.as_str(), e.cmdline.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("named", "hd0,gpt2", "foo=hd0,gpt2 root=hd0,gpt1"),
            ("named-first", "hd0,gpt2", "root=hd0,gpt1"),
            ("short", "hd0,gpt2", "root=hd0,gpt1"),
            ("option-next", "hd0,gpt2", "root=hd0,gpt2"),
            ("last", "hd0,gpt2", "root=hd0,gpt2"),
            ("value-only", "hd0,gpt2", "root=hd0,gpt2"),
            ("equals", "hd0,gpt2", "root=hd0,gpt1"),
        ]
    );
}

/// A menu entry's body gets its title as `$1` and the extra words after the
/// title as `$2`...; a submenu's body too (grub-emu 2.06).
#[test]
fn menuentry_positional_parameters() {
    let h = host(
        r#"
menuentry 'Title One' extra1 extra2 { linux /k t1=$1 t2=$2 t3=$3 n=$# }
menuentry --id=myid 'Id entry' { linux /k "a=$1" n=$# }
submenu 'Sub T' sx {
  menuentry "in $1 $2 $#" { linux /k a=$1 n=$# }
}
"#,
    );
    let m = run_cfg(&h);
    assert_eq!(m.errors, Vec::<String>::new());
    let got: Vec<(&str, &str)> = m
        .entries
        .iter()
        .map(|e| (e.title.as_str(), e.cmdline.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Title One", "t1=Title One t2=extra1 t3=extra2 n=3"),
            ("Id entry", "\"a=Id entry\" n=1"),
            ("in Sub T sx 2", "a=in Sub T sx 2 n=1"),
        ]
    );
}

/// `$@` and `$*` as grub-emu 2.06 expands them: a quoted `"$@"` is one word
/// per parameter (text around it joins the first and last), `"$*"` one word,
/// unquoted both are split into words; `"$@"` with no parameter is one empty
/// word.
#[test]
fn all_parameters_quoted_and_not() {
    let h = host(
        r#"
function f1 {
 linux /k a "x$@y" b
}
function f2 {
 linux /k a "x$*y" b
}
function f3 {
 linux /k a x$@y b
}
function f4 {
 linux /k a "$@" b
}
menuentry E1 { f1 "p q" r }
menuentry E2 { f2 "p q" r }
menuentry E3 { f3 "p q" r }
menuentry E4 { f4 }
menuentry E5 { f4 one }
"#,
    );
    let m = run_cfg(&h);
    assert_eq!(
        cmdlines(&m),
        ["a \"xp q\" ry b", "a \"xp q ry\" b", "a xp q ry b", "a  b", "a one b"]
    );
}
