//! Dense retrieval: one embedding vector per chunk, stored in a tantivy
//! fast field of the chunk's own document (so a commit holds chunks and
//! vectors together, and a crash can never leave them out of step),
//! searched by exact cosine similarity and fused with BM25 by reciprocal
//! rank fusion.
//!
//! The model itself is behind [`Embedder`]; only `crate::engine` knows
//! how to run one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::fastfield::AliveBitSet;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Searcher, SegmentReader};

/// A sentence-embedding model.
pub trait Embedder: Send + Sync {
    /// What the user named: a catalogue name or a directory.
    fn name(&self) -> &str;
    /// Identifies the weights, so that queries are never compared with
    /// vectors another model wrote.
    fn fingerprint(&self) -> &str;
    fn dim(&self) -> usize;
    /// One unit-length vector per text.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}

/// The model an index's vectors came from, kept in its manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingRecord {
    pub model: String,
    pub fingerprint: String,
    pub dim: usize,
}

impl EmbeddingRecord {
    pub fn of(e: &dyn Embedder) -> EmbeddingRecord {
        EmbeddingRecord {
            model: e.name().to_string(),
            fingerprint: e.fingerprint().to_string(),
            dim: e.dim(),
        }
    }
}

/// How a search ranks chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Hybrid where the index has vectors and their model is loaded,
    /// lexical otherwise.
    #[default]
    Auto,
    Lexical,
    Dense,
    Hybrid,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "auto" => Mode::Auto,
            "lexical" => Mode::Lexical,
            "dense" => Mode::Dense,
            "hybrid" => Mode::Hybrid,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Lexical => "lexical",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// How hybrid search merges the two rankings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusionMethod {
    /// Reciprocal rank fusion: each list gives a chunk `weight / (k +
    /// rank)`, ranks from 1; scores are ignored.
    Rrf,
    /// A weighted sum of each list's scores scaled to 0..1 (min-max over
    /// the list); a chunk missing from a list gets 0 from it.
    Convex,
}

impl FusionMethod {
    pub fn parse(s: &str) -> Option<FusionMethod> {
        match s {
            "rrf" => Some(FusionMethod::Rrf),
            "convex" => Some(FusionMethod::Convex),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FusionMethod::Rrf => "rrf",
            FusionMethod::Convex => "convex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub method: FusionMethod,
    /// RRF's k.
    pub k: f32,
    pub lexical: f32,
    pub dense: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        // As config/default.toml, where the choice is measured.
        Fusion {
            method: FusionMethod::Convex,
            k: 60.0,
            lexical: 1.0,
            dense: 0.3,
        }
    }
}

impl Fusion {
    /// Merges the lexical and dense rankings (best first, with scores).
    pub fn fuse<K: Copy + Eq + Hash>(
        &self,
        lexical: &[(K, f32)],
        dense: &[(K, f32)],
    ) -> Vec<(K, f32)> {
        let lists = [(self.lexical, lexical), (self.dense, dense)];
        match self.method {
            FusionMethod::Rrf => {
                let keys: Vec<Vec<K>> = lists
                    .iter()
                    .map(|(_, l)| l.iter().map(|(k, _)| *k).collect())
                    .collect();
                rrf(
                    &[(self.lexical, &keys[0][..]), (self.dense, &keys[1][..])],
                    self.k,
                )
            }
            FusionMethod::Convex => convex(&lists),
        }
    }
}

/// Convex combination of score lists (see [`FusionMethod::Convex`]);
/// ties keep the order in which items first appear.
pub fn convex<K: Copy + Eq + Hash>(lists: &[(f32, &[(K, f32)])]) -> Vec<(K, f32)> {
    let mut scores: HashMap<K, (f32, usize)> = HashMap::new();
    let mut order = 0usize;
    for (weight, list) in lists {
        let (lo, hi) = list.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
        let span = hi - lo;
        for (key, s) in list.iter() {
            // One item, or all equal: each counts in full.
            let scaled = if span > 0.0 { (s - lo) / span } else { 1.0 };
            let e = scores.entry(*key).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            e.0 += weight * scaled;
        }
    }
    let mut out: Vec<(K, f32, usize)> = scores.into_iter().map(|(k, (s, o))| (k, s, o)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(k, s, _)| (k, s)).collect()
}

/// Fuses ranked lists, each with its weight; the best first. Ties keep
/// the order in which items first appear (the earlier list wins).
pub fn rrf<K: Copy + Eq + Hash>(lists: &[(f32, &[K])], k: f32) -> Vec<(K, f32)> {
    let mut scores: HashMap<K, (f32, usize)> = HashMap::new();
    let mut order = 0usize;
    for (weight, list) in lists {
        for (rank, key) in list.iter().enumerate() {
            let e = scores.entry(*key).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            e.0 += weight / (k + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(K, f32, usize)> = scores.into_iter().map(|(k, (s, o))| (k, s, o)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(k, s, _)| (k, s)).collect()
}

/// A vector as stored: its scale as a little-endian f32, then one signed
/// byte per dimension. A quarter of f32's size; for unit vectors the
/// cosine moves by about 1e-3, well below what separates ranks.
pub fn encode(v: &[f32]) -> Vec<u8> {
    let (scale, q) = quantize(v);
    let mut out = Vec::with_capacity(4 + v.len());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend(q.iter().map(|x| *x as u8));
    out
}

/// `v` as bytes in -127..=127 and the scale that turns them back.
fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, q)
}

/// The vectors of one segment, read once from its fast field and kept
/// while the segment lives.
struct SegmentVectors {
    /// Documents that have a vector, ascending.
    docs: Vec<DocId>,
    dim: usize,
    data: Vec<i8>,
    scales: Vec<f32>,
}

impl SegmentVectors {
    fn load(seg: &SegmentReader, field: &str, dim: usize) -> tantivy::Result<SegmentVectors> {
        let mut out = SegmentVectors {
            docs: Vec::new(),
            dim,
            data: Vec::new(),
            scales: Vec::new(),
        };
        let Some(col) = seg.fast_fields().bytes(field)? else {
            return Ok(out);
        };
        // Values are dictionary-encoded: read the dictionary once, in
        // order, then map each document to its entry.
        let mut by_ord: Vec<Option<(f32, Vec<i8>)>> = Vec::with_capacity(col.num_terms());
        let mut stream = col.dictionary().stream()?;
        while stream.advance() {
            let ord = stream.term_ord() as usize;
            if by_ord.len() <= ord {
                by_ord.resize(ord + 1, None);
            }
            by_ord[ord] = decode(stream.key(), dim);
        }
        for doc in 0..seg.max_doc() {
            let Some(ord) = col.term_ords(doc).next() else {
                continue;
            };
            if let Some(Some((scale, v))) = by_ord.get(ord as usize) {
                out.docs.push(doc);
                out.scales.push(*scale);
                out.data.extend_from_slice(v);
            }
        }
        Ok(out)
    }

    fn position(&self, doc: DocId) -> Option<usize> {
        self.docs.binary_search(&doc).ok()
    }

    fn row(&self, i: usize) -> &[i8] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    fn cosine(&self, i: usize, query: &[f32]) -> f32 {
        dot_i8(query, self.row(i)) * self.scales[i]
    }
}

fn decode(bytes: &[u8], dim: usize) -> Option<(f32, Vec<i8>)> {
    if bytes.len() != 4 + dim {
        return None;
    }
    let scale = f32::from_le_bytes(bytes[..4].try_into().ok()?);
    Some((scale, bytes[4..].iter().map(|b| *b as i8).collect()))
}

/// `q · v` for a float query and a byte vector.
pub fn dot_i8(q: &[f32], v: &[i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if q.len() == v.len()
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features (checked just above) and
            // the lengths are equal.
            return unsafe { dot_i8_avx2(q, v) };
        }
    }
    dot_i8_scalar(q, v)
}

fn dot_i8_scalar(q: &[f32], v: &[i8]) -> f32 {
    // Eight partial sums, so that the compiler can vectorise the loop.
    let mut acc = [0f32; 8];
    let chunks = q.len().min(v.len()) / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += q[c * 8 + l] * f32::from(v[c * 8 + l]);
        }
    }
    let tail: f32 = (chunks * 8..q.len().min(v.len()))
        .map(|i| q[i] * f32::from(v[i]))
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_i8_avx2(q: &[f32], v: &[i8]) -> f32 {
    use std::arch::x86_64::*;
    let n = q.len();
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // Sixteen bytes widened to two sets of eight floats.
        let bytes = _mm_loadu_si128(v.as_ptr().add(i) as *const __m128i);
        let lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
        let hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8)));
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q.as_ptr().add(i)), lo, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q.as_ptr().add(i + 8)), hi, acc1);
        i += 16;
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    let mut sum: f32 = lanes.iter().sum();
    while i < n {
        sum += q[i] * f32::from(v[i]);
        i += 1;
    }
    sum
}

/// `a · b` for two byte vectors.
pub fn dot_i8i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if a.len() == b.len() && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above) and the
            // lengths are equal.
            return unsafe { dot_i8i8_avx2(a, b) };
        }
    }
    dot_i8i8_scalar(a, b)
}

fn dot_i8i8_scalar(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len();
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 32 <= n {
        let x = _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i);
        let y = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        // maddubs multiplies unsigned by signed bytes: move a's sign onto
        // b. Both lie in -127..=127, so a pair's sum (at most 2 * 127^2)
        // never saturates 16 bits.
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        i += 32;
    }
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    lanes.iter().sum::<i32>() + dot_i8i8_scalar(&a[i..], &b[i..])
}

/// Below this many vectors one thread scans them all: starting more
/// costs more than it saves.
const PARALLEL_SCAN: usize = 20_000;

/// An index's embedding model and the vectors it has read so far.
pub struct Dense {
    pub embedder: Arc<dyn Embedder>,
    pub fusion: Fusion,
    cache: Mutex<HashMap<SegmentId, Arc<SegmentVectors>>>,
    /// Recent queries' vectors: embedding a query is most of a dense
    /// search's time, and a chat, an agent or an evaluation asks the same
    /// query again (its retries, its modes).
    queries: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

/// Query vectors kept before the cache starts afresh.
const QUERY_CACHE: usize = 20_000;

impl Dense {
    pub fn new(embedder: Arc<dyn Embedder>, fusion: Fusion) -> Dense {
        Dense {
            embedder,
            fusion,
            cache: Mutex::new(HashMap::new()),
            queries: Mutex::new(HashMap::new()),
        }
    }

    /// The vector of query `text`, embedded once.
    pub fn query_vector(&self, text: &str) -> Result<Arc<Vec<f32>>, String> {
        let lock = || {
            let mut g = self.queries.lock().unwrap_or_else(|p| p.into_inner());
            if g.len() >= QUERY_CACHE {
                g.clear();
            }
            g
        };
        if let Some(v) = lock().get(text) {
            return Ok(v.clone());
        }
        let v = self
            .embedder
            .embed(&[text])?
            .pop()
            .ok_or_else(|| "it returned no vector".to_string())?;
        let v = Arc::new(v);
        lock().insert(text.to_string(), v.clone());
        Ok(v)
    }

    /// The vectors of every live segment of `searcher`, loading those not
    /// seen yet and forgetting those merged away.
    fn segments(
        &self,
        searcher: &Searcher,
        field: &str,
    ) -> tantivy::Result<Vec<Arc<SegmentVectors>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        cache.retain(|id, _| live.contains(id));
        let dim = self.embedder.dim();
        searcher
            .segment_readers()
            .iter()
            .map(|seg| {
                if let Some(v) = cache.get(&seg.segment_id()) {
                    return Ok(v.clone());
                }
                let v = Arc::new(SegmentVectors::load(seg, field, dim)?);
                cache.insert(seg.segment_id(), v.clone());
                Ok(v)
            })
            .collect()
    }

    /// The `limit` live chunks most similar to `query` (a unit vector),
    /// by cosine similarity. The query is quantized like the vectors, so
    /// that the scan is integer dot products (a quarter of the float
    /// version's time), and a large index is scanned by several threads
    /// at once: at 100,000 chunks the scan reads 38 MB.
    pub fn top(
        &self,
        searcher: &Searcher,
        field: &str,
        query: &[f32],
        limit: usize,
    ) -> tantivy::Result<Vec<(f32, DocAddress)>> {
        let segments = self.segments(searcher, field)?;
        let total: usize = segments.iter().map(|s| s.docs.len()).sum();
        let threads = if total < PARALLEL_SCAN {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        };
        let parts: Vec<(&SegmentVectors, Option<&AliveBitSet>)> = segments
            .iter()
            .zip(searcher.segment_readers())
            .map(|(v, r)| (v.as_ref(), r.alive_bitset()))
            .collect();
        Ok(scan(&parts, query, limit, threads))
    }

    /// The cosine similarity of one chunk to `query`; None when it has no
    /// vector.
    pub fn similarity(
        &self,
        searcher: &Searcher,
        field: &str,
        query: &[f32],
        addr: DocAddress,
    ) -> tantivy::Result<Option<f32>> {
        let segments = self.segments(searcher, field)?;
        let Some(vectors) = segments.get(addr.segment_ord as usize) else {
            return Ok(None);
        };
        Ok(vectors
            .position(addr.doc_id)
            .map(|i| vectors.cosine(i, query)))
    }
}

/// The `limit` best of `segments`' live vectors for `query`, the scan
/// split across `threads`.
fn scan(
    segments: &[(&SegmentVectors, Option<&AliveBitSet>)],
    query: &[f32],
    limit: usize,
    threads: usize,
) -> Vec<(f32, DocAddress)> {
    let (q_scale, q) = quantize(query);
    let threads = threads.max(1);
    let part = |part: usize| {
        let mut best = TopK::new(limit.max(1));
        for (ord, (vectors, alive)) in segments.iter().enumerate() {
            let n = vectors.docs.len();
            for i in n * part / threads..n * (part + 1) / threads {
                let doc = vectors.docs[i];
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                let dot = dot_i8i8(&q, vectors.row(i)) as f32;
                best.push(
                    dot * q_scale * vectors.scales[i],
                    DocAddress::new(ord as u32, doc),
                );
            }
        }
        best
    };
    if threads == 1 {
        return part(0).into_sorted();
    }
    let parts: Vec<TopK> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|p| s.spawn(move || part(p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut best = TopK::new(limit.max(1));
    for r in parts.into_iter().flat_map(|p| p.heap) {
        best.push(r.0 .0, r.0 .1);
    }
    best.into_sorted()
}

/// The `k` largest scores seen, kept in a bounded min-heap.
struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Scored>>,
}

#[derive(PartialEq)]
struct Scored(f32, DocAddress);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Equal scores: the earlier document ranks higher, so results do
        // not depend on the heap's order.
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
        }
    }

    fn push(&mut self, score: f32, addr: DocAddress) {
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(Scored(score, addr)));
        } else if self
            .heap
            .peek()
            .is_some_and(|min| Scored(score, addr) > min.0)
        {
            self.heap.pop();
            self.heap.push(std::cmp::Reverse(Scored(score, addr)));
        }
    }

    fn into_sorted(self) -> Vec<(f32, DocAddress)> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|s| (s.0, s.1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement_and_keeps_first_seen_order_on_ties() {
        let lexical = ["a", "b", "c"];
        let dense = ["c", "d", "a"];
        let fused = rrf(&[(1.0, &lexical[..]), (1.0, &dense[..])], 60.0);
        let names: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        // a: 1/61 + 1/63, c: 1/63 + 1/61: equal, a seen first.
        assert_eq!(names, ["a", "c", "b", "d"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert!((fused[2].1 - 1.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn rrf_weights_tilt_the_order() {
        let lexical = ["a", "b"];
        let dense = ["b", "a"];
        let fused = rrf(&[(1.0, &lexical[..]), (2.0, &dense[..])], 60.0);
        assert_eq!(fused[0].0, "b");
        let fused = rrf(&[(2.0, &lexical[..]), (1.0, &dense[..])], 60.0);
        assert_eq!(fused[0].0, "a");
        assert!(rrf::<&str>(&[], 60.0).is_empty());
    }

    #[test]
    fn convex_fusion_scales_each_list_and_weighs_it() {
        // BM25 scores and cosines live on different scales: min-max puts
        // both on 0..1 before the weights apply.
        let lexical = [("a", 12.0), ("b", 6.0), ("c", 2.0)];
        let dense = [("c", 0.9), ("b", 0.5), ("d", 0.1)];
        let fused = convex(&[(1.0, &lexical[..]), (0.3, &dense[..])]);
        let score = |k: &str| fused.iter().find(|(x, _)| *x == k).unwrap().1;
        assert!((score("a") - 1.0).abs() < 1e-6);
        assert!((score("b") - (0.4 + 0.3 * 0.5)).abs() < 1e-6);
        assert!((score("c") - 0.3).abs() < 1e-6);
        assert!(score("d").abs() < 1e-6);
        assert_eq!(fused[0].0, "a");
        // Dense weighted up, the chunk both lists rank well wins.
        let f = Fusion {
            dense: 2.0,
            ..Fusion::default()
        };
        let fused = f.fuse(&lexical, &dense);
        assert_eq!(fused[0].0, "c", "{fused:?}");
        // A list of one counts in full; empty lists fuse to nothing.
        assert_eq!(convex(&[(1.0, &[("x", 3.0)][..])]), [("x", 1.0)]);
        assert!(convex::<&str>(&[(1.0, &[][..])]).is_empty());
        let rrf_fused = Fusion {
            method: FusionMethod::Rrf,
            ..Fusion::default()
        }
        .fuse(&lexical, &dense);
        assert_eq!(rrf_fused.len(), 4);
        assert_eq!(FusionMethod::parse("convex"), Some(FusionMethod::Convex));
        assert_eq!(FusionMethod::parse("rrf").unwrap().as_str(), "rrf");
        assert_eq!(FusionMethod::parse("RRF"), None);
    }

    fn unit_vector(rng: &mut crate::testrng::Rng, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| rng.unit() as f32 - 0.5).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn quantized_vectors_keep_the_cosine() {
        let mut rng = crate::testrng::Rng::new(7);
        for _ in 0..50 {
            let (a, b) = (unit_vector(&mut rng, 384), unit_vector(&mut rng, 384));
            let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let (scale, q) = decode(&encode(&b), 384).unwrap();
            let approx = dot_i8(&a, &q) * scale;
            assert!((exact - approx).abs() < 5e-3, "{exact} vs {approx}");
            assert!((dot_i8_scalar(&a, &q) * scale - approx).abs() < 1e-4);
        }
        assert_eq!(decode(&[0; 10], 384), None, "a vector of another size");
        let zero = encode(&[0.0; 8]);
        assert_eq!(decode(&zero, 8).unwrap().1, vec![0i8; 8]);
    }

    #[test]
    fn the_simd_dot_product_matches_the_scalar_one_at_every_length() {
        for n in [0, 1, 7, 15, 16, 17, 31, 33, 384] {
            let q: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let v: Vec<i8> = (0..n).map(|i| ((i * 37) % 255) as i8).collect();
            let want: f32 = q.iter().zip(&v).map(|(a, b)| a * f32::from(*b)).sum();
            assert!((dot_i8(&q, &v) - want).abs() < 1e-2, "n={n}");
            assert!((dot_i8_scalar(&q, &v) - want).abs() < 1e-2, "n={n}");
        }
    }

    #[test]
    fn the_integer_dot_product_matches_the_scalar_one_at_every_length() {
        for n in [0, 1, 31, 32, 33, 64, 100, 384] {
            let a: Vec<i8> = (0..n).map(|i| ((i * 37) % 255) as i8).collect();
            let a: Vec<i8> = a.into_iter().map(|x| x.max(-127)).collect();
            let b: Vec<i8> = (0..n).map(|i| ((i * 11) % 255 - 127) as i8).collect();
            let b: Vec<i8> = b.into_iter().map(|x| x.max(-127)).collect();
            let want: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            assert_eq!(dot_i8i8(&a, &b), want, "n={n}");
            assert_eq!(dot_i8i8_scalar(&a, &b), want, "n={n}");
        }
        let extreme = vec![-127i8; 384];
        assert_eq!(dot_i8i8(&extreme, &extreme), 384 * 127 * 127);
        let (s, q) = quantize(&[0.5, -1.0, 0.25]);
        assert_eq!(q, [64, -127, 32]);
        assert!((s - 1.0 / 127.0).abs() < 1e-7);
    }

    #[test]
    fn the_scan_finds_the_nearest_vectors_on_any_number_of_threads() {
        let mut rng = crate::testrng::Rng::new(11);
        let mut unit = || unit_vector(&mut rng, 64);
        let segment = |vs: &[Vec<f32>]| {
            let mut s = SegmentVectors {
                docs: Vec::new(),
                dim: 64,
                data: Vec::new(),
                scales: Vec::new(),
            };
            for (i, v) in vs.iter().enumerate() {
                let (scale, q) = quantize(v);
                s.docs.push(i as DocId * 2);
                s.scales.push(scale);
                s.data.extend(q);
            }
            s
        };
        let a: Vec<Vec<f32>> = (0..300).map(|_| unit()).collect();
        let b: Vec<Vec<f32>> = (0..200).map(|_| unit()).collect();
        let query = unit();
        let (sa, sb) = (segment(&a), segment(&b));
        let mut exact: Vec<(f32, (u32, u32))> = [(0u32, &a), (1, &b)]
            .iter()
            .flat_map(|(ord, vs)| {
                vs.iter().enumerate().map(|(i, v)| {
                    let cos: f32 = v.iter().zip(&query).map(|(x, y)| x * y).sum();
                    (cos, (*ord, i as u32 * 2))
                })
            })
            .collect();
        exact.sort_by(|x, y| y.0.total_cmp(&x.0));
        let single = scan(&[(&sa, None), (&sb, None)], &query, 10, 1);
        for threads in [2, 3, 7] {
            assert_eq!(
                scan(&[(&sa, None), (&sb, None)], &query, 10, threads),
                single
            );
        }
        assert_eq!(single.len(), 10);
        for ((got, addr), (want, (ord, doc))) in single.iter().zip(&exact) {
            assert!((got - want).abs() < 1e-2, "{got} vs {want}");
            if (got - want).abs() < 1e-3 {
                assert_eq!((addr.segment_ord, addr.doc_id), (*ord, *doc));
            }
        }
        assert!(scan(&[], &query, 10, 2).is_empty());
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut t = TopK::new(3);
        for (i, s) in [0.1, 0.9, 0.5, 0.7, 0.2, 0.9].iter().enumerate() {
            t.push(*s, DocAddress::new(0, i as u32));
        }
        let got: Vec<(f32, u32)> = t
            .into_sorted()
            .iter()
            .map(|(s, a)| (*s, a.doc_id))
            .collect();
        assert_eq!(got, [(0.9, 1), (0.9, 5), (0.7, 3)]);
    }

    #[test]
    fn modes_parse() {
        for m in [Mode::Auto, Mode::Lexical, Mode::Dense, Mode::Hybrid] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("semantic"), None);
    }
}
