use super::*;
use std::path::Path;

fn no_fetch(uri: &str) -> Fetched {
    Fetched::Failed(format!("{uri}: no server in this test"))
}

fn run_simple(script: &str) -> IpxeMenu {
    run(
        script,
        "http://192.0.2.1/boot/boot.ipxe",
        &BTreeMap::new(),
        &mut no_fetch,
    )
}

fn titles(m: &IpxeMenu) -> Vec<&str> {
    m.entries.iter().map(|e| e.title.as_str()).collect()
}

#[test]
fn kernel_initrd_boot_with_nic_settings() {
    let settings = nic_settings(
        "net0",
        &[0x52, 0x54, 0, 0x12, 0x34, 0x56],
        Some(Ipv4Addr::new(192, 0, 2, 10)),
    );
    let script = "#!ipxe\r\ndhcp\r\n\
        kernel vmlinuz BOOTIF=${net0/mac:hexhyp} ip=${net0/ip} mac=${mac:hexraw} \\\r\n  quiet # comment\r\n\
        initrd initrd.img\r\ninitrd http://192.0.2.2/extra.img\r\nboot\r\n";
    let m = run(script, "http://192.0.2.1/boot/boot.ipxe", &settings, &mut no_fetch);
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(m.entries.len(), 1);
    let e = &m.entries[0];
    assert_eq!(e.kernel, "http://192.0.2.1/boot/vmlinuz");
    assert_eq!(
        e.initrds,
        ["http://192.0.2.1/boot/initrd.img", "http://192.0.2.2/extra.img"]
    );
    assert_eq!(
        e.cmdline,
        "BOOTIF=52-54-00-12-34-56 ip=192.0.2.10 mac=525400123456 quiet"
    );
    assert_eq!(e.title, "iPXE: vmlinuz");
    assert_eq!(m.default, Some(0));
    let b = entries(&m, 2, "eth0 192.0.2.10");
    assert_eq!(b[0].format.as_str(), "ipxe");
    assert!(b[0].default);
    assert_eq!(b[0].volume, 2);
}

/// Expansion happens per word after splitting (exec.c), innermost first,
/// unknown settings are empty; `isset`/`iseq`, `&&`/`||` as documented.
#[test]
fn settings_conditions_and_chaining() {
    let script = "#!ipxe\n\
        set a one two\n\
        set b one two\n\
        set i 0\n\
        set net0/x inner\n\
        iseq ${a} ${b} && set split no || set split yes\n\
        iseq x x x && set three yes ||\n\
        isset ${nothing} || set fallback 1\n\
        isset ${nothing} && set never 1 ||\n\
        set n ${net${i}/x}\n\
        kernel http://h/k ${split} ${fallback} ${never} ${n} [${a}] ${three}\n\
        boot\n";
    let m = run_simple(script);
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    // Words are split before expansion: `iseq ${a} ${b}` compares two
    // arguments "one two" (equal), and `iseq` of three arguments fails.
    assert_eq!(m.entries[0].cmdline, "no 1  inner [one two] ");
}

#[test]
fn goto_labels_and_failures() {
    let script = "#!ipxe\n\
        goto ${target} || goto start\n\
        :skipped\n\
        kernel http://h/wrong\n\
        :start echo label lines run their command\n\
        goto nowhere || goto real\n\
        :real\n\
        kernel http://h/right\n\
        boot\n";
    let m = run_simple(script);
    assert_eq!(m.entries.len(), 1);
    assert_eq!(m.entries[0].kernel, "http://h/right");
    // An unhandled failure stops the script, reported with its line.
    let m = run_simple("#!ipxe\nisset ${nothing}\nkernel http://h/k\nboot\n");
    assert!(m.entries.is_empty());
    assert!(
        m.errors.iter().any(|e| e.contains(":2: script stopped")),
        "{:?}",
        m.errors
    );
}

#[test]
fn goto_loop_ends_with_an_error() {
    let m = run_simple("#!ipxe\n:loop\necho again\ngoto loop\n");
    assert!(m.entries.is_empty());
    assert!(m.errors.iter().any(|e| e.contains("stopped after")), "{:?}", m.errors);
    // A retry loop on a fetch that always fails ends too, fetching once.
    let mut calls = 0;
    let m = run(
        "#!ipxe\n:retry\nchain http://h/menu.ipxe || goto retry\n",
        "http://h/boot.ipxe",
        &BTreeMap::new(),
        &mut |_| {
            calls += 1;
            Fetched::Failed("404".into())
        },
    );
    assert_eq!(calls, 1);
    assert!(m.errors.iter().any(|e| e.contains("404")));
    assert!(m.errors.iter().any(|e| e.contains("stopped after")));
}

#[test]
fn menu_items_become_entries() {
    let script = "#!ipxe\n\
        set menu-default deb\n\
        :start\n\
        menu Boot menu\n\
        item --gap -- ---- Linux ----\n\
        item --key f fed Fedora\n\
        item deb Debian 12\n\
        item\n\
        item shell iPXE shell\n\
        item back Back to start\n\
        choose --timeout 5000 --default ${menu-default} selected || goto cancel\n\
        goto ${selected}\n\
        :fed\n\
        kernel fedora/vmlinuz inst.repo=http://h/fedora\n\
        initrd fedora/initrd.img\n\
        boot || goto failed\n\
        :deb\n\
        kernel debian/linux --- quiet\n\
        initrd debian/initrd.gz\n\
        boot\n\
        :shell\n\
        shell\n\
        :back\n\
        goto start\n\
        :cancel\n\
        exit\n";
    let m = run_simple(script);
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(titles(&m), ["Fedora", "Debian 12"]);
    assert_eq!(m.default, Some(1));
    assert_eq!(m.timeout_ms, Some(5000));
    assert_eq!(m.entries[1].kernel, "http://192.0.2.1/boot/debian/linux");
    assert_eq!(m.entries[1].cmdline, "--- quiet");
    assert_eq!(m.entries[1].initrds, ["http://192.0.2.1/boot/debian/initrd.gz"]);
    assert_eq!(m.entries[1].id, "deb");
    // The item with --default wins when choose names none.
    let m = run_simple(
        &script
            .replace(" --default ${menu-default}", "")
            .replace("item --key f fed", "item --default fed"),
    );
    assert_eq!(m.default, Some(0));
}

#[test]
fn chained_scripts_share_settings_and_return() {
    let mut fetched = Vec::new();
    let mut fetch = |uri: &str| {
        fetched.push(uri.to_string());
        match uri {
            "http://h/ipxe/vars.ipxe" => Fetched::Text("#!ipxe\nset base http://mirror/debian\nexit 0\n".into()),
            "http://h/ipxe/sub/menu.ipxe" => Fetched::Text(
                "#!ipxe\nmenu Sub\nitem a Install\nitem b Rescue\nchoose x && goto ${x}\n\
                 :a\nkernel ${base}/linux\nboot\n:b\nkernel ${base}/linux rescue/enable=true\nboot\n"
                    .into(),
            ),
            "http://h/ipxe/vmlinuz" => Fetched::Image,
            _ => Fetched::Failed("404 Not Found".into()),
        }
    };
    let script = "#!ipxe\nchain --autofree vars.ipxe ||\nmenu Top\nitem sub Debian\nitem direct Direct kernel\n\
                  item missing Missing\nchoose t && goto ${t}\n\
                  :sub\nchain --replace sub/menu.ipxe\n\
                  :direct\ninitrd initrd.gz\nchain vmlinuz console=ttyS0\n\
                  :missing\nchain gone.ipxe || exit 1\n";
    let m = run(script, "http://h/ipxe/boot.ipxe", &BTreeMap::new(), &mut fetch);
    assert_eq!(titles(&m), ["Debian > Install", "Debian > Rescue", "Direct kernel"]);
    assert_eq!(m.entries[0].kernel, "http://mirror/debian/linux");
    assert_eq!(m.entries[1].cmdline, "rescue/enable=true");
    assert_eq!(m.entries[2].kernel, "http://h/ipxe/vmlinuz");
    assert_eq!(m.entries[2].initrds, ["http://h/ipxe/initrd.gz"]);
    assert_eq!(m.entries[2].cmdline, "console=ttyS0");
    assert_eq!(m.default, Some(0));
    assert!(m.errors.iter().any(|e| e.contains("gone.ipxe: 404")), "{:?}", m.errors);
    // Each URI fetched once, though two paths reach them.
    assert_eq!(fetched.iter().filter(|u| u.ends_with("vars.ipxe")).count(), 1);
}

#[test]
fn chain_depth_is_bounded() {
    let mut fetch = |_: &str| Fetched::Text("#!ipxe\nchain again.ipxe\n".into());
    let m = run(
        "#!ipxe\nchain again.ipxe\n",
        "http://h/x.ipxe",
        &BTreeMap::new(),
        &mut fetch,
    );
    assert!(m.entries.is_empty());
    assert!(
        m.errors.iter().any(|e| e.contains("chained more than")),
        "{:?}",
        m.errors
    );
}

#[test]
fn unknown_commands_are_reported_not_fatal() {
    let m = run_simple("#!ipxe\nfrobnicate now ||\nimgverify k k.sig || echo unsigned\nkernel http://h/k\nboot\n");
    assert_eq!(m.entries.len(), 1);
    assert!(
        m.errors.iter().any(|e| e.contains("unknown command `frobnicate`")),
        "{:?}",
        m.errors
    );
    assert!(m.errors.iter().any(|e| e.contains("`imgverify`")));
    // Not a script at all.
    let m = run_simple("kernel http://h/k\n");
    assert!(m.entries.is_empty() && m.errors[0].contains("not an iPXE script"));
}

#[test]
fn non_linux_images_make_no_entry() {
    let m = run_simple(
        "#!ipxe\nmenu\nitem iso ISO\nitem win Windows\nitem lin Linux\nchoose c && goto ${c}\n\
         :iso\nkernel http://h/memdisk iso raw\ninitrd http://h/x.iso\nboot\n\
         :win\nkernel http://h/wimboot\nboot\n:lin\nkernel http://h/vmlinuz\nboot\n",
    );
    assert_eq!(titles(&m), ["Linux"]);
    // The default item (the first) boots no Linux: no default entry.
    assert_eq!(m.default, None);
}

#[test]
fn uri_resolution() {
    let b = "http://h:8080/a/b/boot.ipxe?x=1";
    assert_eq!(resolve_uri(b, "k"), "http://h:8080/a/b/k");
    assert_eq!(resolve_uri(b, "../k"), "http://h:8080/a/k");
    assert_eq!(resolve_uri(b, "/k"), "http://h:8080/k");
    assert_eq!(resolve_uri(b, "//other/k"), "http://other/k");
    assert_eq!(resolve_uri(b, "tftp://t/k"), "tftp://t/k");
    assert_eq!(resolve_uri(b, "k?y=2"), "http://h:8080/a/b/k?y=2");
    assert_eq!(resolve_uri("http://h", "k"), "http://h/k");
    assert_eq!(resolve_uri("boot/boot.ipxe", "k"), "boot/k");
    assert_eq!(image_name("http://h/a/vmlinuz?x=1"), "vmlinuz");
}

fn testdata(p: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/netboot").join(p);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// netboot.xyz's live-regolith.ipxe (Apache-2.0; SOURCES.md), run the way
/// netboot.xyz's live.ipxe chains it: `${menu}` unset (so `goto ${menu} ||`
/// falls through), `${live_endpoint}` and `${arch}` set by the caller. The
/// Jinja `{{ … }}` in the template source is text to iPXE: split at its
/// blanks and joined back by `set`.
#[test]
fn netboot_xyz_live_regolith() {
    let mut settings = BTreeMap::new();
    settings.insert("live_endpoint".to_string(), "https://example.org/live".to_string());
    settings.insert("arch".to_string(), "x86_64".to_string());
    settings.insert("space".to_string(), " ".to_string());
    let m = run(
        &testdata("netboot.xyz/live-regolith.ipxe"),
        "https://boot.netboot.xyz/ipxe/live-regolith.ipxe",
        &settings,
        &mut no_fetch,
    );
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(titles(&m), ["Regolith Current"]);
    let e = &m.entries[0];
    let base = "https://example.org/live{{ endpoints[\"regolith-current\"].path }}";
    assert_eq!(e.kernel, format!("{base}vmlinuz"));
    assert_eq!(e.initrds, [format!("{base}initrd")]);
    assert_eq!(
        e.cmdline,
        format!("ip=dhcp boot=casper netboot=http fetch={base}filesystem.squashfs initrd=initrd")
    );
    assert_eq!(m.default, Some(0));
}

/// netboot.cz's scripts (MIT; SOURCES.md): index.ipxe sets DHCP options 209
/// and 210 as settings and chains lpxelinux (`pxelinux.0`): not Linux, no
/// entry, no error; the boot script before it chains index.ipxe.
#[test]
fn netboot_cz_scripts() {
    let mut settings = BTreeMap::new();
    settings.insert("hostname".to_string(), "client1".to_string());
    let mut seen = Vec::new();
    let index = testdata("netboot.cz/index.ipxe");
    let mut fetch = |uri: &str| {
        seen.push(uri.to_string());
        match uri {
            "http://netboot.cz/index.ipxe" => Fetched::Text(index.clone()),
            _ => Fetched::Image,
        }
    };
    let m = run(
        &testdata("netboot.cz/netboot.cz.ipxe"),
        "file:netboot.cz.ipxe",
        &settings,
        &mut fetch,
    );
    assert!(m.entries.is_empty());
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(seen, ["http://netboot.cz/index.ipxe", "http://netboot.cz/pxelinux.0"]);
}

#[test]
fn hostile_scripts_never_panic_and_stay_bounded() {
    // Exponential expansion.
    let m = run_simple("#!ipxe\nset a x${b}${b}\nset b ${a}${a}\nset a ${b}${b}${b}${b}\nkernel ${a}\nboot\n");
    assert!(m.entries.len() <= 1);
    // A menu that fans out: 40 items, each chaining 40 more.
    let mut s = String::from("#!ipxe\n");
    for level in 0..3 {
        s.push_str("menu\n");
        for i in 0..40 {
            s.push_str(&format!("item l{level}i{i} Item {i}\n"));
        }
        s.push_str(&format!("choose c{level}\n"));
    }
    s.push_str("kernel http://h/k ${c0} ${c1} ${c2}\nboot\n");
    let m = run_simple(&s);
    assert!(m.entries.len() <= MAX_PATHS);
    assert!(m.errors.iter().any(|e| e.contains("menu paths")), "{:?}", m.errors);
    let words = [
        "#!ipxe",
        "\n",
        "\n",
        ":a",
        "goto",
        "a",
        "${",
        "}",
        "${x}",
        "&&",
        "||",
        ";",
        "menu",
        "item",
        "choose",
        "x",
        "--default",
        "--gap",
        "kernel",
        "initrd",
        "boot",
        "chain",
        "imgfree",
        "set",
        "x",
        "isset",
        "iseq",
        "exit",
        "\\",
        "#",
        "--timeout",
        "imgargs",
        "k",
        "-n",
        "--name",
        "\r",
        ":",
        "b",
        "goto",
        "b",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let mut s = String::from("#!ipxe\n");
        for _ in 0..(seed % 200) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(words[(seed % words.len() as u64) as usize]);
            s.push(' ');
        }
        let mut fetch = |_: &str| Fetched::Text(s.clone());
        let m = run(&s, "http://h/x", &BTreeMap::new(), &mut fetch);
        assert!(m.default.is_none_or(|d| d < m.entries.len()));
        assert!(m.errors.len() <= MAX_ERRORS + 1);
    }
}
