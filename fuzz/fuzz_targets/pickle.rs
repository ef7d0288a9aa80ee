//! PyTorch checkpoints on arbitrary bytes: `TensorFile::open` (zip or legacy container, the
//! restricted unpickler, the state dict search, every tensor's extent check), then every
//! tensor read whole and by rows, the metadata rendered, and every layout resolved. No input
//! may panic, hang, or allocate beyond a small multiple of its own size.
#![no_main]

use bilens_io::{LayoutSpec, TensorFile, describe_model};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::write("model.pt", data);
    for key in [None, Some("model_state_dict")] {
        match TensorFile::open_key(&path, key) {
            Ok(file) => {
                let _ = format!("{file:?} {:?}", file.metadata());
                for t in file.tensors() {
                    let _ = t.elements();
                    let _ = file.read::<f32>(&t.name).map_err(|e| (e.to_string(), e.hint()));
                    let rows = t.shape.first().copied().unwrap_or(1);
                    if rows > 1 {
                        let _ = file.read_rows::<f64>(&t.name, 1..rows);
                    }
                }
                let _ = describe_model(&file, &LayoutSpec::default()).map_err(|e| e.to_string());
            }
            Err(e) => {
                let _ = (e.to_string(), e.hint());
            }
        }
    }
});
