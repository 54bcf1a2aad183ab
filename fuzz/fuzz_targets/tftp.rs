//! A TFTP packet as received: `net::tftp::parse`; a read request parsed
//! back is built again and must parse to the same packet.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hopboot_loader::net::tftp::{parse, rrq, Packet};
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    if let Ok(Packet::Rrq { file, options, .. }) = parse(data) {
        let opts: Vec<(&str, String)> = options.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        if let Some(p) = rrq(&file, &opts) {
            let Ok(Packet::Rrq { file: f2, options: o2, .. }) = parse(&p) else {
                panic!("a built request does not parse")
            };
            // Lossy UTF-8 may have replaced bytes once; after that it is stable.
            assert_eq!((f2, o2), (file, options));
        }
    }
});
