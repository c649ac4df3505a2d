//! The chunked decoder on arbitrary bytes: it must never panic, and the
//! data it decodes must not depend on where the bytes were split (the
//! first byte of the input picks the split point).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strangler_wire::framing::{Decoded, Decoder, Framing};

/// What the decoder makes of `wire` fed in two pieces, cut at `cut`:
/// the data, and whether the body ended (`None`: refused).
fn decode(wire: &[u8], cut: usize) -> Option<(Vec<u8>, bool)> {
    let mut decoder = Decoder::new(Framing::Chunked);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in [&wire[..cut], &wire[cut..]] {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(d)) => got.extend_from_slice(&d),
                Ok(Decoded::Trailer(..)) => {}
                Ok(Decoded::Pending) => break,
                Ok(Decoded::Done) => return Some((got, true)),
                Err(_) => return None,
            }
        }
    }
    Some((got, false))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, wire)) = data.split_first() else {
        return;
    };
    let cut = usize::from(first) % (wire.len() + 1);
    let whole = decode(wire, wire.len());
    let split = decode(wire, cut);
    // A body that ended whole ends the same, with the same data, split.
    if let Some((data, true)) = &whole {
        assert_eq!(split.as_ref(), Some(&(data.clone(), true)));
    }
});
