//! Model files on disk: GGUF inspection, re-quantization, the models
//! directory listing and the default model.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

/// The file `scripts/fetch-model.sh` installs.
pub const DEFAULT_SOURCE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The default model setting: [`DEFAULT_SOURCE`] re-quantized to Q8_0.
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct.Q8_0.gguf";

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
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> ModelFileError {
    ModelFileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn read_content(path: &Path) -> Result<(gguf_file::Content, BufReader<File>), ModelFileError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| read_err(path, format!("not a readable GGUF file ({e})")))?;
    Ok((content, reader))
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
    let size_bytes = std::fs::metadata(path)
        .map_err(|e| read_err(path, e))?
        .len();
    let (content, _) = read_content(path)?;
    let architecture = meta_str(&content, "general.architecture");
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
        name: meta_str(&content, "general.name"),
        architecture,
        quantization,
        context_length,
    })
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
    for name in &names {
        let info = &content.tensor_infos[*name];
        let dims = info.shape.dims();
        if dims.len() >= 2 && dims[dims.len() - 1] % block != 0 {
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
        let qt = if qt.shape().rank() >= 2 && qt.dtype() != dtype {
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
        quantize(&input, &output, QuantType::Q8_0, false, |_, _| calls += 1).unwrap();
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
        let err = quantize(&input, &output, QuantType::Q4_0, false, |_, _| {}).unwrap_err();
        assert!(matches!(err, ModelFileError::Exists { .. }));
        assert_eq!(std::fs::read(&output).unwrap(), b"keep me");
        quantize(&input, &output, QuantType::Q4_0, true, |_, _| {}).unwrap();
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
        let err = quantize(&input, &output, QuantType::Q8_0, false, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("'odd'"), "{err}");
        assert!(!output.exists());
    }

    #[test]
    fn not_a_gguf_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        std::fs::write(&p, b"hello").unwrap();
        let err = inspect(&p).unwrap_err().to_string();
        assert!(err.contains("not a readable GGUF"), "{err}");
    }
}
