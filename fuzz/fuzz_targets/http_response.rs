//! An HTTP response as received: `net::http::parse_head`, `Head::framing`,
//! then the rest as a chunked body fed in pieces whose sizes come from the
//! input's first byte (split points move with it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hopboot_loader::net::http::{parse_head, Chunked};
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let body = match parse_head(data) {
        Ok(Some((head, len))) => {
            let _ = (head.framing(), head.header("location"));
            &data[len..]
        }
        // Not a head: decode the whole input as a chunked body anyway.
        Ok(None) | Err(_) => data,
    };
    let mut c = Chunked::default();
    let mut total = 0usize;
    for mut p in body.chunks(usize::from(piece).max(1)) {
        while !p.is_empty() && !c.done() {
            let Ok((taken, out)) = c.feed(p) else { return };
            assert!(taken > 0 && taken <= p.len(), "feed took {taken} of {}", p.len());
            assert!(out.len() <= taken);
            total += out.len();
            p = &p[taken..];
        }
    }
    assert!(total <= body.len());
});
