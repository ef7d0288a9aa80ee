//! Token strings from Hugging Face `tokenizer.json` files of the common kinds, written here in
//! the shape `tokenizers` saves them.
#![allow(clippy::unwrap_used, reason = "a panic is a failed test")]

use std::path::Path;

use bilens_io::{IoError, Vocab};

fn parse(json: &str) -> Result<Vocab, IoError> {
    Vocab::parse(Path::new("tokenizer.json"), json)
}

#[test]
fn byte_level_bpe_reads_as_text() {
    // GPT-2 style: Ġ is a space, Ċ a newline, âĢ the first two bytes of "—" (e2 80 94).
    let v = parse(
        r#"{"version": "1.0", "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true}],
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": {"the": 0, "Ġthe": 1, "Ċ": 2, "âĢ": 3, "âĢĶ": 4},
                      "merges": ["t h", "th e"]}}"#,
    )
    .unwrap();
    assert_eq!(v.len(), 6);
    assert_eq!(v.token(0), Some("the"));
    assert_eq!(v.token(1), Some(" the"));
    assert_eq!(v.token(2), Some("\\n"));
    assert_eq!(v.token(3), Some("\\xe2\\x80"));
    assert_eq!(v.token(4), Some("—"));
    assert_eq!(v.token(5), Some("<|endoftext|>"));
    assert_eq!(v.label(9), "<9>");
}

#[test]
fn sentencepiece_and_unigram_read_as_text() {
    // Llama 2 style: a Replace of ▁ and byte fallback in a decoder Sequence.
    let v = parse(
        r#"{"decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"}]},
            "model": {"type": "BPE", "vocab": {"<unk>": 0, "<0x0A>": 1, "▁the": 2, "ing": 3}}}"#,
    )
    .unwrap();
    assert_eq!(
        (0..4).map(|i| v.label(i)).collect::<Vec<_>>(),
        ["<unk>", "\\n", " the", "ing"]
    );
    // Unigram (T5 style): a list of [piece, score], ids in order.
    let v = parse(
        r#"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁a", -1.5], ["b", -2.0]]}}"#,
    )
    .unwrap();
    assert_eq!(v.token(1), Some(" a"));
    assert_eq!(v.token(2), Some("b"));
}

#[test]
fn wordpiece_keeps_its_prefix_and_bad_files_are_named() {
    let v = parse(
        r###"{"decoder": {"type": "WordPiece", "prefix": "##"},
            "model": {"type": "WordPiece", "vocab": {"[CLS]": 0, "play": 1, "##ing": 2}}}"###,
    )
    .unwrap();
    assert_eq!(v.token(2), Some("##ing"));

    let e = parse(r#"{"vocab": {"a": 0}}"#).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "tokenizer.json: not a Hugging Face tokenizer.json (it needs model.vocab)"
        ),
        "{e}"
    );
    assert!(e.hint().unwrap().to_string().contains("save_pretrained"));
    let e = parse(r#"{"model": {"vocab": {"a": 0, "b": 0}}}"#).unwrap_err();
    assert!(e.to_string().contains("token id 0 is used twice"), "{e}");
    let e = parse(r#"{"model": {"vocab": {"a": 99999999999}}}"#).unwrap_err();
    assert!(e.to_string().contains("implausibly large"), "{e}");
    let e = Vocab::read(Path::new("/nonexistent/tokenizer.json")).unwrap_err();
    assert!(matches!(e, IoError::NotFound { .. }));
}
