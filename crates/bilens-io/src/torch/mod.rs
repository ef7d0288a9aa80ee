//! PyTorch checkpoints (`torch.save`, `.pt`/`.pth`/`.bin`) read without Python: where each
//! tensor's bytes are, its dtype, shape and strides, and the inert values saved beside the
//! weights (an epoch, a config object).
//!
//! Two container formats exist, told apart by content (never by extension):
//!
//! - **zip** (torch >= 1.6, the default): `<name>/data.pkl` is the pickled object, and each
//!   storage is an uncompressed entry `<name>/data/<key>`, so tensors are used in place in the
//!   memory-mapped file ([`zip`]);
//! - **legacy** (`_use_new_zipfile_serialization=False`, and every torch before 1.6): five
//!   pickles in a row (a magic number, the protocol version 1001, system information, the
//!   object, the sorted storage keys), then each storage as an 8-byte element count and its raw
//!   bytes, in key order.
//!
//! In both, a tensor is pickled as a call of `torch._utils._rebuild_tensor_v2(storage,
//! storage_offset, size, stride, ...)` whose storage is a persistent id
//! `('storage', torch.FloatStorage, key, location, numel)`. The restricted unpickler
//! ([`pickle`]) records such calls as data; this module recognises them by name and checks
//! every extent against the storage and the file before a tensor can be read.
//!
//! The state dict is the object itself when it holds tensors, or the dict under
//! `model_state_dict`, `state_dict` or `model` (the first that holds tensors), or under a key
//! the caller names; tensor names are those inside it. The other entries of the top level are
//! described as text (the file's metadata for `bilens inspect`), and a config object among them
//! ([`PickledConfig`]) can stand in for a missing `config.json`.

mod pickle;
mod zip;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use safetensors::Dtype as StDtype;

use crate::error::{IoError, Result};
use pickle::{Id, Node, Pickle};

/// Keys under which training scripts nest the state dict, tried in this order.
pub(crate) const STATE_DICT_KEYS: [&str; 3] = ["model_state_dict", "state_dict", "model"];

/// Keys under which a config object is looked for first.
const CONFIG_KEYS: [&str; 3] = ["config", "cfg", "args"];

/// The first bytes of a zip archive.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The legacy format's magic number (`0x1950a86a20f9469cfc6c`) as pickle's `LONG1` bytes.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The legacy format's protocol version.
const LEGACY_PROTOCOL: i64 = 1001;

/// Nested dicts inside a state dict are flattened with dotted names down to this depth.
const MAX_NESTING: usize = 16;

/// Whether `bytes` (a file's first bytes) look like a PyTorch checkpoint: a zip archive, or a
/// pickle stream (protocol 2 to 5, which every `torch.save` writes).
pub(crate) fn detect(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC)
        || (bytes.len() >= 2
            && bytes[0] == 0x80
            && (2..=5).contains(&bytes[1])
            && !safetensors_header(bytes))
}

/// Whether `bytes` begin as a safetensors file does: a little-endian header length that fits
/// in the file, then the header's JSON. A header of 640 to 1535 bytes has a length whose first
/// two bytes (0x80, 0x02..0x05) are also how a pickle begins; a legacy checkpoint has the
/// magic number's bytes where the JSON would start.
fn safetensors_header(bytes: &[u8]) -> bool {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return false;
    };
    u64::from_le_bytes(*len) <= rest.len() as u64 && rest.first() == Some(&b'{')
}

/// One tensor of a checkpoint, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TorchTensor {
    /// Its name in the state dict.
    pub name: String,
    /// Its element type; `Err` names what it is when bilens cannot read it.
    pub dtype: std::result::Result<StDtype, String>,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its strides in elements (torch's `stride()`).
    pub strides: Vec<usize>,
    /// Offset in the file of its first element.
    pub begin: usize,
}

/// A config object (or dict) saved beside the weights, as data: the public image code saves
/// `{"config": Config(...), "model": state_dict}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PickledConfig {
    /// The top-level key it is under.
    pub key: String,
    /// Its class, `module.Name` (`dict` for a plain dict).
    pub class: String,
    /// Its fields whose values are numbers, booleans, strings or None.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// What a checkpoint holds.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoint {
    /// The state dict's tensors, in the dict's order.
    pub tensors: Vec<TorchTensor>,
    /// Format, where the state dict was, and the other top-level entries described.
    pub metadata: BTreeMap<String, String>,
    /// A config object found beside the weights.
    pub config: Option<PickledConfig>,
}

/// Reads the checkpoint `file` (the whole file, mapped) at `path`; `key` names the entry
/// holding the state dict when the automatic choice is not wanted.
pub(crate) fn read(path: &Path, file: &[u8], key: Option<&str>) -> Result<Checkpoint> {
    let bad = |reason: String| IoError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let pickle_err = |what: &str, e: pickle::PickleError| {
        if e.truncated {
            IoError::Truncated {
                path: path.to_path_buf(),
                reason: format!("{what}: {e}"),
            }
        } else {
            bad(format!("{what}: {e}"))
        }
    };
    let (format, pickle, storages) = if file.starts_with(ZIP_MAGIC) {
        let entries = zip::entries(file).map_err(|e| bad(format!("zip archive: {e}")))?;
        let data_pkl = entries
            .iter()
            .find(|e| {
                e.name.strip_suffix("data.pkl").is_some_and(|p| {
                    p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1)
                })
            })
            .ok_or_else(|| {
                bad(
                    "a zip archive without data.pkl, so not written by torch.save (NumPy .npz \
                     files are zip archives too)"
                        .into(),
                )
            })?;
        let prefix = data_pkl.name.trim_end_matches("data.pkl").to_string();
        let stored = |e: &zip::ZipEntry| -> Result<Range<usize>> {
            if e.method != 0 {
                return Err(bad(format!(
                    "zip entry '{}' is compressed (method {}); torch.save stores entries \
                     uncompressed, so the file was repacked by another tool",
                    e.name, e.method
                )));
            }
            Ok(e.data.clone())
        };
        if let Some(order) = entries
            .iter()
            .find(|e| e.name == format!("{prefix}byteorder"))
        {
            let order = &file[stored(order)?];
            if order != b"little" {
                return Err(bad(format!(
                    "the tensors are stored {} (byteorder entry); bilens reads little-endian \
                     checkpoints",
                    String::from_utf8_lossy(order)
                )));
            }
        }
        let p =
            pickle::parse(&file[stored(data_pkl)?]).map_err(|e| pickle_err(&data_pkl.name, e))?;
        let mut storages = BTreeMap::new();
        let data_dir = format!("{prefix}data/");
        for e in &entries {
            if let Some(k) = e.name.strip_prefix(&data_dir) {
                storages.insert(k.to_string(), stored(e)?);
            }
        }
        ("zip (torch >= 1.6)", p, storages)
    } else if detect(file) {
        read_legacy(path, file)?
    } else {
        return Err(bad(
            "neither a zip archive nor a pickle stream (wrong magic bytes)".into(),
        ));
    };
    interpret(path, file.len(), format, &pickle, &storages, key)
}

/// A container read: its format's description, the pickled object, and the byte range of each
/// storage by key.
type Parsed = (&'static str, Pickle, BTreeMap<String, Range<usize>>);

/// The legacy format: five pickles, then the storages in key order.
fn read_legacy(path: &Path, file: &[u8]) -> Result<Parsed> {
    let bad = |reason: String| IoError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let truncated = |reason: String| IoError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let mut at = 0usize;
    let mut next = |what: &str| -> Result<Pickle> {
        let p = pickle::parse(&file[at..]).map_err(|e| {
            let reason = format!("the legacy format's {what} (at byte {at}): {e}");
            if e.truncated {
                truncated(reason)
            } else {
                bad(reason)
            }
        })?;
        at += p.end;
        Ok(p)
    };
    let magic = next("magic number")?;
    if !matches!(magic.node(magic.root), Node::BigInt(b) if b[..] == LEGACY_MAGIC) {
        return Err(bad(
            "a pickle, but not a torch.save checkpoint: it does not start with torch's magic \
             number (a plain pickle.dump file needs Python to read; bilens never runs pickled \
             code)"
                .into(),
        ));
    }
    let version = next("protocol version")?;
    if version.int(version.root) != Some(LEGACY_PROTOCOL) {
        return Err(bad(format!(
            "legacy protocol version {:?}; torch writes {LEGACY_PROTOCOL}",
            version.node(version.root)
        )));
    }
    let sys = next("system information")?;
    if let Node::Dict(items) = sys.node(sys.root) {
        for &(k, v) in items {
            if sys.str(k) == Some("little_endian") && sys.node(v) == &Node::Bool(false) {
                return Err(bad(
                    "saved on a big-endian machine; bilens reads little-endian checkpoints".into(),
                ));
            }
        }
    }
    let object = next("pickled object")?;
    let keys = next("storage keys")?;
    let Some(keys) = keys.seq(keys.root).map(|ks| {
        ks.iter()
            .map(|&k| keys.str(k).map(str::to_string))
            .collect::<Option<Vec<String>>>()
    }) else {
        return Err(bad("the storage keys are not a list".into()));
    };
    let keys = keys.ok_or_else(|| bad("a storage key is not a string".into()))?;
    let sizes = storage_sizes(&object);
    let mut storages = BTreeMap::new();
    for key in keys {
        let Some(&width) = sizes.get(&key) else {
            return Err(bad(format!(
                "storage '{key}' is listed but no tensor uses it, so its element size is unknown"
            )));
        };
        let count = file
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| {
                truncated(format!(
                    "the file ends at byte {} where storage '{key}' should start",
                    file.len()
                ))
            })?;
        let start = at + 8;
        let end = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(width))
            .and_then(|b| b.checked_add(start))
            .filter(|&e| e <= file.len())
            .ok_or_else(|| {
                truncated(format!(
                    "storage '{key}' declares {count} elements of {width} bytes at byte {start}, \
                     past the end of the file ({} bytes)",
                    file.len()
                ))
            })?;
        storages.insert(key, start..end);
        at = end;
    }
    Ok((
        "legacy (torch.save before 1.6 or _use_new_zipfile_serialization=False)",
        object,
        storages,
    ))
}

/// Element size of each storage key, from the persistent ids of the pickle.
fn storage_sizes(p: &Pickle) -> BTreeMap<String, usize> {
    let mut sizes = BTreeMap::new();
    for node in &p.nodes {
        if let Node::Persistent(pid) = node {
            if let Ok(s) = storage_ref(p, *pid) {
                if let Ok(dtype) = s.dtype {
                    sizes.entry(s.key).or_insert(dtype.bitsize() / 8);
                }
            }
        }
    }
    sizes
}

/// A storage as a persistent id names it.
struct StorageRef {
    key: String,
    dtype: std::result::Result<StDtype, String>,
    numel: usize,
}

/// Parses `('storage', torch.XStorage, key, location, numel[, view])`.
fn storage_ref(p: &Pickle, pid: Id) -> std::result::Result<StorageRef, String> {
    let items = p
        .seq(pid)
        .ok_or_else(|| format!("a persistent id that is {}", pickle::kind(p.node(pid))))?;
    if items.len() < 5 || p.str(items[0]) != Some("storage") {
        return Err(
            "a persistent id that is not torch's ('storage', type, key, location, numel)".into(),
        );
    }
    if items.get(5).is_some_and(|&v| p.node(v) != &Node::None) {
        return Err("a storage view (torch < 0.4), which bilens does not read".into());
    }
    let dtype = match p.global(items[1]) {
        Some(("torch", name)) => storage_dtype(name).ok_or_else(|| format!("torch.{name}")),
        Some((m, n)) => Err(format!("{m}.{n}")),
        None => return Err("a storage whose type is not a name".into()),
    };
    let key = match p.node(items[2]) {
        Node::Str(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        other => return Err(format!("a storage key that is {}", pickle::kind(other))),
    };
    let numel = p
        .int(items[4])
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("storage '{key}' has no valid element count"))?;
    Ok(StorageRef { key, dtype, numel })
}

/// The element type of torch's legacy storage class `name`.
fn storage_dtype(name: &str) -> Option<StDtype> {
    Some(match name {
        "FloatStorage" => StDtype::F32,
        "DoubleStorage" => StDtype::F64,
        "HalfStorage" => StDtype::F16,
        "BFloat16Storage" => StDtype::BF16,
        "LongStorage" => StDtype::I64,
        "IntStorage" => StDtype::I32,
        "ShortStorage" => StDtype::I16,
        "CharStorage" => StDtype::I8,
        "ByteStorage" | "UntypedStorage" => StDtype::U8,
        "BoolStorage" => StDtype::BOOL,
        _ => return None,
    })
}

/// Finds the state dict, its tensors, the metadata and a config object.
fn interpret(
    path: &Path,
    file_len: usize,
    format: &str,
    p: &Pickle,
    storages: &BTreeMap<String, Range<usize>>,
    key: Option<&str>,
) -> Result<Checkpoint> {
    let bad = |reason: String| IoError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "format".to_string(),
        format!("PyTorch checkpoint, {format}"),
    );
    let top: &[(Id, Id)] = match p.node(p.root) {
        Node::Dict(items) => items,
        Node::Object { class, .. } => {
            let class = p
                .global(*class)
                .map_or("?".into(), |(m, n)| format!("{m}.{n}"));
            return Err(bad(format!(
                "the file holds a pickled object of class {class}, not a state dict; rebuilding \
                 it would run its Python code (save `model.state_dict()` instead)"
            )));
        }
        other => {
            return Err(bad(format!(
                "the file holds {}, not a dict of tensors (a state dict)",
                pickle::kind(other)
            )));
        }
    };
    let key_name = |k: Id| p.str(k).map(str::to_string);
    let holds_tensors = |d: Id| match p.node(d) {
        Node::Dict(items) => items.iter().any(|&(_, v)| is_tensor(p, v)),
        _ => false,
    };
    let keys: Vec<String> = top.iter().filter_map(|&(k, _)| key_name(k)).collect();
    let chosen: Option<(String, Id)> = match key {
        Some(want) => {
            let Some(&(_, v)) = top.iter().find(|&&(k, _)| p.str(k) == Some(want)) else {
                return Err(bad(format!(
                    "no entry '{want}' at the top level; it holds {}",
                    quoted(&keys)
                )));
            };
            if !matches!(p.node(v), Node::Dict(_)) {
                return Err(bad(format!(
                    "the entry '{want}' is {}, not a dict of tensors",
                    pickle::kind(p.node(v))
                )));
            }
            Some((want.to_string(), v))
        }
        None if holds_tensors(p.root) => None,
        None => {
            let found = STATE_DICT_KEYS.iter().find_map(|want| {
                top.iter()
                    .find(|&&(k, v)| p.str(k) == Some(want) && holds_tensors(v))
                    .map(|&(_, v)| (want.to_string(), v))
            });
            if found.is_none() {
                return Err(bad(format!(
                    "no state dict: the top level holds {} and neither holds tensors itself nor \
                     has one under {}",
                    quoted(&keys),
                    quoted(&STATE_DICT_KEYS.map(String::from))
                )));
            }
            found
        }
    };
    let state = chosen.as_ref().map_or(p.root, |(_, v)| *v);
    metadata.insert(
        "state dict".into(),
        match &chosen {
            Some((k, _)) => format!("under '{k}'"),
            None => "the top level".into(),
        },
    );

    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    flatten(p, state, "", 0, &mut seen, &mut |name, v| {
        if is_tensor(p, v) {
            tensors.push((name, v));
        } else {
            skipped.push(name);
        }
    });
    if !skipped.is_empty() {
        metadata.insert(
            "skipped (not tensors)".into(),
            truncate_text(skipped.join(", "), 200),
        );
    }
    // A name twice (a repeated key, or `a.b` beside a nested `{"a": {"b": ...}}`) is never
    // written by torch and would leave a reader unsure which tensor it gets: refused.
    let mut names = HashSet::new();
    if let Some((name, _)) = tensors
        .iter()
        .find(|(name, _)| !names.insert(name.as_str()))
    {
        return Err(bad(format!(
            "the state dict holds two tensors named '{name}'"
        )));
    }
    let tensors = tensors
        .into_iter()
        .map(|(name, v)| locate(p, v, &name, storages, file_len).map_err(&bad))
        .collect::<Result<Vec<_>>>()?;

    let mut config = None;
    if chosen.is_some() {
        for &(k, v) in top {
            let Some(k) = key_name(k) else { continue };
            if Some(&k) == chosen.as_ref().map(|(c, _)| c) {
                continue;
            }
            metadata.insert(k.clone(), render(p, v));
            if let Some(c) = as_config(p, &k, v) {
                let preferred = CONFIG_KEYS.contains(&k.as_str());
                let have_preferred = config
                    .as_ref()
                    .is_some_and(|c: &PickledConfig| CONFIG_KEYS.contains(&c.key.as_str()));
                if config.is_none() || (preferred && !have_preferred) {
                    config = Some(c);
                }
            }
        }
    }
    Ok(Checkpoint {
        tensors,
        metadata,
        config,
    })
}

fn quoted(keys: &[String]) -> String {
    if keys.is_empty() {
        return "no string keys".into();
    }
    let shown: Vec<String> = keys.iter().take(20).map(|k| format!("'{k}'")).collect();
    let more = keys.len().saturating_sub(20);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Visits the entries of dict `d` with dotted names, descending into nested dicts (each dict
/// once: the arena may hold shared or cyclic references).
fn flatten(
    p: &Pickle,
    d: Id,
    prefix: &str,
    depth: usize,
    seen: &mut HashSet<Id>,
    visit: &mut dyn FnMut(String, Id),
) {
    if !seen.insert(d) {
        return;
    }
    let Node::Dict(items) = p.node(d) else { return };
    for &(k, v) in items {
        let name = match p.node(k) {
            Node::Str(s) => s.clone(),
            Node::Int(i) => i.to_string(),
            _ => continue,
        };
        let name = format!("{prefix}{name}");
        if matches!(p.node(v), Node::Dict(_)) && depth < MAX_NESTING {
            flatten(p, v, &format!("{name}."), depth + 1, seen, visit);
        } else {
            visit(name, v);
        }
    }
}

/// The rebuild call of a tensor at `id`, if it is one: the callable's name and its arguments,
/// looking through `_rebuild_parameter` and `_rebuild_from_type_v2` wrappers.
fn rebuild_call(p: &Pickle, id: Id) -> Option<(&str, &[Id])> {
    let mut node = id;
    for _ in 0..4 {
        let Node::Object { class, args, .. } = p.node(node) else {
            return None;
        };
        let (module, name) = p.global(*class)?;
        if !module.starts_with("torch") {
            return None;
        }
        let args = p.seq(*args)?;
        match name {
            "_rebuild_parameter" | "_rebuild_parameter_with_state" => node = *args.first()?,
            "_rebuild_from_type_v2" => {
                // (func, type, args, state): the tensor is func(*args).
                let (func, inner) = (*args.first()?, *args.get(2)?);
                let (_, fname) = p.global(func)?;
                return Some((fname, p.seq(inner)?));
            }
            _ if name.starts_with("_rebuild") => return Some((name, args)),
            _ => return None,
        }
    }
    None
}

fn is_tensor(p: &Pickle, id: Id) -> bool {
    rebuild_call(p, id).is_some()
}

/// Locates tensor `name` (the rebuild call at `id`) and checks its extent.
fn locate(
    p: &Pickle,
    id: Id,
    name: &str,
    storages: &BTreeMap<String, Range<usize>>,
    file_len: usize,
) -> std::result::Result<TorchTensor, String> {
    let (func, args) = rebuild_call(p, id).expect("only tensors are located");
    if func != "_rebuild_tensor_v2" && func != "_rebuild_tensor" {
        // Quantized, sparse, meta or subclass tensors: listed, not readable.
        return Ok(TorchTensor {
            name: name.to_string(),
            dtype: Err(format!("torch {func}")),
            shape: Vec::new(),
            strides: Vec::new(),
            begin: 0,
        });
    }
    let fail = |what: String| format!("tensor '{name}': {what}");
    if args.len() < 4 {
        return Err(fail(format!("{func} with {} arguments", args.len())));
    }
    let Node::Persistent(pid) = p.node(args[0]) else {
        return Err(fail("its storage is not a persistent reference".into()));
    };
    let storage = storage_ref(p, *pid).map_err(&fail)?;
    let dims = |id: Id, what: &str| -> std::result::Result<Vec<usize>, String> {
        p.seq(id)
            .and_then(|s| {
                s.iter()
                    .map(|&d| p.int(d).and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<usize>>>()
            })
            .ok_or_else(|| {
                fail(format!(
                    "its {what} is not a tuple of non-negative integers"
                ))
            })
    };
    let offset = p
        .int(args[1])
        .and_then(|o| usize::try_from(o).ok())
        .ok_or_else(|| fail("its storage offset is not a non-negative integer".into()))?;
    let shape = dims(args[2], "size")?;
    let strides = dims(args[3], "stride")?;
    if shape.len() != strides.len() {
        return Err(fail(format!(
            "size {shape:?} and stride {strides:?} have different lengths"
        )));
    }
    let Some(bytes) = storages.get(&storage.key) else {
        return Err(fail(format!(
            "its storage '{}' is not in the file",
            storage.key
        )));
    };
    let Ok(dtype) = storage.dtype else {
        return Ok(TorchTensor {
            name: name.to_string(),
            dtype: storage.dtype,
            shape,
            strides,
            begin: 0,
        });
    };
    let width = dtype.bitsize() / 8;
    let available = bytes.len() / width;
    if storage.numel > available {
        return Err(fail(format!(
            "its storage '{}' should hold {} elements of {width} bytes but has {} bytes",
            storage.key,
            storage.numel,
            bytes.len()
        )));
    }
    let overflow = || fail(format!("size {shape:?} with stride {strides:?} overflows"));
    let elements = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    if elements > file_len {
        return Err(fail(format!(
            "size {shape:?} has {elements} elements, more than the file's {file_len} bytes \
             (refused to bound memory: a stride-0 broadcast this large is not a weight)"
        )));
    }
    if elements > 0 {
        // Index of the last element reached: offset + Σ (size_i - 1) stride_i.
        let last = shape
            .iter()
            .zip(&strides)
            .try_fold(offset, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?))
            .ok_or_else(overflow)?;
        if last >= storage.numel {
            return Err(fail(format!(
                "storage offset {offset} with size {shape:?} and stride {strides:?} reaches \
                 element {last}, past the end of its storage '{}' ({} elements)",
                storage.key, storage.numel
            )));
        }
    } else if offset > storage.numel {
        return Err(fail(format!(
            "storage offset {offset} is past the end of its storage '{}' ({} elements)",
            storage.key, storage.numel
        )));
    }
    Ok(TorchTensor {
        name: name.to_string(),
        dtype: Ok(dtype),
        shape,
        strides,
        begin: bytes.start + offset * width,
    })
}

/// A config object or dict at top-level key `key`, as its scalar fields; `None` when `v` is
/// neither or has no scalar field.
fn as_config(p: &Pickle, key: &str, v: Id) -> Option<PickledConfig> {
    let (class, dict) = match p.node(v) {
        Node::Dict(items) => ("dict".to_string(), items),
        Node::Object { class, state, .. } => {
            let class = p.global(*class).map(|(m, n)| format!("{m}.{n}"))?;
            if class.starts_with("torch") {
                return None;
            }
            // The state is the instance's __dict__, or (__dict__, slots) for a class with
            // __slots__ (a slotted dataclass): the slots dict then holds the fields.
            let state = (*state)?;
            let dict = match p.node(state) {
                Node::Dict(items) => items,
                Node::Tuple(parts) if parts.len() == 2 => match p.node(parts[1]) {
                    Node::Dict(items) => items,
                    _ => return None,
                },
                _ => return None,
            };
            (class, dict)
        }
        _ => return None,
    };
    let mut fields = serde_json::Map::new();
    for &(k, val) in dict {
        let Some(k) = p.str(k) else { continue };
        let value = match p.node(val) {
            Node::None => serde_json::Value::Null,
            Node::Bool(b) => (*b).into(),
            Node::Int(i) => (*i).into(),
            Node::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Node::Str(s) => s.clone().into(),
            _ => continue,
        };
        fields.insert(k.to_string(), value);
    }
    (!fields.is_empty()).then(|| PickledConfig {
        key: key.to_string(),
        class,
        fields,
    })
}

/// A short text rendering of value `id` for `bilens inspect`.
fn render(p: &Pickle, id: Id) -> String {
    let mut out = String::new();
    render_into(p, id, 0, &mut out);
    truncate_text(out, 300)
}

fn render_into(p: &Pickle, id: Id, depth: usize, out: &mut String) {
    if out.len() > 400 {
        return;
    }
    if depth > 3 {
        out.push('…');
        return;
    }
    let list = |items: &[Id], open: &str, close: &str, out: &mut String| {
        out.push_str(open);
        for (i, &x) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if out.len() > 400 {
                out.push('…');
                break;
            }
            render_into(p, x, depth + 1, out);
        }
        out.push_str(close);
    };
    if let Some((func, args)) = rebuild_call(p, id) {
        let shape = args.get(2).and_then(|&s| p.seq(s)).map(|s| s.len());
        let _ = write!(out, "<tensor ({func}), {} dims>", shape.unwrap_or(0));
        return;
    }
    match p.node(id) {
        Node::None => out.push_str("None"),
        Node::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::BigInt(b) => {
            let _ = write!(out, "<{}-byte integer>", b.len());
        }
        Node::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Node::Str(s) => {
            let _ = write!(out, "{:?}", truncate_text(s.clone(), 80));
        }
        Node::Bytes(n) => {
            let _ = write!(out, "<{n} bytes>");
        }
        Node::Tuple(items) => list(items, "(", ")", out),
        Node::List(items) => list(items, "[", "]", out),
        Node::Set(items) => list(items, "{", "}", out),
        Node::Dict(items) => {
            out.push('{');
            for (i, &(k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > 400 {
                    out.push('…');
                    break;
                }
                render_into(p, k, depth + 1, out);
                out.push_str(": ");
                render_into(p, v, depth + 1, out);
            }
            out.push('}');
        }
        Node::Global { module, name } => {
            let _ = write!(out, "{module}.{name}");
        }
        Node::Object { class, state, .. } => {
            render_into(p, *class, depth + 1, out);
            out.push('(');
            if let Some(s) = state {
                if let Node::Dict(items) = p.node(*s) {
                    for (i, &(k, v)) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        if out.len() > 400 {
                            out.push('…');
                            break;
                        }
                        match p.str(k) {
                            Some(k) => out.push_str(k),
                            None => render_into(p, k, depth + 1, out),
                        }
                        out.push('=');
                        render_into(p, v, depth + 1, out);
                    }
                } else {
                    render_into(p, *s, depth + 1, out);
                }
            }
            out.push(')');
        }
        Node::Persistent(_) => out.push_str("<persistent reference>"),
    }
}

fn truncate_text(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_safetensors_header_of_640_bytes_is_not_a_pickle() {
        let mut bytes = vec![0x80, 0x02, 0, 0, 0, 0, 0, 0, b'{'];
        bytes.resize(8 + 0x280, b' ');
        assert!(!super::detect(&bytes));
        // A legacy checkpoint: protocol 2, then the magic number as LONG1.
        assert!(super::detect(&[
            0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20
        ]));
    }
}
