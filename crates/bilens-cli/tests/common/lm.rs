//! A bilinear transformer checkpoint in the public naming (random weights, several layers,
//! attention and embeddings beside the MLPs), written for the language-model tests, and the
//! direct computations their spectra are checked against.

use std::path::Path;

use super::{Rng, write_tensors};

pub const D: usize = 8;
pub const H: usize = 6;
pub const VOCAB: usize = 12;
pub const LAYERS: usize = 3;
/// Input SAE features (overcomplete) and output SAE features.
pub const N_IN: usize = 10;
pub const N_OUT: usize = 5;

/// The weights of one layer, row-major f64 (rounded to f32, as the file holds them).
pub struct Layer {
    pub w: Vec<f64>,
    pub v: Vec<f64>,
    pub p: Vec<f64>,
    pub gain: Vec<f64>,
}

pub struct Model {
    pub layers: Vec<Layer>,
    pub wte: Vec<f64>,
    pub lm_head: Vec<f64>,
}

pub fn f32s(v: Vec<f64>) -> Vec<f64> {
    super::as_f32(&v)
}

pub fn model(rng: &mut Rng) -> Model {
    let layers = (0..LAYERS)
        .map(|_| Layer {
            w: f32s(rng.vec(H * D)),
            v: f32s(rng.vec(H * D)),
            p: f32s(rng.vec(D * H)),
            gain: f32s(rng.vec(D).iter().map(|g| 1.0 + 0.5 * g).collect()),
        })
        .collect();
    Model {
        layers,
        wte: f32s(rng.vec(VOCAB * D)),
        lm_head: f32s(rng.vec(VOCAB * D)),
    }
}

/// Writes the checkpoint as the public code names it.
pub fn write_model(path: &Path, m: &Model, rng: &mut Rng) {
    let mut t: Vec<(String, Vec<usize>, Vec<f64>)> = vec![
        (
            "transformer.wte.weight".into(),
            vec![VOCAB, D],
            m.wte.clone(),
        ),
        ("lm_head.weight".into(), vec![VOCAB, D], m.lm_head.clone()),
        ("transformer.n_f.weight".into(), vec![D], vec![1.0; D]),
    ];
    for (i, l) in m.layers.iter().enumerate() {
        let mut fused = l.w.clone();
        fused.extend(&l.v);
        let name = |rest: &str| format!("transformer.h.{i}.{rest}");
        t.push((name("mlp.w.weight"), vec![2 * H, D], fused));
        t.push((name("mlp.p.weight"), vec![D, H], l.p.clone()));
        t.push((name("n2.weight"), vec![D], l.gain.clone()));
        t.push((name("attn.qkv.weight"), vec![3 * D, D], rng.vec(3 * D * D)));
        t.push((name("attn.o.weight"), vec![D, D], rng.vec(D * D)));
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f64>)> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_tensors(path, &refs);
}

/// Writes the same model as a TransformerLens state dict: every matrix multiplied from the
/// right (`W_gate = Wᵀ`, `W_in = Vᵀ`, `W_out = Pᵀ`, `W_U = lm_headᵀ`), `W_E` as the embedding.
pub fn write_tl_model(path: &Path, m: &Model) {
    let mut t: Vec<(String, Vec<usize>, Vec<f64>)> = vec![
        ("embed.W_E".into(), vec![VOCAB, D], m.wte.clone()),
        (
            "unembed.W_U".into(),
            vec![D, VOCAB],
            transpose(&m.lm_head, VOCAB, D),
        ),
    ];
    for (i, l) in m.layers.iter().enumerate() {
        let name = |rest: &str| format!("blocks.{i}.{rest}");
        t.push((name("mlp.W_gate"), vec![D, H], transpose(&l.w, H, D)));
        t.push((name("mlp.W_in"), vec![D, H], transpose(&l.v, H, D)));
        t.push((name("mlp.W_out"), vec![H, D], transpose(&l.p, D, H)));
        t.push((name("ln2.w"), vec![D], l.gain.clone()));
    }
    let refs: Vec<(&str, Vec<usize>, Vec<f64>)> = t
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_tensors(path, &refs);
}

pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

/// `sym(W'ᵀ diag(Pᵀu) V')` with the gain folded, `W' = W diag(γ)`.
pub fn q_of(l: &Layer, u: &[f64]) -> Vec<f64> {
    let fold = |m: &[f64]| -> Vec<f64> { (0..H * D).map(|i| m[i] * l.gain[i % D]).collect() };
    let c = super::coefficients(&l.p, u, H);
    super::reference_interaction(&fold(&l.w), &fold(&l.v), &c, H, D)
}

/// `Dᵀ Q D` for a basis whose features are the rows of `dec` `[n, D]`.
pub fn in_basis(q: &[f64], dec: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            let mut s = 0.0;
            for i in 0..D {
                for j in 0..D {
                    s += dec[a * D + i] * q[i * D + j] * dec[b * D + j];
                }
            }
            out[a * n + b] = s;
        }
    }
    out
}
