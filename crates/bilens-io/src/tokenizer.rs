//! Token strings from a Hugging Face `tokenizer.json`, to label outputs and components by the
//! tokens they concern.
//!
//! Only the vocabulary is read (`model.vocab`: a `{token: id}` map for BPE, WordPiece and
//! WordLevel models, a `[[token, score], ...]` list for Unigram, plus `added_tokens`); nothing
//! is tokenised. Each token is shown as the text it decodes to, so that a label reads like the
//! text it stands for:
//!
//! - byte-level BPE (GPT-2, Llama 3, the paper's tokenizers; a `ByteLevel` decoder or
//!   pre-tokenizer): the printable stand-ins are mapped back to bytes, so `Ġthe` is ` the` and
//!   `Ċ` a newline; a token that is part of a multi-byte character keeps its bytes as `\xNN`;
//! - SentencePiece (a `Metaspace` decoder, or a `Replace` of `▁`, as Llama 2 and T5 save them):
//!   `▁` is a space, and `<0x0A>` byte-fallback tokens are the byte;
//! - anything else as stored (WordPiece keeps its `##` continuation prefix).
//!
//! Control characters are escaped (`\n`, `\t`, `\u{7f}`) so that a label stays on one line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{IoError, Result};

/// Token ids above this are refused: a vocabulary is at most a few hundred thousand tokens,
/// and the table is allocated up to the largest id.
const MAX_TOKEN_ID: u64 = 16 << 20;

/// A tokenizer's vocabulary: the display text of every token id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    path: PathBuf,
    tokens: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct TokenizerJson {
    model: ModelJson,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default)]
    decoder: Option<serde_json::Value>,
    #[serde(default)]
    pre_tokenizer: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    vocab: VocabJson,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum VocabJson {
    Map(HashMap<String, u64>),
    List(Vec<(String, f64)>),
}

#[derive(Deserialize)]
struct AddedToken {
    id: u64,
    content: String,
}

/// How stored token strings become text.
#[derive(Clone, Copy, Debug, Default)]
struct Decoding {
    byte_level: bool,
    metaspace: bool,
    byte_fallback: bool,
}

impl Vocab {
    /// Reads the vocabulary of a Hugging Face `tokenizer.json`.
    ///
    /// Errors: [`IoError::NotFound`], [`IoError::Tokenizer`] (not JSON, no `model.vocab`, an
    /// id used twice or out of range).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| IoError::os(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses the text of a `tokenizer.json` (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |reason: String| IoError::Tokenizer {
            path: path.to_path_buf(),
            reason,
        };
        let json: TokenizerJson = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not a Hugging Face tokenizer.json (it needs model.vocab): {e}"
            ))
        })?;
        let mentions = |kind: &str| {
            [&json.decoder, &json.pre_tokenizer]
                .into_iter()
                .flatten()
                .any(|v| mentions_type(v, kind))
        };
        let decoding = Decoding {
            byte_level: mentions("ByteLevel"),
            metaspace: mentions("Metaspace")
                || json.decoder.as_ref().is_some_and(replaces_metaspace)
                || json.model.kind.as_deref() == Some("Unigram"),
            byte_fallback: mentions("ByteFallback"),
        };
        let entries: Vec<(u64, String)> = match json.model.vocab {
            VocabJson::Map(m) => m.into_iter().map(|(t, id)| (id, t)).collect(),
            VocabJson::List(l) => (0u64..).zip(l.into_iter().map(|(t, _)| t)).collect(),
        };
        let mut tokens: Vec<Option<String>> = Vec::new();
        let mut place = |id: u64, text: String, added: bool| -> Result<()> {
            if id > MAX_TOKEN_ID {
                return Err(bad(format!(
                    "token id {id} is implausibly large (more than {MAX_TOKEN_ID})"
                )));
            }
            let i = id as usize;
            if i >= tokens.len() {
                tokens.resize(i + 1, None);
            }
            if tokens[i].is_some() && !added {
                return Err(bad(format!("token id {id} is used twice in model.vocab")));
            }
            tokens[i] = Some(text);
            Ok(())
        };
        for (id, t) in entries {
            place(id, decoding.display(&t), false)?;
        }
        // Added tokens (special tokens) are text as written, and win over the model's entry.
        for a in json.added_tokens {
            place(a.id, escape(&a.content), true)?;
        }
        if tokens.is_empty() {
            return Err(bad("model.vocab is empty".into()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tokens,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One more than the largest token id.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary has no tokens (never, for one that was read).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The display text of token `id`, if the vocabulary has one.
    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).and_then(|t| t.as_deref())
    }

    /// The display text of token `id`, or `<id>` when the vocabulary has none.
    pub fn label(&self, id: usize) -> String {
        self.token(id)
            .map_or_else(|| format!("<{id}>"), ToString::to_string)
    }
}

impl Decoding {
    fn display(self, token: &str) -> String {
        if self.byte_level {
            let bytes: Option<Vec<u8>> = token.chars().map(byte_of_char).collect();
            if let Some(b) = bytes {
                return escape_bytes(&b);
            }
        }
        if self.byte_fallback {
            if let Some(b) = fallback_byte(token) {
                return escape_bytes(&[b]);
            }
        }
        if self.metaspace {
            return escape(&token.replace('▁', " "));
        }
        escape(token)
    }
}

/// Whether a decoder or pre-tokenizer (possibly a `Sequence` of them) has `type: kind`.
fn mentions_type(v: &serde_json::Value, kind: &str) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            m.get("type").and_then(|t| t.as_str()) == Some(kind)
                || m.values().any(|x| mentions_type(x, kind))
        }
        serde_json::Value::Array(a) => a.iter().any(|x| mentions_type(x, kind)),
        _ => false,
    }
}

/// Whether a decoder replaces `▁` (SentencePiece's space) with a space, as Llama 2's does.
fn replaces_metaspace(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let pattern = m
                .get("pattern")
                .and_then(|p| p.get("String"))
                .and_then(|s| s.as_str());
            (m.get("type").and_then(|t| t.as_str()) == Some("Replace") && pattern == Some("▁"))
                || m.values().any(replaces_metaspace)
        }
        serde_json::Value::Array(a) => a.iter().any(replaces_metaspace),
        _ => false,
    }
}

/// GPT-2's byte-to-character table inverted: printable bytes stand for themselves, the 68
/// others (controls, space, NBSP, soft hyphen) for the characters from U+0100 on, in order.
fn byte_of_char(c: char) -> Option<u8> {
    let u = u32::from(c);
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    if u < 256 && printable(u) {
        return u8::try_from(u).ok();
    }
    let n = u.checked_sub(256)?;
    (0u32..256)
        .filter(|&b| !printable(b))
        .nth(n as usize)
        .and_then(|b| u8::try_from(b).ok())
}

/// `<0x0A>` → `0x0A`.
fn fallback_byte(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Text from bytes: valid UTF-8 runs as text (escaped), the rest as `\xNN`.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Control characters escaped so that a label stays on one line.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_byte_table_round_trips() {
        assert_eq!(byte_of_char('Ġ'), Some(b' '));
        assert_eq!(byte_of_char('Ċ'), Some(b'\n'));
        assert_eq!(byte_of_char('!'), Some(b'!'));
        assert_eq!(byte_of_char('\u{100}'), Some(0));
        assert_eq!(byte_of_char('ĉ'), Some(b'\t'));
        assert_eq!(byte_of_char('\u{1000}'), None);
        // Every byte has exactly one character.
        let mut seen = [false; 256];
        for u in 0..512u32 {
            if let Some(b) = char::from_u32(u).and_then(byte_of_char) {
                assert!(!seen[b as usize], "byte {b} twice");
                seen[b as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn escapes_and_fallback_bytes() {
        assert_eq!(escape("a\nb\t\u{7f}"), "a\\nb\\t\\u{7f}");
        assert_eq!(escape_bytes(&[0xe2, 0x80]), "\\xe2\\x80");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
        assert_eq!(fallback_byte("<0x0A>"), Some(10));
        assert_eq!(fallback_byte("<0x0>"), None);
        assert_eq!(fallback_byte("0x0A"), None);
    }
}
