//! Dense retrieval at 100,000 chunks: query latency of hybrid and dense
//! search against lexical search on the same index in the same run, and
//! the index's size on disk with and without vectors.
//!
//!   cargo run --example bench_dense [CHUNKS] [QUERIES]
//!
//! Embedding 100,000 real chunks takes most of an hour on two cores, so the
//! chunks' vectors here come from a stand-in that hashes each chunk to a
//! unit vector of the model's dimension: the search reads and scores them
//! exactly as it would real ones. Queries are embedded by the real model
//! (all-minilm-l6-v2, which must be installed), and that time is counted.
//! Chunks: `../shared/data/squad_nyt`'s articles, repeated under new names
//! until there are CHUNKS (default 100,000) of them; queries: its first
//! QUERIES (default 300) questions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lore::engine::embed::SentenceEncoder;
use lore::index::chunk::{ChunkOptions, Markup};
use lore::index::dense::{Dense, Embedder, Fusion, Mode};
use lore::index::loaders::Document;
use lore::index::store::FileEntry;
use lore::index::{KnowledgeIndex, SearchOptions};

/// Chunks get hashed vectors; queries (after `querying` is set) the model's.
struct StandIn {
    model: SentenceEncoder,
    querying: AtomicBool,
}

impl Embedder for StandIn {
    fn name(&self) -> &str {
        "bench-stand-in"
    }
    fn fingerprint(&self) -> &str {
        "bench-stand-in"
    }
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        if self.querying.load(Ordering::Relaxed) {
            return self.model.embed(texts);
        }
        Ok(texts.iter().map(|t| hashed(t, self.model.dim())).collect())
    }
}

fn hashed(text: &str, dim: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            (h >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn models_dir() -> PathBuf {
    std::env::var_os("LORE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| lore::settings::user_data_dir().join("models"))
}

fn field<'a>(line: &'a serde_json::Value, key: &str) -> &'a str {
    line[key].as_str().unwrap_or_default()
}

fn disk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                disk_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Writes the repeated corpus into a new index in `dir`; returns its chunks.
fn build(dir: &Path, articles: &[(String, String)], target: usize, dense: Option<Dense>) -> u64 {
    let mut idx = KnowledgeIndex::open_dir("bench", dir).unwrap();
    if let Some(d) = dense {
        idx.set_embedder(d).unwrap();
    }
    let mut w = idx.writer().unwrap();
    let mut chunks = 0;
    let mut round = 0;
    'fill: loop {
        for (id, text) in articles {
            let key = format!("{id}-{round}");
            let doc = Document {
                key: key.clone(),
                title: key.clone(),
                text: text.clone(),
                markup: Markup::Plain,
                label: None,
            };
            chunks += w
                .put_source(&key, &[doc], FileEntry::default(), ChunkOptions::default())
                .unwrap();
            if chunks >= target {
                break 'fill;
            }
        }
        round += 1;
    }
    w.commit().unwrap();
    w.finish().unwrap();
    chunks as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| -> usize {
        args.get(i).map_or(default, |s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("usage: bench_dense [CHUNKS] [QUERIES]");
                std::process::exit(2)
            })
        })
    };
    let (target, n_queries) = (arg(1, 100_000), arg(2, 300));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/squad_nyt");
    let model_dir = models_dir().join("all-MiniLM-L6-v2");
    for (p, what) in [
        (&data, "the evaluation set"),
        (&model_dir, "the embedding model (scripts/fetch-model.sh)"),
    ] {
        if !p.is_dir() {
            eprintln!("bench_dense: {} is missing: {what}", p.display());
            std::process::exit(2);
        }
    }
    let read = |f: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(data.join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let articles: Vec<(String, String)> = read("corpus.jsonl")
        .iter()
        .map(|a| (field(a, "_id").to_string(), field(a, "text").to_string()))
        .collect();
    let queries: Vec<String> = read("queries.jsonl")
        .iter()
        .take(n_queries.max(1))
        .map(|q| field(q, "text").to_string())
        .collect();

    let model = SentenceEncoder::load("all-minilm-l6-v2", &model_dir, true).unwrap();
    let stand_in = Arc::new(StandIn {
        model,
        querying: AtomicBool::new(false),
    });
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let lexical_chunks = build(&tmp.path().join("lexical"), &articles, target, None);
    let lexical_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let dense = Dense::new(stand_in.clone(), Fusion::default());
    let chunks = build(&tmp.path().join("dense"), &articles, target, Some(dense));
    let dense_build = t.elapsed().as_secs_f64();
    assert_eq!(chunks, lexical_chunks);
    let lexical_size = disk_size(&tmp.path().join("lexical"));
    let dense_size = disk_size(&tmp.path().join("dense"));

    stand_in.querying.store(true, Ordering::Relaxed);
    let mut idx = KnowledgeIndex::open_dir("bench", &tmp.path().join("dense")).unwrap();
    // The first search of each mode loads the vectors and warms the caches.
    // Each mode gets a fresh model handle, so that its queries are embedded
    // anew (the handle keeps the vectors of queries it has seen).
    // With `embedded`, every query is searched once beforehand, so that
    // the handle has its vector and the times are the search's alone.
    let mut times = |mode: Mode, embedded: bool| -> Vec<f64> {
        idx.set_embedder(Dense::new(stand_in.clone(), Fusion::default()))
            .unwrap();
        let opts = SearchOptions {
            limit: 10,
            mode,
            ..Default::default()
        };
        let warm = if embedded {
            &queries[..]
        } else {
            &queries[..1]
        };
        for q in warm {
            idx.search(q, &opts).unwrap();
        }
        let mut ms: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let hits = idx.search(q, &opts).unwrap();
                assert!(!hits.is_empty(), "{mode:?}: nothing for {q:?}");
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let lexical = times(Mode::Lexical, false);
    let dense = times(Mode::Dense, false);
    let hybrid = times(Mode::Hybrid, false);
    let dense_scan = times(Mode::Dense, true);
    let hybrid_search = times(Mode::Hybrid, true);
    let embed: Vec<f64> = {
        let mut ms: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                stand_in.model.embed(&[q.as_str()]).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };

    println!(
        "bench_dense: {chunks} chunks, {} queries, {} threads",
        queries.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  build (stand-in vectors): lexical {lexical_build:.1} s, with vectors {dense_build:.1} s"
    );
    println!(
        "  size on disk: lexical {:.1} MB, with vectors {:.1} MB (x{:.2})",
        lexical_size as f64 / 1e6,
        dense_size as f64 / 1e6,
        dense_size as f64 / lexical_size as f64
    );
    println!("  query ms                   p50     p99   p99 vs lexical");
    for (name, ms) in [
        ("lexical", &lexical),
        ("dense", &dense),
        ("hybrid", &hybrid),
        ("embed only", &embed),
        ("dense, query embedded", &dense_scan),
        ("hybrid, query embedded", &hybrid_search),
    ] {
        println!(
            "  {name:<22} {:>7.2} {:>7.2}   x{:.2}",
            percentile(ms, 0.5),
            percentile(ms, 0.99),
            percentile(ms, 0.99) / percentile(&lexical, 0.99)
        );
    }
}
