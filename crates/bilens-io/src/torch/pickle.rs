//! A restricted unpickler: Python's pickle stack machine, run over the opcodes `torch.save`
//! emits, producing inert data and never executing anything.
//!
//! # Why an own unpickler
//! A pickle is a program: `GLOBAL os system` followed by `REDUCE` calls `os.system` in Python.
//! Reading a checkpoint safely means interpreting the opcodes without giving any of them their
//! meaning: `GLOBAL`/`STACK_GLOBAL` push a *name* ([`Node::Global`]), `REDUCE`/`NEWOBJ` build
//! an [`Node::Object`] that records the callable's name and its arguments, `BUILD` stores the
//! state beside it. Which of those objects are tensors is decided afterwards, by name
//! (`torch._utils._rebuild_tensor_v2`...), in [`super::checkpoint`]; everything else stays data
//! that can be shown and searched (a config object's fields, an epoch number).
//!
//! The crates that exist were evaluated first: `pytorch-reader` drops the fields of custom
//! objects (so a pickled `Config` beside the weights would be lost), offers no memory map and
//! is pre-release; candle's pickle module needs all of candle (a whole ML framework as a
//! dependency of a file reader). The machine below is small, under this crate's fuzz target,
//! and bounded by construction:
//!
//! - values live in one arena ([`Pickle::nodes`]) and the stack, the memo and containers hold
//!   indices, so `DUP`, `GET` and shared references copy an index, never a value: a "memo bomb"
//!   (a value fetched from the memo a billion times) costs a billion indices' worth of opcodes,
//!   i.e. nothing beyond the file's own length;
//! - every opcode adds at most one node, and every length prefix is checked against the bytes
//!   that remain before anything is allocated, so memory is linear in the pickle's length;
//! - the memo is a map, so a `LONG_BINPUT` to index 4 billion allocates one entry;
//! - the arena may hold cycles (a list appended to itself is valid pickle), so every later
//!   walk over it bounds its depth or remembers where it has been.

use std::collections::HashMap;

/// Index of a node in [`Pickle::nodes`].
pub(crate) type Id = usize;

/// One value of the pickle, as data.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A larger integer, as its little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string; only its length is kept (tensor data never lives in the pickle).
    Bytes(usize),
    /// A tuple.
    Tuple(Vec<Id>),
    /// A list.
    List(Vec<Id>),
    /// A dict (also `collections.OrderedDict`), in insertion order.
    Dict(Vec<(Id, Id)>),
    /// A set or frozenset.
    Set(Vec<Id>),
    /// A name `module.name` pushed by `GLOBAL`/`STACK_GLOBAL`: only a name.
    Global {
        /// The module, e.g. `torch._utils`.
        module: String,
        /// The attribute, e.g. `_rebuild_tensor_v2`.
        name: String,
    },
    /// The result of calling `class` with `args` (`REDUCE`, `NEWOBJ`), which is never done:
    /// what would have been called and with what, plus the state `BUILD` would have set and
    /// any items appended or set on it.
    Object {
        /// The callable (normally a [`Node::Global`]).
        class: Id,
        /// The arguments (normally a [`Node::Tuple`]).
        args: Id,
        /// The state given to `BUILD`, if any.
        state: Option<Id>,
        /// Items added by `APPEND(S)` / `SETITEM(S)` to an object of an unknown class.
        items: Vec<(Option<Id>, Id)>,
    },
    /// What a persistent id refers to (`BINPERSID`): torch's storages.
    Persistent(Id),
}

/// A parsed pickle: its nodes and the value it returns.
#[derive(Debug)]
pub(crate) struct Pickle {
    /// Every node, referenced by index.
    pub nodes: Vec<Node>,
    /// The pickled value.
    pub root: Id,
    /// Offset just past the `STOP` opcode, relative to the start of the parsed bytes.
    pub end: usize,
}

impl Pickle {
    /// The node `id`.
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    /// The string `id` holds, if it is one.
    pub fn str(&self, id: Id) -> Option<&str> {
        match self.node(id) {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer `id` holds, if it is one that fits 64 bits (`True`/`False` count as 1/0,
    /// as in Python).
    pub fn int(&self, id: Id) -> Option<i64> {
        match self.node(id) {
            Node::Int(i) => Some(*i),
            Node::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    pub fn seq(&self, id: Id) -> Option<&[Id]> {
        match self.node(id) {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }

    /// `module.name` of a [`Node::Global`].
    pub fn global(&self, id: Id) -> Option<(&str, &str)> {
        match self.node(id) {
            Node::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }
}

/// Why a pickle could not be read; the caller adds the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PickleError {
    /// Byte offset of the opcode at fault, relative to the start of the parsed bytes.
    pub at: usize,
    /// What is wrong.
    pub what: String,
    /// Whether the bytes simply ended too early (a truncated file) rather than being wrong.
    pub truncated: bool,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pickle byte {}: {}", self.at, self.what)
    }
}

/// One slot of the stack machine: a value or a `MARK`.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Mark,
    Value(Id),
}

/// The unpickler's state over `data`.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being run, for errors.
    op_at: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, Id>,
}

/// Runs the pickle at the start of `data` until its `STOP`.
///
/// Accepts protocols 0 to 5 for the opcodes torch and the objects saved beside weights use
/// (containers, numbers, strings, names, object construction and state, persistent ids); an
/// opcode outside that set (extension registry codes, out-of-band buffers, `INST`/`OBJ`) is an
/// error naming it, never skipped.
pub(crate) fn parse(data: &[u8]) -> Result<Pickle, PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        op_at: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    Ok(Pickle {
        nodes: m.nodes,
        root,
        end: m.pos,
    })
}

impl Machine<'_> {
    fn fail<T>(&self, what: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            at: self.op_at,
            what: what.into(),
            truncated: false,
        })
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let remaining = self.data.len() - self.pos;
        if n > remaining {
            return Err(PickleError {
                at: self.op_at,
                what: format!(
                    "the data ends inside an opcode ({n} bytes needed, {remaining} left)"
                ),
                truncated: true,
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<usize, PickleError> {
        Ok(usize::from(u16::from_le_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from(u32::from_le_bytes(self.array()?)))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length prefix, checked against the bytes that remain before anything is allocated.
    fn len(&mut self, n: u64) -> Result<usize, PickleError> {
        let remaining = self.data.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= remaining => Ok(n),
            _ => Err(PickleError {
                at: self.op_at,
                what: format!(
                    "a length of {n} bytes, but only {remaining} remain (a truncated file or \
                     a corrupt length)"
                ),
                truncated: true,
            }),
        }
    }

    /// A line ending in `\n` (protocol 0 text opcodes), without the newline.
    fn line(&mut self) -> Result<&[u8], PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(PickleError {
                at: self.op_at,
                what: "the data ends inside a text line".into(),
                truncated: true,
            });
        };
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => self.fail(format!("a string that is not UTF-8 ({e})")),
        }
    }

    fn line_text(&mut self) -> Result<String, PickleError> {
        let bytes = self.line()?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => self.fail(format!("a text line that is not UTF-8 ({e})")),
        }
    }

    fn push_node(&mut self, node: Node) -> Id {
        self.nodes.push(node);
        let id = self.nodes.len() - 1;
        self.stack.push(Slot::Value(id));
        id
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        match self.stack.pop() {
            Some(Slot::Value(id)) => Ok(id),
            Some(Slot::Mark) => self.fail("an opcode found a MARK where it needs a value"),
            None => self.fail("an opcode needs a value but the stack is empty"),
        }
    }

    fn top(&self) -> Result<Id, PickleError> {
        match self.stack.last() {
            Some(Slot::Value(id)) => Ok(*id),
            Some(Slot::Mark) => self.fail("an opcode found a MARK where it needs a value"),
            None => self.fail("an opcode needs a value but the stack is empty"),
        }
    }

    /// Pops everything above the topmost `MARK`, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let Some(mark) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return self.fail("an opcode needs a MARK but there is none on the stack");
        };
        let items = self.stack[mark + 1..]
            .iter()
            .map(|s| match s {
                Slot::Value(id) => *id,
                Slot::Mark => unreachable!("the topmost mark was found above"),
            })
            .collect();
        self.stack.truncate(mark);
        Ok(items)
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(&id) => {
                self.stack.push(Slot::Value(id));
                Ok(())
            }
            None => self.fail(format!("GET of memo entry {key}, which was never stored")),
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    /// Appends `items` to the list (or unknown object) `target`.
    fn extend(&mut self, target: Id, items: Vec<Id>) -> Result<(), PickleError> {
        match &mut self.nodes[target] {
            Node::List(v) | Node::Set(v) => v.extend(items),
            Node::Object { items: o, .. } => o.extend(items.into_iter().map(|i| (None, i))),
            other => {
                let kind = kind(other);
                return self.fail(format!("APPEND to {kind}, which is not a list"));
            }
        }
        Ok(())
    }

    /// Sets `pairs` (key, value, key, value...) on the dict (or unknown object) `target`.
    fn set_items(&mut self, target: Id, pairs: Vec<Id>) -> Result<(), PickleError> {
        if pairs.len() % 2 != 0 {
            return self.fail("SETITEMS with an odd number of keys and values");
        }
        let pairs = pairs.chunks_exact(2).map(|p| (p[0], p[1]));
        match &mut self.nodes[target] {
            // Insertion order is kept and a repeated key keeps its first place, as in Python;
            // keys are compared by identity here, and torch never repeats a state dict key.
            Node::Dict(v) => v.extend(pairs),
            Node::Object { items, .. } => items.extend(pairs.map(|(k, v)| (Some(k), v))),
            other => {
                let kind = kind(other);
                return self.fail(format!("SETITEM on {kind}, which is not a dict"));
            }
        }
        Ok(())
    }

    /// `GLOBAL`/`STACK_GLOBAL`: push the name, unless it names something only a malicious
    /// pickle reaches for ([`hostile`]).
    fn global(&mut self, module: String, name: String) -> Result<(), PickleError> {
        if hostile(&module, &name) {
            return self.fail(format!(
                "the pickle references {module}.{name}, which a checkpoint never needs and \
                 which unpickling in Python would call: the file is refused as hostile (bilens \
                 calls nothing, but does not read a file built to run code)"
            ));
        }
        self.push_node(Node::Global { module, name });
        Ok(())
    }

    /// `REDUCE`/`NEWOBJ`: record the call. An `OrderedDict()` is a dict (torch's state dicts
    /// are OrderedDicts, filled by `SETITEMS` afterwards).
    fn call(&mut self, class: Id, args: Id) {
        let is_dict = matches!(
            self.nodes[class],
            Node::Global { ref module, ref name }
                if module == "collections" && name == "OrderedDict"
        ) && matches!(&self.nodes[args], Node::Tuple(a) if a.is_empty());
        if is_dict {
            self.push_node(Node::Dict(Vec::new()));
        } else {
            self.push_node(Node::Object {
                class,
                args,
                state: None,
                items: Vec::new(),
            });
        }
    }

    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self.byte()?;
            match op {
                // PROTO
                0x80 => {
                    let v = self.byte()?;
                    if v > 5 {
                        return self.fail(format!("pickle protocol {v}; protocols 0 to 5 exist"));
                    }
                }
                // FRAME: a length hint for buffered readers; the data follows inline.
                0x95 => {
                    self.u64()?;
                }
                // STOP
                b'.' => return self.pop(),
                // MARK
                b'(' => self.stack.push(Slot::Mark),
                // POP, POP_MARK, DUP
                b'0' => {
                    if self.stack.pop().is_none() {
                        return self.fail("POP on an empty stack");
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(Slot::Value(id));
                }
                // NONE, NEWTRUE, NEWFALSE
                b'N' => {
                    self.push_node(Node::None);
                }
                0x88 => {
                    self.push_node(Node::Bool(true));
                }
                0x89 => {
                    self.push_node(Node::Bool(false));
                }
                // BININT, BININT1, BININT2
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push_node(Node::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push_node(Node::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push_node(Node::Int(v as i64));
                }
                // LONG1, LONG4
                0x8a => {
                    let n = usize::from(self.byte()?);
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(long(bytes));
                }
                0x8b => {
                    let n = self.u32()?;
                    let n = self.len(n)?;
                    let bytes = self.take(n)?.to_vec();
                    self.push_node(long(bytes));
                }
                // INT, LONG (protocol 0 text)
                b'I' | b'L' => {
                    let line = self.line_text()?;
                    let t = line.trim_end_matches('L');
                    let node = match t {
                        "00" => Node::Bool(false),
                        "01" => Node::Bool(true),
                        _ => match t.parse::<i64>() {
                            Ok(v) => Node::Int(v),
                            Err(_) => return self.fail(format!("INT of '{line}'")),
                        },
                    };
                    self.push_node(node);
                }
                // BINFLOAT (big-endian), FLOAT (text)
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push_node(Node::Float(v));
                }
                b'F' => {
                    let line = self.line_text()?;
                    match line.parse::<f64>() {
                        Ok(v) => {
                            self.push_node(Node::Float(v));
                        }
                        Err(_) => return self.fail(format!("FLOAT of '{line}'")),
                    }
                }
                // SHORT_BINUNICODE, BINUNICODE, BINUNICODE8
                0x8c => {
                    let n = usize::from(self.byte()?);
                    let s = self.text(n)?;
                    self.push_node(Node::Str(s));
                }
                b'X' => {
                    let n = self.u32()?;
                    let n = self.len(n)?;
                    let s = self.text(n)?;
                    self.push_node(Node::Str(s));
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    let s = self.text(n)?;
                    self.push_node(Node::Str(s));
                }
                // SHORT_BINSTRING, BINSTRING (Python 2 str): text when UTF-8, else bytes.
                b'U' | b'T' => {
                    let n = if op == b'U' {
                        usize::from(self.byte()?)
                    } else {
                        let n = self.u32()?;
                        self.len(n)?
                    };
                    let bytes = self.take(n)?;
                    let node = match std::str::from_utf8(bytes) {
                        Ok(s) => Node::Str(s.to_string()),
                        Err(_) => Node::Bytes(n),
                    };
                    self.push_node(node);
                }
                // SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
                b'C' => {
                    let n = usize::from(self.byte()?);
                    self.take(n)?;
                    self.push_node(Node::Bytes(n));
                }
                b'B' => {
                    let n = self.u32()?;
                    let n = self.len(n)?;
                    self.take(n)?;
                    self.push_node(Node::Bytes(n));
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    self.take(n)?;
                    self.push_node(Node::Bytes(n));
                }
                // UNICODE, STRING (protocol 0 text): kept as written (escapes not decoded).
                b'V' | b'S' => {
                    let line = self.line_text()?;
                    self.push_node(Node::Str(line));
                }
                // EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3
                b')' => {
                    self.push_node(Node::Tuple(Vec::new()));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                // EMPTY_LIST, LIST, APPEND, APPENDS
                b']' => {
                    self.push_node(Node::List(Vec::new()));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let target = self.top()?;
                    self.extend(target, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.extend(target, items)?;
                }
                // EMPTY_DICT, DICT, SETITEM, SETITEMS
                b'}' => {
                    self.push_node(Node::Dict(Vec::new()));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.fail("DICT with an odd number of keys and values");
                    }
                    let pairs = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                    self.push_node(Node::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let target = self.top()?;
                    self.set_items(target, vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.set_items(target, items)?;
                }
                // EMPTY_SET, ADDITEMS, FROZENSET
                0x8f => {
                    self.push_node(Node::Set(Vec::new()));
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.extend(target, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Set(items));
                }
                // GLOBAL (text `module\nname\n`), STACK_GLOBAL: names only, nothing imported.
                b'c' => {
                    let module = self.line_text()?;
                    let name = self.line_text()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Node::Str(module), Node::Str(name)) =
                        (&self.nodes[module], &self.nodes[name])
                    else {
                        return self.fail("STACK_GLOBAL of values that are not strings");
                    };
                    let (module, name) = (module.clone(), name.clone());
                    self.global(module, name)?;
                }
                // REDUCE, NEWOBJ, NEWOBJ_EX: recorded, never called.
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    self.call(class, args);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    self.call(class, args);
                }
                // BUILD: the state is kept beside the object; on a dict (an OrderedDict's
                // attributes, e.g. a state dict's `_metadata`) it is dropped.
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::Object { state: s, .. } => *s = Some(state),
                        Node::Dict(_) => {}
                        other => {
                            let kind = kind(other);
                            return self.fail(format!("BUILD on {kind}"));
                        }
                    }
                }
                // BINPERSID, PERSID
                b'Q' => {
                    let pid = self.pop()?;
                    self.push_node(Node::Persistent(pid));
                }
                b'P' => {
                    let line = self.line_text()?;
                    self.nodes.push(Node::Str(line));
                    let pid = self.nodes.len() - 1;
                    self.push_node(Node::Persistent(pid));
                }
                // BINPUT, LONG_BINPUT, MEMOIZE, PUT
                b'q' => {
                    let k = self.byte()?;
                    self.memo_put(u64::from(k))?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let line = self.line_text()?;
                    match line.parse() {
                        Ok(k) => self.memo_put(k)?,
                        Err(_) => return self.fail(format!("PUT of '{line}'")),
                    }
                }
                // BINGET, LONG_BINGET, GET
                b'h' => {
                    let k = self.byte()?;
                    self.memo_get(u64::from(k))?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b'g' => {
                    let line = self.line_text()?;
                    match line.parse() {
                        Ok(k) => self.memo_get(k)?,
                        Err(_) => return self.fail(format!("GET of '{line}'")),
                    }
                }
                other => {
                    let name = match other {
                        0x82..=0x84 => "EXT1/EXT2/EXT4 (the extension registry)",
                        b'i' => "INST (a protocol 0 object construction)",
                        b'o' => "OBJ (a protocol 0 object construction)",
                        0x97 => "NEXT_BUFFER (out-of-band data)",
                        0x98 => "READONLY_BUFFER (out-of-band data)",
                        _ => "an unknown opcode",
                    };
                    return self.fail(format!(
                        "opcode 0x{other:02x}: {name}, which torch checkpoints do not use"
                    ));
                }
            }
        }
    }
}

/// Whether `module.name` is a callable that exists in pickles only to run code: process,
/// shell, file, import and evaluation entry points.
///
/// Reading stays safe without this list (nothing is ever called, so an unknown name is just
/// data); the list turns a file built to run code into a clear refusal instead of a checkpoint
/// that loads as if nothing were wrong with it.
fn hostile(module: &str, name: &str) -> bool {
    const MODULES: [&str; 18] = [
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "shutil",
        "socket",
        "importlib",
        "runpy",
        "ctypes",
        "pty",
        "commands",
        "webbrowser",
        "code",
        "pickle",
        "marshal",
        "multiprocessing",
        "platform",
    ];
    const BUILTINS: [&str; 16] = [
        "eval",
        "exec",
        "execfile",
        "compile",
        "open",
        "file",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "apply",
    ];
    let root = module.split('.').next().unwrap_or(module);
    MODULES.contains(&root)
        || (matches!(module, "builtins" | "__builtin__") && BUILTINS.contains(&name))
}

/// A `LONG1`/`LONG4` value: an `Int` when it fits 64 bits.
fn long(bytes: Vec<u8>) -> Node {
    if bytes.len() <= 8 {
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut a = [if negative { 0xff } else { 0 }; 8];
        a[..bytes.len()].copy_from_slice(&bytes);
        Node::Int(i64::from_le_bytes(a))
    } else {
        Node::BigInt(bytes)
    }
}

/// What kind of value a node is, with its article, for error messages: `an int`, `a dict`.
pub(crate) fn kind(node: &Node) -> &'static str {
    match node {
        Node::None => "None",
        Node::Bool(_) => "a bool",
        Node::Int(_) | Node::BigInt(_) => "an int",
        Node::Float(_) => "a float",
        Node::Str(_) => "a str",
        Node::Bytes(_) => "a bytes value",
        Node::Tuple(_) => "a tuple",
        Node::List(_) => "a list",
        Node::Dict(_) => "a dict",
        Node::Set(_) => "a set",
        Node::Global { .. } => "a global name",
        Node::Object { .. } => "an object",
        Node::Persistent(_) => "a persistent reference",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dict_of_numbers_strings_and_a_nested_tuple() {
        // pickle.dumps({"a": 1, "b": ("x", 2.5, None, True)}, protocol=2)
        let p = parse(
            b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02(X\x01\x00\x00\
              \x00xq\x03G@\x04\x00\x00\x00\x00\x00\x00N\x88tq\x04u.",
        )
        .expect("valid pickle");
        let Node::Dict(items) = p.node(p.root) else {
            panic!("a dict: {:?}", p.node(p.root))
        };
        assert_eq!(items.len(), 2);
        assert_eq!(p.str(items[0].0), Some("a"));
        assert_eq!(p.int(items[0].1), Some(1));
        let t = p.seq(items[1].1).expect("a tuple");
        assert_eq!(p.node(t[1]), &Node::Float(2.5));
        assert_eq!(p.node(t[2]), &Node::None);
        assert_eq!(p.node(t[3]), &Node::Bool(true));
    }

    #[test]
    fn an_unknown_global_and_reduce_are_recorded_not_called() {
        let p = parse(b"cmymodule\nConfig\n(S'x'\ntR.").expect("parses as data");
        let Node::Object { class, args, .. } = p.node(p.root) else {
            panic!("an object: {:?}", p.node(p.root))
        };
        assert_eq!(p.global(*class), Some(("mymodule", "Config")));
        assert_eq!(p.seq(*args).map(<[_]>::len), Some(1));
    }

    #[test]
    fn code_execution_names_are_refused() {
        // pickle's classic code execution, as GLOBAL and as STACK_GLOBAL.
        for bytes in [
            &b"cos\nsystem\n(S'echo hi'\ntR."[..],
            b"\x80\x04\x8c\x05posix\x8c\x06system\x93.",
            b"cbuiltins\neval\n.",
            b"csubprocess.run\nx\n.",
        ] {
            let e = parse(bytes).expect_err("hostile");
            assert!(e.what.contains("refused as hostile"), "{e}");
        }
        assert!(parse(b"cbuiltins\nset\n.").is_ok());
    }

    #[test]
    fn integers_of_every_width() {
        for (bytes, v) in [
            (&b"\x80\x02K\xff."[..], 255),
            (b"\x80\x02M\x00\x01.", 256),
            (b"\x80\x02J\xff\xff\xff\xff.", -1),
            (b"\x80\x02\x8a\x02\x00\x80.", -32768),
            (b"\x80\x02\x8a\x00.", 0),
            (b"I42\n.", 42),
        ] {
            let p = parse(bytes).expect("valid");
            assert_eq!(p.int(p.root), Some(v), "{bytes:?}");
        }
        let p = parse(b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.").expect("valid");
        assert!(matches!(p.node(p.root), Node::BigInt(b) if b.len() == 9));
    }

    #[test]
    fn memo_and_dup_share_nodes() {
        // A list holding itself: valid pickle, a cycle in the arena, no recursion here.
        let p = parse(b"\x80\x02]q\x00h\x00a.").expect("valid");
        assert_eq!(p.node(p.root), &Node::List(vec![p.root]));
    }

    #[test]
    fn malformed_pickles_are_errors_with_the_offset() {
        for (bytes, needle, truncated) in [
            (&b"\x80\x02}"[..], "ends inside an opcode", true),
            (b"\x80\x02X\xff\xff\xff\x7f", "a length of", true),
            (b"\x80\x02h\x05.", "never stored", false),
            (b"\x80\x02.", "stack is empty", false),
            (b"\x80\x09N.", "protocol 9", false),
            (b"\x80\x02K\x01K\x02a.", "APPEND to an int", false),
            (b"\x80\x02\x82\x01.", "EXT1", false),
            (b"\x80\x02t.", "needs a MARK", false),
            (b"\x80\x02(K\x01K\x02K\x03d.", "odd number", false),
        ] {
            let e = parse(bytes).expect_err("malformed");
            assert!(e.what.contains(needle), "{bytes:?}: {e}");
            assert_eq!(e.truncated, truncated, "{bytes:?}: {e}");
        }
    }
}
