//! How the model's weights are quantised, read from the graph itself: a `run.json` must say
//! whether an `onnx` figure is the float model or a 4-bit build of it, and a config file's
//! claim can be stale. The graph file is walked as raw protobuf (ModelProto → GraphProto →
//! NodeProto, skipping the weight blobs with a seek), so nothing but the node list is read.
//!
//! Counted: `MatMulNBits` (ONNX Runtime's block-wise int2/4/8, with its `bits`, `block_size`
//! and `accuracy_level`), the int8 kinds (`MatMulInteger`, `DynamicQuantizeMatMul`,
//! `QLinearMatMul`, `DynamicQuantizeLinear`), `DequantizeLinear` (QDQ), and plain `MatMul` and
//! `Gemm`. `format` sums it up: `int4`/`int8`/`int2` (MatMulNBits), `int8` (the int8 kinds),
//! `qdq`, or, when only float matrix products are there, the float type holding most of the
//! weights (`fp32`, `fp16`, `bf16`; read from each initializer's header, its data skipped).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quantization {
    /// `int4`, `int8`, `int2`, `qdq`, `fp32`/`fp16`/`bf16` (`float` when the weights' type is
    /// not found), or `mixed (…)` when MatMulNBits nodes differ.
    pub format: String,
    /// MatMulNBits `bits` and `block_size` (the most common one when nodes differ).
    pub bits: Option<u32>,
    pub block_size: Option<u32>,
    /// MatMulNBits `accuracy_level` (4: int8 activations on CPU; 0/absent: float).
    pub accuracy_level: Option<u32>,
    /// Nodes per operator, for the operators above.
    pub nodes: BTreeMap<String, u32>,
    /// What the model folder's config.json says, where it says it (`edgebench_quantization`
    /// written by scripts/gguf-to-onnx, or transformers' `quantization_config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<serde_json::Value>,
}

const COUNTED: &[&str] = &[
    "MatMulNBits",
    "MatMulInteger",
    "DynamicQuantizeMatMul",
    "QLinearMatMul",
    "DynamicQuantizeLinear",
    "DequantizeLinear",
    "MatMul",
    "Gemm",
];

/// A protobuf reader over a seekable file: varints, tags, and skipping.
struct Proto<R> {
    r: R,
    pos: u64,
}

impl<R: Read + Seek> Proto<R> {
    fn byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8];
        self.r.read_exact(&mut b)?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> std::io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(std::io::Error::other("varint too long"))
    }

    fn skip(&mut self, wire: u64) -> std::io::Result<()> {
        let n = match wire {
            0 => return self.varint().map(|_| ()),
            1 => 8,
            2 => self.varint()?,
            5 => 4,
            w => return Err(std::io::Error::other(format!("wire type {w}"))),
        };
        self.r.seek(SeekFrom::Current(n as i64))?;
        self.pos += n;
        Ok(())
    }

    fn bytes(&mut self, n: u64) -> std::io::Result<Vec<u8>> {
        let mut v = vec![0u8; n as usize];
        self.r.read_exact(&mut v)?;
        self.pos += n;
        Ok(v)
    }
}

/// One NodeProto (already in memory: nodes are small): its op_type and integer attributes.
fn node(buf: &[u8]) -> std::io::Result<(String, BTreeMap<String, i64>)> {
    let mut p = Proto {
        r: std::io::Cursor::new(buf),
        pos: 0,
    };
    let (mut op, mut attrs) = (String::new(), BTreeMap::new());
    while p.pos < buf.len() as u64 {
        let tag = p.varint()?;
        match (tag >> 3, tag & 7) {
            (4, 2) => {
                let n = p.varint()?;
                op = String::from_utf8_lossy(&p.bytes(n)?).into_owned();
            }
            (5, 2) => {
                let n = p.varint()?;
                let a = p.bytes(n)?;
                let mut q = Proto {
                    r: std::io::Cursor::new(&a[..]),
                    pos: 0,
                };
                let (mut name, mut int) = (String::new(), None);
                while q.pos < a.len() as u64 {
                    let t = q.varint()?;
                    match (t >> 3, t & 7) {
                        (1, 2) => {
                            let n = q.varint()?;
                            name = String::from_utf8_lossy(&q.bytes(n)?).into_owned();
                        }
                        (3, 0) => int = Some(q.varint()? as i64),
                        (_, w) => q.skip(w)?,
                    }
                }
                if let Some(i) = int {
                    attrs.insert(name, i);
                }
            }
            (_, w) => p.skip(w)?,
        }
    }
    Ok((op, attrs))
}

/// One TensorProto's element type and count, from the fields before its data (dims = 1,
/// data_type = 2, written first); the rest (name, raw or external data) is skipped.
fn initializer<R: Read + Seek>(p: &mut Proto<R>, end: u64) -> std::io::Result<(u64, u64)> {
    let (mut ty, mut count) = (0, 1u64);
    while p.pos < end {
        let t = p.varint()?;
        match (t >> 3, t & 7) {
            (1, 0) => count = count.saturating_mul(p.varint()?),
            (1, 2) => {
                let stop = p.varint()? + p.pos;
                while p.pos < stop {
                    count = count.saturating_mul(p.varint()?);
                }
            }
            (2, 0) => ty = p.varint()?,
            _ => break,
        }
    }
    // Past the fields read: to the end of this initializer.
    p.r.seek(SeekFrom::Current((end - p.pos) as i64))?;
    p.pos = end;
    Ok((ty, count))
}

/// Reads the graph's nodes from `model` (an .onnx file; weights in it are skipped, not read).
pub fn inspect(model: &Path, declared: Option<serde_json::Value>) -> Result<Quantization, String> {
    let err = |e: std::io::Error| format!("{}: cannot read the graph: {e}", model.display());
    let f = std::fs::File::open(model).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    let mut p = Proto {
        r: BufReader::new(f),
        pos: 0,
    };
    let mut q = Quantization {
        declared,
        ..Default::default()
    };
    // (bits, block_size, accuracy_level) → nodes.
    let mut nbits: BTreeMap<(i64, i64, i64), u32> = BTreeMap::new();
    // Elements of float initializers per ONNX data type (1 float, 10 float16, 16 bfloat16).
    let mut floats: BTreeMap<u64, u64> = BTreeMap::new();
    while p.pos < len {
        let tag = p.varint().map_err(err)?;
        if tag != (7 << 3 | 2) {
            p.skip(tag & 7).map_err(err)?;
            continue;
        }
        // ModelProto.graph: walk its fields; nodes are field 1, everything else is skipped.
        let end = p.varint().map_err(err)? + p.pos;
        while p.pos < end {
            let t = p.varint().map_err(err)?;
            if t == (5 << 3 | 2) {
                let end = p.varint().map_err(err)? + p.pos;
                let (ty, n) = initializer(&mut p, end).map_err(err)?;
                if matches!(ty, 1 | 10 | 16) {
                    *floats.entry(ty).or_default() += n;
                }
                continue;
            }
            if t != (1 << 3 | 2) {
                p.skip(t & 7).map_err(err)?;
                continue;
            }
            let n = p.varint().map_err(err)?;
            let (op, attrs) = node(&p.bytes(n).map_err(err)?).map_err(err)?;
            if COUNTED.contains(&op.as_str()) {
                *q.nodes.entry(op.clone()).or_default() += 1;
            }
            if op == "MatMulNBits" {
                let a = |k: &str, d: i64| attrs.get(k).copied().unwrap_or(d);
                *nbits
                    .entry((a("bits", 4), a("block_size", 0), a("accuracy_level", 0)))
                    .or_default() += 1;
            }
        }
    }
    let count = |op: &str| q.nodes.get(op).copied().unwrap_or(0);
    if let Some((&(bits, block, acc), _)) = nbits.iter().max_by_key(|(_, n)| **n) {
        q.bits = Some(bits as u32);
        q.block_size = Some(block as u32);
        q.accuracy_level = Some(acc as u32);
        let kinds: std::collections::BTreeSet<i64> = nbits.keys().map(|k| k.0).collect();
        q.format = if kinds.len() == 1 {
            format!("int{bits}")
        } else {
            let list: Vec<String> = kinds.iter().map(|b| format!("int{b}")).collect();
            format!("mixed ({})", list.join(", "))
        };
    } else if count("MatMulInteger") + count("DynamicQuantizeMatMul") + count("QLinearMatMul") > 0 {
        q.format = "int8".into();
        q.bits = Some(8);
    } else if count("DequantizeLinear") > 0 {
        q.format = "qdq".into();
    } else {
        q.format = match floats.iter().max_by_key(|(_, n)| **n) {
            Some((1, _)) => "fp32",
            Some((10, _)) => "fp16",
            Some((16, _)) => "bf16",
            _ => "float",
        }
        .into();
    }
    Ok(q)
}

/// config.json's own statement, if any.
pub fn declared(dir: &Path) -> Option<serde_json::Value> {
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).ok()?).ok()?;
    c.get("edgebench_quantization")
        .or_else(|| c.get("quantization_config"))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protobuf bytes by hand: a length-delimited field.
    fn field(num: u64, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(num << 3 | 2) as u8];
        let mut n = body.len() as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            v.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        v.extend_from_slice(body);
        v
    }

    fn int_attr(name: &str, i: u8) -> Vec<u8> {
        let mut a = field(1, name.as_bytes());
        a.extend([3 << 3, i]);
        field(5, &a)
    }

    #[test]
    fn reads_matmulnbits_attributes_and_skips_weights() {
        let mut nbits = field(4, b"MatMulNBits");
        nbits.extend(int_attr("bits", 4));
        nbits.extend(int_attr("block_size", 32));
        nbits.extend(int_attr("accuracy_level", 4));
        let mut graph = field(1, &nbits);
        graph.extend(field(1, &nbits));
        graph.extend(field(1, &field(4, b"MatMul")));
        // An initializer (GraphProto field 5): dims [2, 3], float16, then 300 bytes of data
        // that are skipped, never parsed.
        let mut init = vec![1 << 3, 2, 1 << 3, 3, 2 << 3, 10];
        init.extend(field(9, &[0xff; 300]));
        graph.extend(field(5, &init));
        let mut model = vec![1 << 3, 8]; // ir_version = 8
        model.extend(field(7, &graph));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        std::fs::write(&p, &model).unwrap();
        let q = inspect(&p, None).unwrap();
        assert_eq!(
            (
                q.format.as_str(),
                q.bits,
                q.block_size,
                q.accuracy_level,
                q.nodes["MatMulNBits"],
                q.nodes["MatMul"]
            ),
            ("int4", Some(4), Some(32), Some(4), 2, 1)
        );
        // Without MatMulNBits: the float type of the weights (here the float16 initializer).
        let mut graph = field(1, &field(4, b"MatMul"));
        graph.extend(field(5, &init));
        std::fs::write(&p, field(7, &graph)).unwrap();
        assert_eq!(inspect(&p, None).unwrap().format, "fp16");
        std::fs::write(&p, [1 << 3, 8]).unwrap();
        assert_eq!(inspect(&p, None).unwrap().format, "float");
    }
}
