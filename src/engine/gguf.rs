//! Model files on disk: GGUF inspection, re-quantization, the models
//! directory listing and the default model.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} already exists (use --force to overwrite)")]
    Exists { path: PathBuf },
    #[error("cannot quantize to {target}: tensor '{tensor}' has shape {shape:?}, whose last dimension is not a multiple of {block}")]
    Shape {
        target: String,
        tensor: String,
        shape: Vec<usize>,
        block: usize,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What `lore models list` shows about a GGUF file, read from its header
/// without loading weights.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GgufInfo {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub architecture: Option<String>,
    pub name: Option<String>,
    /// The most common type among matrices (norms are F32 in every file).
    pub quantization: Option<String>,
    pub context_length: Option<u64>,
}

/// Target types of `lore models quantize`: those with fast candle CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    Q8_0,
    Q4_0,
}

impl QuantType {
    fn dtype(self) -> GgmlDType {
        match self {
            QuantType::Q8_0 => GgmlDType::Q8_0,
            QuantType::Q4_0 => GgmlDType::Q4_0,
        }
    }

    /// llama.cpp's `general.file_type` numbering.
    fn file_type(self) -> u32 {
        match self {
            QuantType::Q8_0 => 7,
            QuantType::Q4_0 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q4_0 => "Q4_0",
        }
    }

    /// `q8_0` or `q4_0`, as the catalogue and `--type` spell them.
    pub fn parse(s: &str) -> Option<QuantType> {
        match s.to_ascii_lowercase().as_str() {
            "q8_0" => Some(QuantType::Q8_0),
            "q4_0" => Some(QuantType::Q4_0),
            _ => None,
        }
    }
}

/// A GGUF tensor type (candle's), for choosing which tensors to convert.
pub type TensorType = GgmlDType;

/// Tensor types by name, as `lore models info` prints them lowercased
/// (`q4_1`, `q5_0`, `q4k`, `f16`).
pub fn parse_types(names: &[String]) -> Result<Vec<TensorType>, String> {
    names
        .iter()
        .map(|n| {
            (0..=30)
                .filter_map(ggml_dtype)
                .find(|d| format!("{d:?}").eq_ignore_ascii_case(n))
                .ok_or_else(|| format!("unknown tensor type '{n}' (e.g. q4_1, q5_0, q4k, f16)"))
        })
        .collect()
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> ModelFileError {
    ModelFileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `e`'s text on one line, without the backtrace candle appends to its
/// errors when `RUST_BACKTRACE` is set: an error is reported as one line.
pub(super) fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let is_frame = |l: &str| {
        let digits = l.bytes().take_while(u8::is_ascii_digit).count();
        (digits > 0 && l[digits..].starts_with(':'))
            || l.starts_with("at ")
            || l.eq_ignore_ascii_case("stack backtrace:")
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !is_frame(l))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

fn read_content(path: &Path) -> Result<(gguf_file::Content, BufReader<File>), ModelFileError> {
    // Candle's reader trusts the lengths in the header (a corrupt one can
    // make it allocate without bound); the validator checks them first.
    validate(path)?;
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| read_err(path, format!("not a readable GGUF file ({})", one_line(&e))))?;
    Ok((content, reader))
}

/// GGUF value types that have a fixed size, by their type number.
fn fixed_value_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

/// Candle's tensor types by GGUF number (candle's own table is private).
fn ggml_dtype(n: u32) -> Option<GgmlDType> {
    use GgmlDType::*;
    Some(match n {
        0 => F32,
        1 => F16,
        2 => Q4_0,
        3 => Q4_1,
        6 => Q5_0,
        7 => Q5_1,
        8 => Q8_0,
        9 => Q8_1,
        10 => Q2K,
        11 => Q3K,
        12 => Q4K,
        13 => Q5K,
        14 => Q6K,
        15 => Q8K,
        30 => BF16,
        _ => return None,
    })
}

/// Reads a GGUF header with every length checked against the file's size
/// before anything is allocated or skipped.
struct Header {
    reader: BufReader<File>,
    pos: u64,
    len: u64,
    /// Lengths and counts are u32 in version 1, u64 later.
    wide: bool,
    /// Where the reader is, for the truncation message.
    place: String,
}

impl Header {
    fn truncated(&self) -> String {
        format!(
            "truncated: the file ends at byte {} inside {}",
            self.len, self.place
        )
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.len - self.pos < N as u64 {
            return Err(self.truncated());
        }
        let mut b = [0u8; N];
        std::io::Read::read_exact(&mut self.reader, &mut b).map_err(|e| e.to_string())?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }

    /// A length or count: u32 in version 1, u64 later.
    fn count(&mut self) -> Result<u64, String> {
        if self.wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if self.len - self.pos < n {
            return Err(self.truncated());
        }
        let step = i64::try_from(n).map_err(|_| self.truncated())?;
        self.reader.seek_relative(step).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }

    /// A string's length, checked: longer than the whole file is corruption,
    /// longer than the rest of it is truncation.
    fn string_len(&mut self) -> Result<u64, String> {
        let n = self.count()?;
        if n > self.len {
            return Err(format!(
                "corrupt: a string of {n} bytes inside {}, longer than the whole file",
                self.place
            ));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.string_len()?;
        if self.len - self.pos < n {
            return Err(self.truncated());
        }
        let mut v = vec![0u8; n as usize];
        std::io::Read::read_exact(&mut self.reader, &mut v).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(String::from_utf8_lossy(&v)
            .trim_end_matches('\0')
            .to_string())
    }

    /// Skips one metadata value; returns it when it is an integer candle
    /// would take as an alignment.
    fn value(&mut self, value_type: u32, depth: u32) -> Result<Option<u64>, String> {
        match value_type {
            0 => Ok(Some(u64::from(self.bytes::<1>()?[0]))),
            1 => Ok(u64::try_from(i8::from_le_bytes(self.bytes::<1>()?)).ok()),
            2 => Ok(Some(u64::from(u16::from_le_bytes(self.bytes::<2>()?)))),
            3 => Ok(u64::try_from(i16::from_le_bytes(self.bytes::<2>()?)).ok()),
            4 => Ok(Some(u64::from(self.u32()?))),
            5 => Ok(u64::try_from(i32::from_le_bytes(self.bytes::<4>()?)).ok()),
            7 => match self.bytes::<1>()?[0] {
                0 | 1 => Ok(None),
                b => Err(format!("corrupt: bool value {b} inside {}", self.place)),
            },
            8 => {
                let n = self.string_len()?;
                self.skip(n).map(|()| None)
            }
            9 => {
                // Candle reads nested arrays recursively: deep nesting in a
                // corrupt file would overflow its stack.
                if depth >= 4 {
                    return Err(format!(
                        "corrupt: arrays nested too deep inside {}",
                        self.place
                    ));
                }
                let inner = self.u32()?;
                let n = self.count()?;
                match fixed_value_size(inner) {
                    Some(size) if inner != 7 => {
                        let bytes = n.checked_mul(size).filter(|b| *b <= self.len);
                        let Some(bytes) = bytes else {
                            return Err(format!(
                                "corrupt: an array of {n} values inside {}, larger than the whole file",
                                self.place
                            ));
                        };
                        self.skip(bytes).map(|()| None)
                    }
                    _ => {
                        if n > self.len {
                            return Err(format!(
                                "corrupt: an array of {n} values inside {}, more than the file can hold",
                                self.place
                            ));
                        }
                        for _ in 0..n {
                            self.value(inner, depth + 1)?;
                        }
                        Ok(None)
                    }
                }
            }
            t => match fixed_value_size(t) {
                Some(size) => self.skip(size).map(|()| None),
                None => Err(format!(
                    "corrupt: unknown value type {t} inside {}",
                    self.place
                )),
            },
        }
    }
}

/// A tensor as the header describes it.
struct TensorEntry {
    name: String,
    offset: u64,
    bytes: u64,
}

/// Checks that `path` is a whole GGUF file: magic and version, a metadata
/// and tensor table that parse, and every tensor's data inside the file.
/// Reads the header only (milliseconds for any size): a truncated or
/// corrupt file is then one clear error instead of a crash in the loader.
pub fn validate(path: &Path) -> Result<(), ModelFileError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let len = file.metadata().map_err(|e| read_err(path, e))?.len();
    let mut h = Header {
        reader: BufReader::new(file),
        pos: 0,
        len,
        wide: true,
        place: "the header".into(),
    };
    check(&mut h).map_err(|m| read_err(path, m))
}

fn check(h: &mut Header) -> Result<(), String> {
    if h.len == 0 {
        return Err("empty file (0 bytes), not a GGUF model".into());
    }
    // Candle accepts the magic in either byte order.
    let magic = h
        .u32()
        .map_err(|_| "not a GGUF file (bad magic)".to_string())?;
    if magic != 0x4655_4747 && magic != 0x4747_5546 {
        return Err("not a GGUF file (bad magic)".into());
    }
    let version = h.u32()?;
    if !(1..=3).contains(&version) {
        return Err(format!(
            "unsupported GGUF version {version} (versions 1 to 3 can be read)"
        ));
    }
    h.wide = version > 1;
    let tensor_count = h.count()?;
    let kv_count = h.count()?;
    // Every entry takes several bytes: a count beyond the file's size is a
    // corrupt header, not a short file.
    if tensor_count > h.len || kv_count > h.len {
        return Err(format!(
            "corrupt: the header claims {tensor_count} tensors and {kv_count} metadata entries"
        ));
    }
    let mut alignment = gguf_file::DEFAULT_ALIGNMENT;
    for i in 0..kv_count {
        h.place = format!("the metadata (entry {} of {kv_count})", i + 1);
        let key = h.string()?;
        h.place = format!("the metadata (entry {} of {kv_count}, '{key}')", i + 1);
        let value_type = h.u32()?;
        let value = h.value(value_type, 0)?;
        if key == "general.alignment" {
            alignment = value.unwrap_or(gguf_file::DEFAULT_ALIGNMENT);
        }
    }
    if alignment == 0 {
        return Err("corrupt: general.alignment is 0".into());
    }
    let mut tensors = Vec::new();
    for i in 0..tensor_count {
        h.place = format!("the tensor table (tensor {} of {tensor_count})", i + 1);
        tensors.push(tensor_entry(h)?);
    }
    let data_start = h.pos.div_ceil(alignment) * alignment;
    tensors.sort_by_key(|t| t.offset);
    for t in &tensors {
        let range = data_start
            .checked_add(t.offset)
            .and_then(|s| Some((s, s.checked_add(t.bytes)?)));
        match range {
            Some((_, end)) if end <= h.len => {}
            Some((start, end)) => {
                return Err(format!(
                    "truncated: tensor '{}' needs bytes {start}..{end} but the file has {}",
                    t.name, h.len
                ))
            }
            None => {
                return Err(format!(
                    "corrupt: tensor '{}' has an impossible offset",
                    t.name
                ))
            }
        }
    }
    Ok(())
}

fn tensor_entry(h: &mut Header) -> Result<TensorEntry, String> {
    let name = h.string()?;
    let n_dims = h.u32()?;
    // ggml's limit; candle would allocate whatever a corrupt count says.
    if n_dims > 4 {
        return Err(format!(
            "corrupt: tensor '{name}' has {n_dims} dimensions (at most 4)"
        ));
    }
    let mut elems: u64 = 1;
    for _ in 0..n_dims {
        let d = h.count()?;
        elems = elems
            .checked_mul(d)
            .ok_or_else(|| format!("corrupt: tensor '{name}' has an impossible shape"))?;
    }
    let type_number = h.u32()?;
    let dtype = ggml_dtype(type_number).ok_or_else(|| {
        format!("tensor '{name}' has type {type_number}, which this build cannot read")
    })?;
    let offset = h.u64()?;
    let block = dtype.block_size() as u64;
    if elems % block != 0 {
        return Err(format!(
            "corrupt: tensor '{name}' has {elems} elements, not a multiple of its {dtype:?} block of {block}"
        ));
    }
    let bytes = (elems / block)
        .checked_mul(dtype.type_size() as u64)
        .ok_or_else(|| format!("corrupt: tensor '{name}' has an impossible shape"))?;
    Ok(TensorEntry {
        name,
        offset,
        bytes,
    })
}

fn meta_u64(v: &gguf_file::Value) -> Option<u64> {
    use gguf_file::Value::*;
    match v {
        U8(x) => Some(*x as u64),
        U16(x) => Some(*x as u64),
        U32(x) => Some(*x as u64),
        U64(x) => Some(*x),
        I8(x) => u64::try_from(*x).ok(),
        I16(x) => u64::try_from(*x).ok(),
        I32(x) => u64::try_from(*x).ok(),
        I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

fn meta_str(content: &gguf_file::Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

/// Reads the header of a GGUF file.
pub fn inspect(path: &Path) -> Result<GgufInfo, ModelFileError> {
    let (content, _) = read_content(path)?;
    info_of(path, &content)
}

fn info_of(path: &Path, content: &gguf_file::Content) -> Result<GgufInfo, ModelFileError> {
    let size_bytes = std::fs::metadata(path)
        .map_err(|e| read_err(path, e))?
        .len();
    let architecture = meta_str(content, "general.architecture");
    let context_length = architecture
        .as_ref()
        .and_then(|a| content.metadata.get(&format!("{a}.context_length")))
        .and_then(meta_u64);
    let mut counts: HashMap<GgmlDType, usize> = HashMap::new();
    for info in content.tensor_infos.values() {
        if info.shape.rank() >= 2 {
            *counts.entry(info.ggml_dtype).or_default() += info.shape.elem_count();
        }
    }
    let quantization = counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(d, _)| format!("{d:?}"));
    Ok(GgufInfo {
        path: path.to_path_buf(),
        size_bytes,
        name: meta_str(content, "general.name"),
        architecture,
        quantization,
        context_length,
    })
}

/// What `lore models info` shows: the header's facts about a model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GgufDetails {
    #[serde(flatten)]
    pub info: GgufInfo,
    /// Tensor counts by type, most common first.
    pub tensor_types: Vec<(String, usize)>,
    pub tensors: usize,
    pub parameters: u64,
    pub layers: Option<u64>,
    pub embedding_length: Option<u64>,
    pub heads: Option<u64>,
    pub kv_heads: Option<u64>,
    pub vocab_size: Option<usize>,
    pub licence: Option<String>,
    pub chat_template: bool,
    /// Whether the chat template renders a tool list (native tool calls).
    pub template_tools: bool,
}

/// Reads the header of a GGUF file in more detail than [`inspect`].
pub fn details(path: &Path) -> Result<GgufDetails, ModelFileError> {
    let (content, _) = read_content(path)?;
    let info = info_of(path, &content)?;
    let arch = info.architecture.clone().unwrap_or_default();
    let arch_u64 = |key: &str| {
        content
            .metadata
            .get(&format!("{arch}.{key}"))
            .and_then(meta_u64)
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut parameters = 0u64;
    for t in content.tensor_infos.values() {
        *counts.entry(format!("{:?}", t.ggml_dtype)).or_default() += 1;
        parameters += t.shape.elem_count() as u64;
    }
    let mut tensor_types: Vec<(String, usize)> = counts.into_iter().collect();
    tensor_types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let template = meta_str(&content, "tokenizer.chat_template");
    let vocab_size = match content.metadata.get("tokenizer.ggml.tokens") {
        Some(gguf_file::Value::Array(a)) => Some(a.len()),
        _ => None,
    };
    Ok(GgufDetails {
        tensors: content.tensor_infos.len(),
        tensor_types,
        parameters,
        layers: arch_u64("block_count"),
        embedding_length: arch_u64("embedding_length"),
        heads: arch_u64("attention.head_count"),
        kv_heads: arch_u64("attention.head_count_kv"),
        vocab_size,
        licence: meta_str(&content, "general.license"),
        chat_template: template.is_some(),
        template_tools: template.as_deref().is_some_and(renders_tools),
        info,
    })
}

/// Whether a Jinja chat template does something with a `tools` variable.
pub fn renders_tools(template: &str) -> bool {
    [
        "if tools",
        "tools is defined",
        "for tool in tools",
        "tools |",
        "tools|",
    ]
    .iter()
    .any(|p| template.contains(p))
}

/// GGUF files directly inside `dir`, sorted by name. A missing directory is
/// an empty list; unreadable files are returned as errors beside the rest.
pub fn list(dir: &Path) -> Vec<Result<GgufInfo, ModelFileError>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| inspect(p)).collect()
}

/// Re-quantizes every matrix of `input` to `target`, copying metadata
/// (tokenizer, chat template) and keeping 1-D tensors (norms) as they are.
///
/// Nothing is written unless every matrix can be converted; the output
/// appears under its final name only when complete. `progress` is called
/// with (tensors done, tensors total).
pub fn quantize(
    input: &Path,
    output: &Path,
    target: QuantType,
    only: Option<&[TensorType]>,
    force: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<(), ModelFileError> {
    if output.exists() && !force {
        return Err(ModelFileError::Exists {
            path: output.to_path_buf(),
        });
    }
    let (content, mut reader) = read_content(input)?;
    let dtype = target.dtype();
    let block = dtype.block_size();

    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // The header's HashMap loses the file order; data offsets restore it.
    names.sort_by_key(|n| content.tensor_infos[*n].offset);
    let converts = |dims: &[usize], dtype_now: GgmlDType| {
        dims.len() >= 2 && dtype_now != dtype && only.is_none_or(|o| o.contains(&dtype_now))
    };
    for name in &names {
        let info = &content.tensor_infos[*name];
        let dims = info.shape.dims();
        if converts(dims, info.ggml_dtype) && dims[dims.len() - 1] % block != 0 {
            return Err(ModelFileError::Shape {
                target: target.name().to_string(),
                tensor: name.to_string(),
                shape: dims.to_vec(),
                block,
            });
        }
    }

    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let qt = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(|e| read_err(input, format!("tensor '{name}': {e}")))?;
        let qt = if converts(qt.shape().dims(), qt.dtype()) {
            let f = qt
                .dequantize(&Device::Cpu)
                .map_err(|e| read_err(input, format!("tensor '{name}': {e}")))?;
            QTensor::quantize(&f, dtype)
                .map_err(|e| read_err(input, format!("tensor '{name}': {e}")))?
        } else {
            qt
        };
        tensors.push((name.to_string(), qt));
        progress(i + 1, names.len());
    }

    let mut metadata: Vec<(String, gguf_file::Value)> = content
        .metadata
        .iter()
        // candle's writer always aligns to 32 bytes; a copied different
        // alignment would make readers look for data in the wrong place.
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((_, v)) = metadata.iter_mut().find(|(k, _)| k == "general.file_type") {
        *v = match v {
            gguf_file::Value::I32(_) => gguf_file::Value::I32(target.file_type() as i32),
            _ => gguf_file::Value::U32(target.file_type()),
        };
    }

    let partial = partial_path(output);
    let write_err = |e: &dyn std::fmt::Display| ModelFileError::Write {
        path: output.to_path_buf(),
        message: e.to_string(),
    };
    let result = (|| {
        let file = File::create(&partial).map_err(|e| write_err(&e))?;
        let mut w = BufWriter::new(file);
        let md: Vec<(&str, &gguf_file::Value)> =
            metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
        gguf_file::write(&mut w, &md, &ts).map_err(|e| write_err(&e))?;
        w.flush().map_err(|e| write_err(&e))?;
        w.get_ref().sync_all().map_err(|e| write_err(&e))?;
        std::fs::rename(&partial, output).map_err(|e| write_err(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn partial_path(output: &Path) -> PathBuf {
    // Unique per process: two lore processes preparing the default model at
    // once each write their own file, and the atomic renames agree.
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.partial", std::process::id()));
    output.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    fn write_gguf(path: &Path, tensors: &[(&str, QTensor)]) {
        let arch = gguf_file::Value::String("llama".into());
        let ctx = gguf_file::Value::U32(2048);
        let ft = gguf_file::Value::U32(3);
        let toks = gguf_file::Value::Array(vec![
            gguf_file::Value::String("a".into()),
            gguf_file::Value::String("b".into()),
        ]);
        let md = [
            ("general.architecture", &arch),
            ("llama.context_length", &ctx),
            ("general.file_type", &ft),
            ("tokenizer.ggml.tokens", &toks),
        ];
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
        let mut f = File::create(path).unwrap();
        gguf_file::write(&mut f, &md, &ts).unwrap();
    }

    fn matrix(rows: usize, cols: usize) -> Tensor {
        let data: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        Tensor::from_vec(data, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn quantize_converts_matrices_keeps_norms_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        let w = QTensor::quantize(&matrix(4, 64), GgmlDType::Q4_1).unwrap();
        let norm = QTensor::quantize(
            &Tensor::ones(64, candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap();
        write_gguf(&input, &[("w", w), ("norm", norm)]);

        let output = dir.path().join("out.gguf");
        let mut calls = 0;
        quantize(&input, &output, QuantType::Q8_0, None, false, |_, _| {
            calls += 1
        })
        .unwrap();
        assert_eq!(calls, 2);

        let (content, mut r) = read_content(&output).unwrap();
        assert_eq!(content.tensor_infos["w"].ggml_dtype, GgmlDType::Q8_0);
        assert_eq!(content.tensor_infos["norm"].ggml_dtype, GgmlDType::F32);
        assert_eq!(content.metadata["general.file_type"].to_u32().unwrap(), 7);
        assert_eq!(
            content.metadata["tokenizer.ggml.tokens"]
                .to_vec()
                .unwrap()
                .len(),
            2
        );
        // Q8_0 holds Q4_1's values almost exactly.
        let before = matrix(4, 64);
        let after = content
            .tensor(&mut r, "w", &Device::Cpu)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        let err: f32 = (before - after)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(err < 0.1, "max abs error {err}");

        let info = inspect(&output).unwrap();
        assert_eq!(info.architecture.as_deref(), Some("llama"));
        assert_eq!(info.context_length, Some(2048));
        assert_eq!(info.quantization.as_deref(), Some("Q8_0"));
    }

    #[test]
    fn quantize_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        write_gguf(
            &input,
            &[(
                "w",
                QTensor::quantize(&matrix(2, 32), GgmlDType::F32).unwrap(),
            )],
        );
        let output = dir.path().join("out.gguf");
        std::fs::write(&output, b"keep me").unwrap();
        let err = quantize(&input, &output, QuantType::Q4_0, None, false, |_, _| {}).unwrap_err();
        assert!(matches!(err, ModelFileError::Exists { .. }));
        assert_eq!(std::fs::read(&output).unwrap(), b"keep me");
        quantize(&input, &output, QuantType::Q4_0, None, true, |_, _| {}).unwrap();
        assert_eq!(
            inspect(&output).unwrap().quantization.as_deref(),
            Some("Q4_0")
        );
    }

    #[test]
    fn quantize_rejects_shapes_the_type_cannot_hold() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        write_gguf(
            &input,
            &[(
                "odd",
                QTensor::quantize(&matrix(2, 48), GgmlDType::F32).unwrap(),
            )],
        );
        let output = dir.path().join("out.gguf");
        let err = quantize(&input, &output, QuantType::Q8_0, None, false, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("'odd'"), "{err}");
        assert!(!output.exists());
    }

    #[test]
    fn quantize_converts_only_the_types_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gguf");
        write_gguf(
            &input,
            &[
                (
                    "a",
                    QTensor::quantize(&matrix(2, 64), GgmlDType::Q4_1).unwrap(),
                ),
                (
                    "k",
                    QTensor::quantize(&matrix(2, 256), GgmlDType::Q4K).unwrap(),
                ),
                // 48 columns cannot be Q8_0, but it is not converted.
                (
                    "f",
                    QTensor::quantize(&matrix(2, 48), GgmlDType::F16).unwrap(),
                ),
            ],
        );
        let output = dir.path().join("out.gguf");
        let only = parse_types(&["q4_1".into()]).unwrap();
        quantize(
            &input,
            &output,
            QuantType::Q8_0,
            Some(&only),
            false,
            |_, _| {},
        )
        .unwrap();
        let mut f = File::open(&output).unwrap();
        let content = gguf_file::Content::read(&mut f).unwrap();
        assert_eq!(content.tensor_infos["a"].ggml_dtype, GgmlDType::Q8_0);
        assert_eq!(content.tensor_infos["k"].ggml_dtype, GgmlDType::Q4K);
        assert_eq!(content.tensor_infos["f"].ggml_dtype, GgmlDType::F16);
        assert!(parse_types(&["q9_9".into()]).unwrap_err().contains("q9_9"));
        assert_eq!(QuantType::parse("Q8_0"), Some(QuantType::Q8_0));
    }

    #[test]
    fn details_count_tensor_types_and_see_tool_templates() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = valid_file(dir.path());
        let d = details(&p).unwrap();
        assert_eq!(d.tensors, 1);
        assert_eq!(d.tensor_types, vec![("F32".to_string(), 1)]);
        assert_eq!(d.parameters, 256);
        assert!(!d.chat_template && !d.template_tools);
        assert!(renders_tools(
            "{%- if tools %}{{ tools | tojson }}{% endif %}"
        ));
        assert!(!renders_tools(
            "{% for m in messages %}{{ m.content }}{% endfor %}"
        ));
    }

    #[test]
    fn not_a_gguf_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        std::fs::write(&p, b"hello").unwrap();
        let err = inspect(&p).unwrap_err().to_string();
        assert!(err.contains("not a GGUF file (bad magic)"), "{err}");
    }

    /// A valid file with a 4x64 F32 matrix 'w' and its size.
    fn valid_file(dir: &Path) -> (PathBuf, u64) {
        let p = dir.join("m.gguf");
        write_gguf(
            &p,
            &[(
                "w",
                QTensor::quantize(&matrix(4, 64), GgmlDType::F32).unwrap(),
            )],
        );
        let len = std::fs::metadata(&p).unwrap().len();
        (p, len)
    }

    fn cut(p: &Path, len: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    fn validate_err(p: &Path) -> String {
        let err = validate(p).unwrap_err().to_string();
        assert!(err.starts_with(&p.display().to_string()), "{err}");
        assert!(!err.contains('\n'), "{err}");
        err
    }

    #[test]
    fn validate_accepts_a_whole_file_and_names_the_tensor_a_short_one_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let (p, len) = valid_file(dir.path());
        validate(&p).unwrap();
        cut(&p, len - 1);
        let err = validate_err(&p);
        let data = 4 * 64 * 4;
        let want = format!(
            "truncated: tensor 'w' needs bytes {}..{len} but the file has {}",
            len - data,
            len - 1
        );
        assert!(err.ends_with(&want), "{err}");
    }

    #[test]
    fn validate_reports_where_a_header_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = valid_file(dir.path());
        cut(&p, 30);
        let err = validate_err(&p);
        assert!(
            err.contains("truncated: the file ends at byte 30 inside the metadata (entry 1 of 4"),
            "{err}"
        );
        // The tensor table starts after the last metadata value.
        let (p, len) = valid_file(dir.path());
        let bytes = std::fs::read(&p).unwrap();
        // 'w' with its u64 length: the start of the table's only entry.
        let name = b"\x01\0\0\0\0\0\0\0w";
        let at = bytes.windows(name.len()).rposition(|w| w == name).unwrap();
        cut(&p, (at + name.len() + 2) as u64);
        let err = validate_err(&p);
        assert!(
            err.contains("inside the tensor table (tensor 1 of 1)"),
            "{err} ({len})"
        );
    }

    #[test]
    fn validate_rejects_empty_foreign_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        let cases: [(&[u8], &str); 5] = [
            (b"", "empty file (0 bytes)"),
            (b"GG", "not a GGUF file (bad magic)"),
            (b"# a README, not a model\n", "not a GGUF file (bad magic)"),
            (b"GGUF\x09\0\0\0", "unsupported GGUF version 9"),
            (
                b"GGUF\x03\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f",
                "corrupt: a string of 9223372036854775807 bytes",
            ),
        ];
        for (bytes, want) in cases {
            std::fs::write(&p, bytes).unwrap();
            let err = validate_err(&p);
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn one_line_drops_backtraces_and_joins_lines() {
        let text = "Critical failure!\nCheck this: failed to fill whole buffer\n   0: bt\n             at src/error.rs:264:25\n   1: from_readers";
        assert_eq!(
            one_line(&text),
            "Critical failure! Check this: failed to fill whole buffer"
        );
        assert_eq!(one_line(&"plain"), "plain");
    }
}
