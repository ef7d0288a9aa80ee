//! Writes a seeded synthetic bilinear layer with a realistic spectrum, and output directions,
//! as safetensors files that both bilens and the peer read.
//!
//!     cargo run --release -p bilens-benches --bin synth -- OUT_DIR D_IN D_HIDDEN D_OUT N_OUTPUTS [SEED]
//!
//! Writes `OUT_DIR/layer.safetensors` (`w`, `v` `[d_hidden, d_in]`, `p` `[d_out, d_hidden]`, F32)
//! and `OUT_DIR/outputs.safetensors` (`directions` `[n_outputs, d_out]`, F32, unit rows).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a measurement program: its output is the measurement"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use bilens_benches::synthetic_layer;
use bilens_io::write_arrays;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        return Err("usage: synth OUT_DIR D_IN D_HIDDEN D_OUT N_OUTPUTS [SEED]".into());
    }
    let out = PathBuf::from(&args[0]);
    let n: Vec<usize> = args[1..5]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let seed: u64 = args.get(5).map_or(Ok(0), |s| s.parse())?;
    let (d_in, d_hidden, d_out, n_outputs) = (n[0], n[1], n[2], n[3]);
    std::fs::create_dir_all(&out)?;
    let (layer, directions) = synthetic_layer(seed, d_in, d_hidden, d_out, n_outputs);
    let meta = BTreeMap::from([("generator".to_string(), format!("bilens synth seed {seed}"))]);
    write_arrays(
        &out.join("layer.safetensors"),
        &[
            ("w", layer.w().into_dyn()),
            ("v", layer.v().into_dyn()),
            ("p", layer.p().into_dyn()),
        ],
        &meta,
    )?;
    write_arrays(
        &out.join("outputs.safetensors"),
        &[("directions", directions.view().into_dyn())],
        &meta,
    )?;
    println!(
        "wrote {}/layer.safetensors ({d_in}/{d_hidden}/{d_out}) and outputs.safetensors ({n_outputs} directions)",
        out.display()
    );
    Ok(())
}
