//! Sentence embeddings for dense retrieval: a BERT-family encoder from a
//! sentence-transformers directory (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `1_Pooling/config.json`, `modules.json`), run with
//! candle-transformers' BERT.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::index::dense::Embedder;

/// Texts run through the model together on a GPU, sorted by length
/// first so that each batch pads little. On a CPU candle's batched BERT is
/// slower than one text at a time (64 squad_nyt articles: 5.6 texts/s in
/// batches of 16, 9.6 one by one), so there each text is its own batch and
/// the cores take texts in parallel (16 texts/s on 2 cores).
const GPU_BATCH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pooling {
    Mean,
    Cls,
}

/// The batches one thread embedded, by batch number.
type Done = Vec<(usize, Vec<Vec<f32>>)>;

/// A loaded sentence encoder.
pub struct SentenceEncoder {
    name: String,
    fingerprint: String,
    dim: usize,
    model: BertModel,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    device: Device,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn json(path: &Path) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&read(path)?)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// Identifies the weights without hashing all of them: the config, the
/// tokenizer, the size of the weights and their first and last MiB.
fn fingerprint(config: &[u8], tokenizer: &[u8], weights: &Path) -> Result<String, String> {
    use std::io::{Read, Seek, SeekFrom};
    let err = |e: std::io::Error| format!("cannot read {}: {e}", weights.display());
    let mut f = std::fs::File::open(weights).map_err(err)?;
    let size = f.metadata().map_err(err)?.len();
    let mut h = Sha256::new();
    h.update(config);
    h.update(tokenizer);
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; 1 << 20];
    let n = f.read(&mut buf).map_err(err)?;
    h.update(&buf[..n]);
    f.seek(SeekFrom::Start(size.saturating_sub(1 << 20)))
        .map_err(err)?;
    let n = f.read(&mut buf).map_err(err)?;
    h.update(&buf[..n]);
    Ok(format!("{:x}", h.finalize()))
}

/// How the directory says to pool and normalise: mean pooling unless its
/// pooling config asks for the CLS token; normalised when its modules
/// list a Normalize step.
fn pooling_of(dir: &Path) -> Result<(Pooling, bool), String> {
    let pooling = match json(&dir.join("1_Pooling/config.json")) {
        Ok(p) if p["pooling_mode_cls_token"].as_bool() == Some(true) => Pooling::Cls,
        Ok(p) if p["pooling_mode_mean_tokens"].as_bool() == Some(false) => return Err(
            "its pooling config asks for a pooling mode lore does not support (only mean and CLS)"
                .into(),
        ),
        _ => Pooling::Mean,
    };
    let normalize = match json(&dir.join("modules.json")) {
        Ok(m) => m.as_array().is_some_and(|mods| {
            mods.iter()
                .any(|m| m["type"].as_str().is_some_and(|t| t.ends_with("Normalize")))
        }),
        // Without a module list, normalise: cosine similarity is what
        // retrieval compares, and it needs unit vectors.
        Err(_) => true,
    };
    Ok((pooling, normalize))
}

fn device(force_cpu: bool) -> Device {
    if force_cpu {
        return Device::Cpu;
    }
    if cfg!(feature = "cuda") {
        return Device::cuda_if_available(0).unwrap_or(Device::Cpu);
    }
    if cfg!(feature = "metal") {
        return Device::metal_if_available(0).unwrap_or(Device::Cpu);
    }
    Device::Cpu
}

impl SentenceEncoder {
    /// Loads the model in `dir`; `name` is how the index records it.
    pub fn load(name: &str, dir: &Path, force_cpu: bool) -> Result<SentenceEncoder, String> {
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        let config_bytes = read(&dir.join("config.json"))?;
        let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| {
            format!(
                "{} is not a BERT config: {e}",
                dir.join("config.json").display()
            )
        })?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer_bytes = read(&tokenizer_path)?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|e| format!("cannot load {}: {e}", tokenizer_path.display()))?;
        let max_len = json(&dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|c| c["max_seq_length"].as_u64())
            .map_or(config.max_position_embeddings, |n| n as usize)
            .min(config.max_position_embeddings);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("cannot truncate to {max_len} tokens: {e}"))?;
        let weights: PathBuf = dir.join("model.safetensors");
        let fingerprint = fingerprint(&config_bytes, &tokenizer_bytes, &weights)?;
        let (pooling, normalize) = pooling_of(dir)?;
        let device = device(force_cpu);
        // SAFETY: the file is mapped read-only; lore's own model files
        // are not modified while it runs.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| format!("cannot load {}: {e}", weights.display()))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| format!("{} is not a BERT model: {e}", weights.display()))?;
        Ok(SentenceEncoder {
            name: name.to_string(),
            fingerprint,
            dim: config.hidden_size,
            model,
            tokenizer,
            pooling,
            normalize,
            device,
        })
    }

    fn embed_batch(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = ids.iter().map(|i| i.len()).max().unwrap_or(0).max(1);
        let mut flat = Vec::with_capacity(ids.len() * len);
        let mut mask = Vec::with_capacity(ids.len() * len);
        for i in ids {
            flat.extend_from_slice(i);
            flat.extend(std::iter::repeat_n(0u32, len - i.len()));
            mask.extend(std::iter::repeat_n(1u32, i.len()));
            mask.extend(std::iter::repeat_n(0u32, len - i.len()));
        }
        let shape = (ids.len(), len);
        let input = Tensor::from_vec(flat, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let types = input.zeros_like()?;
        let out = self.model.forward(&input, &types, Some(&mask))?;
        let pooled = match self.pooling {
            Pooling::Cls => out.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let sum = out.broadcast_mul(&m)?.sum(1)?;
                let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
                sum.broadcast_div(&count)?
            }
        };
        let pooled = if self.normalize {
            let norm = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12, f64::MAX)?;
            pooled.broadcast_div(&norm)?
        } else {
            pooled
        };
        pooled.to_device(&Device::Cpu)?.to_vec2::<f32>()
    }
}

impl Embedder for SentenceEncoder {
    fn name(&self) -> &str {
        &self.name
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings = texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(*t, true)
                    .map_err(|e| format!("cannot tokenize: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|i| encodings[*i].get_ids().len());
        let cpu = self.device.is_cpu();
        let batches: Vec<&[usize]> = order.chunks(if cpu { 1 } else { GPU_BATCH }).collect();
        let workers = if cpu {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        }
        .min(batches.len())
        .max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Done, String>> = std::thread::scope(|scope| {
            let work = || {
                let mut done = Vec::new();
                loop {
                    let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = batches.get(b) else {
                        return Ok(done);
                    };
                    let ids: Vec<&[u32]> = batch.iter().map(|i| encodings[*i].get_ids()).collect();
                    done.push((b, self.embed_batch(&ids).map_err(|e| e.to_string())?));
                }
            };
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("the embedding thread panicked".into()))
                })
                .collect()
        });
        let mut out = vec![Vec::new(); texts.len()];
        for r in results {
            for (b, vectors) in r? {
                for (i, v) in batches[b].iter().zip(vectors) {
                    out[*i] = v;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed all-MiniLM-L6-v2 (`scripts/fetch-model.sh` installs
    /// it with the test model); the tests fail, never skip, without it.
    fn minilm() -> SentenceEncoder {
        let models = std::env::var_os("LORE_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::settings::user_data_dir().join("models"));
        let dir = models.join("all-MiniLM-L6-v2");
        assert!(
            dir.join("config.json").is_file(),
            "{} is not installed: run scripts/fetch-model.sh",
            dir.display()
        );
        SentenceEncoder::load("all-minilm-l6-v2", &dir, true).unwrap()
    }

    const TEXTS: [&str; 4] = [
        "Where is my parcel? It is late again.",
        "My package has not arrived yet.",
        "How do I reset my password?",
        "光合作用把光能转化为化学能。",
    ];

    /// Computed by `scripts/embed_reference.py`, a pure-numpy forward pass
    /// written from the model's config (not with candle or
    /// sentence-transformers' code).
    const FIRST8: [[f32; 8]; 4] = [
        [
            0.040359, -0.040607, 0.069402, 0.005070, 0.070098, 0.018021, -0.015068, -0.011410,
        ],
        [
            -0.076991, 0.005273, 0.005268, 0.030966, 0.036117, -0.015245, 0.035259, -0.061756,
        ],
        [
            0.006903, -0.063023, -0.072044, -0.032496, -0.042709, 0.070429, 0.009074, 0.015408,
        ],
        [
            -0.062810, 0.014070, -0.018582, 0.029549, -0.015323, -0.041459, 0.126907, 0.036877,
        ],
    ];
    const COSINE: [[f32; 4]; 4] = [
        [1.0, 0.522142, 0.207135, 0.091535],
        [0.522142, 1.0, 0.086510, 0.120435],
        [0.207135, 0.086510, 1.0, 0.095516],
        [0.091535, 0.120435, 0.095516, 1.0],
    ];

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn minilm_matches_an_independent_forward_pass() {
        let m = minilm();
        assert_eq!(m.dim(), 384);
        let ids = m.tokenizer.encode(TEXTS[0], true).unwrap();
        assert_eq!(
            ids.get_ids(),
            [101, 2073, 2003, 2026, 20463, 1029, 2009, 2003, 2397, 2153, 1012, 102]
        );
        let v = m.embed(&TEXTS).unwrap();
        for (i, (got, want)) in v.iter().zip(FIRST8).enumerate() {
            assert!(
                (dot(got, got) - 1.0).abs() < 1e-4,
                "text {i} is not unit length"
            );
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 2e-4,
                    "text {i}: {:?} vs {want:?}",
                    &got[..8]
                );
            }
        }
        for (i, row) in COSINE.iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                let got = dot(&v[i], &v[j]);
                assert!(
                    (got - want).abs() < 2e-4,
                    "cos({i},{j}) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn an_embedding_does_not_depend_on_its_batch() {
        let m = minilm();
        let long = "a much longer text about parcels, deliveries, couriers and the days they take to arrive";
        let batch = m.embed(&[long, TEXTS[1], TEXTS[0]]).unwrap();
        let alone = m.embed(&[TEXTS[0]]).unwrap();
        assert_eq!(batch.len(), 3);
        for (a, b) in alone[0].iter().zip(&batch[2]) {
            assert!((a - b).abs() < 1e-5, "padding changed the embedding");
        }
        assert!(m.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_directory_that_is_not_a_model_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = SentenceEncoder::load("x", dir.path(), true).err().unwrap();
        assert!(e.contains("config.json"), "{e}");
        std::fs::write(dir.path().join("config.json"), "{\"model_type\": 1}").unwrap();
        let e = SentenceEncoder::load("x", dir.path(), true).err().unwrap();
        assert!(e.contains("not a BERT config"), "{e}");
        let e = SentenceEncoder::load("x", &dir.path().join("absent"), true)
            .err()
            .unwrap();
        assert!(e.contains("not a directory"), "{e}");
    }
}
