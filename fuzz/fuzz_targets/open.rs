//! `TensorFile::open` on arbitrary bytes, then every tensor read whole and by rows in
//! both precisions: no input may panic, hang or allocate beyond its own size.
#![no_main]

use bilens_io::TensorFile;
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::write("open.safetensors", data);
    match TensorFile::open(&path) {
        Ok(file) => {
            let _ = format!("{file:?} {:?}", file.metadata());
            for t in file.tensors() {
                let _ = t.elements();
                let _ = file.read::<f32>(&t.name).map_err(|e| (e.to_string(), e.hint()));
                let rows = t.shape.first().copied().unwrap_or(1);
                if rows > 1 {
                    let _ = file.read_rows::<f64>(&t.name, 1..rows);
                }
                let _ = file.read_matrix::<f64>(&t.name).map_err(|e| e.to_string());
            }
            let _ = file.require("missing tensor").map_err(|e| (e.to_string(), e.hint()));
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
});
