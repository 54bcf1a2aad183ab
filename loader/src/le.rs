//! Little-endian fields in byte buffers: disk sectors and superblocks, the
//! bzImage setup header, the zero page hopboot builds.
//!
//! None of these panics on a short buffer: a read of a field that does not lie
//! wholly inside the buffer returns 0 and such a write does nothing (callers
//! check lengths first; this is the second line of defence). Offsets saturate,
//! so even an offset near `usize::MAX` is only "outside".

/// The `u16` at `off`, or 0 if the buffer ends before `off + 2`.
pub(crate) fn le_u16(b: &[u8], off: usize) -> u16 {
    b.get(off..off.saturating_add(2))
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .unwrap_or(0)
}

/// The `u32` at `off`, or 0 if the buffer ends before `off + 4`.
pub(crate) fn le_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off.saturating_add(4))
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// The `u64` at `off`, or 0 if the buffer ends before `off + 8`.
pub(crate) fn le_u64(b: &[u8], off: usize) -> u64 {
    b.get(off..off.saturating_add(8))
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// Copies `v` to `off` (usually a value's `to_le_bytes()`); nothing if it
/// would not fit wholly inside `b`.
pub(crate) fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(d) = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        d.copy_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_little_endian() {
        let b = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09];
        assert_eq!(le_u16(&b, 1), 0x0302);
        assert_eq!(le_u32(&b, 1), 0x0504_0302);
        assert_eq!(le_u64(&b, 1), 0x0908_0706_0504_0302);
    }

    #[test]
    fn fields_past_the_end_read_as_zero() {
        let b = [0xffu8; 8];
        assert_eq!(le_u16(&b, 7), 0);
        assert_eq!(le_u32(&b, 5), 0);
        assert_eq!(le_u64(&b, 1), 0);
        assert_eq!(le_u64(&b, 0), u64::MAX);
        assert_eq!(le_u32(&[], 0), 0);
        assert_eq!(le_u16(&b, usize::MAX), 0);
        assert_eq!(le_u32(&b, usize::MAX - 1), 0);
        assert_eq!(le_u64(&b, usize::MAX - 7), 0);
    }

    #[test]
    fn writes_that_do_not_fit_do_nothing() {
        let mut b = [0u8; 8];
        put(&mut b, 4, &0x0102_0304u32.to_le_bytes());
        assert_eq!(b, [0, 0, 0, 0, 4, 3, 2, 1]);
        put(&mut b, 6, &[9, 9, 9]);
        put(&mut b, usize::MAX, &[9]);
        put(&mut b, usize::MAX - 1, &[9, 9, 9]);
        assert_eq!(b, [0, 0, 0, 0, 4, 3, 2, 1]);
        put(&mut b, 8, &[]);
        assert_eq!(b, [0, 0, 0, 0, 4, 3, 2, 1]);
    }
}
