//! `Vocab::parse` on arbitrary text: a tokenizer.json a user passes with `--tokenizer` may be
//! anything; it must be read or refused, never crash or allocate without bound.
#![no_main]

use std::path::Path;

use bilens_io::Vocab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Vocab::parse(Path::new("tokenizer.json"), text) {
        Ok(v) => {
            for id in 0..v.len().min(64) {
                let _ = v.label(id);
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
});
