//! A BLS type #1 entry; the first line doubles as the file name (boot
//! counting suffix), the version compared and the `default` glob.
#![no_main]
use hopboot_loader::format::sdboot::bls;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let text = hopboot_fuzz::text(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(e) = bls::parse_entry(first, rest) else { return };
    let mut v = vec![e.clone(), bls::BlsEntry { id: first.into(), ..e }];
    let _ = hopboot_loader::version::uapi(first, rest);
    bls::sort(&mut v);
    let _ = bls::display_titles(&v);
    let conf = bls::LoaderConf {
        default: Some(first.into()),
        ..Default::default()
    };
    let _ = bls::default_index(&v, &conf);
});
