//! Index benchmark: ingest throughput (MB/s of text) and search latency
//! (p50/p99) at 100,000 chunks, for lore's index and, as a baseline in the
//! same run, a bare tantivy index of the same text (one field, default
//! tokenizer, no chunking, no manifest).
//!
//! cargo run --example bench_index [CHUNKS] [QUERIES]

use std::time::Instant;

use lore::index::chunk::ChunkOptions;
use lore::index::ingest::{self, AddOptions};
use lore::index::loaders::RowFields;
use lore::index::{KnowledgeIndex, SearchOptions};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Query};
use tantivy::schema::{Schema, STORED, TEXT};
use tantivy::Term;

const SECTIONS_PER_FILE: usize = 50;
const WORDS_PER_SECTION: usize = 150;

/// A deterministic xorshift generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly Zipf-distributed index into a vocabulary of `n` words.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

fn vocabulary(n: usize, rng: &mut Rng) -> Vec<String> {
    const SYL: [&str; 16] = [
        "ka", "to", "ri", "mu", "sen", "dal", "or", "pe", "lin", "qua", "ve", "zor", "ba", "ne",
        "tis", "um",
    ];
    (0..n)
        .map(|_| {
            let len = 1 + (rng.next() % 3) as usize;
            (0..len).map(|_| SYL[(rng.next() % 16) as usize]).collect()
        })
        .collect()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[(((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize).min(v.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let chunks: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let n_queries: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let vocab = vocabulary(20_000, &mut rng);

    let tmp = tempfile::tempdir()?;
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus)?;
    let files = chunks.div_ceil(SECTIONS_PER_FILE);
    let mut sections: Vec<String> = Vec::new();
    let mut total_bytes = 0u64;
    for f in 0..files {
        let mut doc = format!("# Document {f}\n\n");
        for s in 0..SECTIONS_PER_FILE {
            let words: Vec<&str> = (0..WORDS_PER_SECTION)
                .map(|_| vocab[rng.zipf(vocab.len())].as_str())
                .collect();
            let section = format!("## Section {s}\n\n{}.\n\n", words.join(" "));
            sections.push(section.clone());
            doc.push_str(&section);
        }
        total_bytes += doc.len() as u64;
        std::fs::write(corpus.join(format!("doc{f:05}.md")), doc)?;
    }
    let mb = total_bytes as f64 / 1e6;
    println!(
        "corpus: {files} files, {mb:.1} MB, {} sections",
        sections.len()
    );

    // lore
    let opts = AddOptions {
        rows: RowFields::default(),
        prune: false,
        max_file_bytes: u64::MAX,
        chunking: ChunkOptions::default(),
        dense: None,
    };
    let files_list = ingest::expand(std::slice::from_ref(&corpus))?;
    let idx = KnowledgeIndex::open_dir("bench", &tmp.path().join("lore-index"))?;
    let t = Instant::now();
    let summary = ingest::add(&idx, &files_list, &[], &opts, &mut |_, _, _, _| {})?;
    let lore_ingest = t.elapsed().as_secs_f64();
    println!("lore chunks: {}", summary.chunks);

    // Baseline: bare tantivy, one text field.
    let mut sb = Schema::builder();
    let body = sb.add_text_field("body", TEXT | STORED);
    let raw = tantivy::Index::create_in_dir(
        {
            let p = tmp.path().join("raw-index");
            std::fs::create_dir_all(&p)?;
            p
        },
        sb.build(),
    )?;
    let t = Instant::now();
    {
        let mut w = raw.writer_with_num_threads::<tantivy::TantivyDocument>(2, 64_000_000)?;
        for path in &files_list {
            let text = std::fs::read_to_string(path)?;
            for section in text.split("## ").skip(1) {
                w.add_document(tantivy::doc!(body => section))?;
            }
        }
        w.commit()?;
        w.wait_merging_threads()?;
    }
    let raw_ingest = t.elapsed().as_secs_f64();
    let raw_reader = raw.reader()?;

    let queries: Vec<String> = (0..n_queries)
        .map(|_| {
            let n = 2 + (rng.next() % 4) as usize;
            (0..n)
                .map(|_| vocab[rng.zipf(vocab.len())].clone())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let search_opts = SearchOptions {
        limit: 5,
        ..SearchOptions::default()
    };
    let mut lore_ms = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let hits = idx.search(q, &search_opts)?;
        lore_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(hits);
    }
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        let mut build_ms = Vec::new();
        for q in &queries {
            let t = Instant::now();
            std::hint::black_box(idx.build_query(q, &search_opts)?);
            build_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "lore build_query p50 {:.3} ms p99 {:.3} ms; segments {}",
            percentile(&mut build_ms, 50.0),
            percentile(&mut build_ms, 99.0),
            idx.num_segments()
        );
        println!(
            "tantivy segments {}",
            raw_reader.searcher().segment_readers().len()
        );
    }
    let searcher = raw_reader.searcher();
    let mut raw_ms = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let terms: Vec<Term> = q
            .split(' ')
            .map(|w| Term::from_field_text(body, w))
            .collect();
        let query: Box<dyn Query> = Box::new(BooleanQuery::new_multiterms_query(terms));
        let top = searcher.search(&*query, &TopDocs::with_limit(5).order_by_score())?;
        for (_, addr) in &top {
            std::hint::black_box(searcher.doc::<tantivy::TantivyDocument>(*addr)?);
        }
        raw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (lp50, lp99) = (
        percentile(&mut lore_ms, 50.0),
        percentile(&mut lore_ms, 99.0),
    );
    let (rp50, rp99) = (percentile(&mut raw_ms, 50.0), percentile(&mut raw_ms, 99.0));
    println!(
        "{:<10} {:>12} {:>10} {:>10}",
        "", "ingest MB/s", "p50 ms", "p99 ms"
    );
    println!(
        "{:<10} {:>12.1} {:>10.2} {:>10.2}",
        "lore",
        mb / lore_ingest,
        lp50,
        lp99
    );
    println!(
        "{:<10} {:>12.1} {:>10.2} {:>10.2}",
        "tantivy",
        mb / raw_ingest,
        rp50,
        rp99
    );
    println!(
        "ratio lore/tantivy: ingest throughput {:.2}, search p50 {:.2}, p99 {:.2}",
        (mb / lore_ingest) / (mb / raw_ingest),
        lp50 / rp50,
        lp99 / rp99
    );
    Ok(())
}
