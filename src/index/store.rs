//! The tantivy index: schema, analyzers, writing and searching chunks.
//!
//! The manifest of indexed files travels in tantivy's commit payload, so
//! the index and the record of what it holds are committed together: a
//! process killed mid-ingest leaves both at the last commit. A copy of it,
//! `manifest.json`, is written next to tantivy's files after every commit:
//! when tantivy's own files are damaged (`meta.json` with the payload
//! among them), that copy still says which files to rebuild the index from.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::directory::error::{LockError, OpenDirectoryError, OpenReadError};
use tantivy::directory::{Directory, DirectoryLock, MmapDirectory, INDEX_WRITER_LOCK};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
    STRING,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyError};

use super::analysis;
use super::chunk::ChunkOptions;
use super::dense::{self, Dense, EmbeddingRecord, Mode};
use super::loaders::{Document, RowFields};

mod search;
mod writer;

pub use writer::Writer;

/// Bumped whenever the schema or analyzers change; an index built with
/// another version must be rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// The copy of the last committed manifest, next to tantivy's files.
pub const MANIFEST_COPY: &str = "manifest.json";

const EN: &str = "lore_en";
const CJK: &str = "lore_cjk";
/// The fast field holding a chunk's embedding vector.
const VEC: &str = "vec";
/// Chunks embedded per call of the model.
const EMBED_BATCH: usize = 64;
/// How deep each ranking goes before fusion: a chunk ranked below this
/// by one retriever still counts when the other ranks it high.
const FUSION_POOL: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index '{name}' does not exist (create it with `lore index add PATH --index {name}`)")]
    Missing { name: String },
    #[error("index '{name}' was built by another version of lore (schema v{found}, this lore uses v{SCHEMA_VERSION}); run `lore index rebuild --index {name}`")]
    Version { name: String, found: u32 },
    #[error("index '{name}' is being written by another lore process; try again when it finishes")]
    Locked { name: String },
    #[error("invalid index name '{name}': use letters, digits, '-', '_' or '.' (not first)")]
    InvalidName { name: String },
    /// tantivy's files are missing or corrupt. `rebuildable` says whether
    /// the list of files the index was built from could still be read.
    #[error("index '{name}' is damaged ({problem}); {}", damaged_remedy(.name, .dir, *.rebuildable))]
    Damaged {
        name: String,
        dir: PathBuf,
        problem: String,
        rebuildable: bool,
    },
    #[error("index '{name}' at {path}: {message}")]
    Tantivy {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("invalid query: {0}")]
    Query(String),
    #[error("index '{name}' has no embedding vectors; add them with `lore index add PATH --index {name} --embeddings`, or search with --mode lexical")]
    NoVectors { name: String },
    #[error("index '{name}' holds vectors of embedding model '{recorded}', not of '{given}'; use that model (index.embedding_model) or rebuild the index with `lore index rebuild --index {name}`")]
    OtherModel {
        name: String,
        recorded: String,
        given: String,
    },
    #[error("embedding model '{model}': {message}")]
    Embedding { model: String, message: String },
}

fn damaged_remedy(name: &str, dir: &Path, rebuildable: bool) -> String {
    if rebuildable {
        format!("rebuild it with `lore index rebuild --index {name}`")
    } else {
        format!(
            "it cannot be rebuilt, as the list of files it was built from is unreadable too: \
             delete {} and add the files again with `lore index add PATH --index {name}`",
            dir.display()
        )
    }
}

/// Index names become directory names: no separators, no hidden or
/// relative directories, nothing a terminal would render oddly.
pub fn check_name(name: &str) -> Result<(), IndexError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(IndexError::InvalidName {
            name: name.escape_debug().to_string(),
        })
    }
}

/// What the index holds, keyed by source file path.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub files: BTreeMap<String, FileEntry>,
    /// The model of the chunks' vectors; none for a lexical-only index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<EmbeddingRecord>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    pub sha256: String,
    pub docs: usize,
    pub chunks: usize,
    /// Row field names used for JSONL/CSV/TSV, kept for rebuilds.
    #[serde(default, skip_serializing_if = "is_default_rows")]
    pub rows: RowFields,
    /// Chunks that have an embedding vector.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vectors: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_default_rows(r: &RowFields) -> bool {
    *r == RowFields::default()
}

#[derive(Clone, Copy)]
struct Fields {
    source: Field,
    key: Field,
    title: Field,
    headings: Field,
    body: Field,
    body_cjk: Field,
    ordinal: Field,
    byte_start: Field,
    byte_end: Field,
    line_start: Field,
    line_end: Field,
    label: Field,
    vec: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str, stored: bool, positions: bool| {
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(if positions {
                    IndexRecordOption::WithFreqsAndPositions
                } else {
                    IndexRecordOption::WithFreqs
                }),
        );
        if stored {
            opts.set_stored()
        } else {
            opts
        }
    };
    let num = || NumericOptions::default().set_stored();
    let fields = Fields {
        source: b.add_text_field("source", STRING | STORED),
        key: b.add_text_field("key", STRING | STORED),
        title: b.add_text_field("title", text(EN, true, false)),
        headings: b.add_text_field("headings", text(EN, true, false)),
        body: b.add_text_field("body", text(EN, true, true)),
        body_cjk: b.add_text_field("body_cjk", text(CJK, false, false)),
        ordinal: b.add_u64_field("ordinal", num()),
        byte_start: b.add_u64_field("byte_start", num()),
        byte_end: b.add_u64_field("byte_end", num()),
        line_start: b.add_u64_field("line_start", num()),
        line_end: b.add_u64_field("line_end", num()),
        label: b.add_text_field("label", STRING | STORED),
        vec: b.add_bytes_field(VEC, FAST),
    };
    (b.build(), fields)
}

/// Registered on every open: tantivy does not store analyzers.
fn register_tokenizers(index: &Index) {
    index.tokenizers().register(EN, analysis::english());
    index.tokenizers().register(CJK, analysis::cjk());
}

/// Search weights. Defaults measured on squad_nyt (`lore eval retrieval`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boosts {
    pub title: f32,
    pub headings: f32,
    pub body: f32,
}

impl Default for Boosts {
    fn default() -> Self {
        Boosts {
            title: 0.25,
            headings: 1.0,
            body: 1.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub limit: usize,
    /// Parse the query with tantivy's query syntax instead of plain words.
    pub syntax: bool,
    pub boosts: Boosts,
    /// Snippet length in characters; 0 for none.
    pub snippet_chars: usize,
    pub mode: Mode,
    /// Hybrid's fusion instead of the index's (evaluations compare them).
    pub fusion: Option<dense::Fusion>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            limit: 10,
            syntax: false,
            boosts: Boosts::default(),
            snippet_chars: 200,
            mode: Mode::Auto,
            fusion: None,
        }
    }
}

/// One retrieved chunk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub score: f32,
    /// Source file path.
    pub path: String,
    /// Document key: the path, or `path#row-id`.
    pub key: String,
    pub title: String,
    /// Heading path, e.g. `Billing > Refunds`.
    pub headings: String,
    pub ordinal: u64,
    pub lines: (u64, u64),
    pub bytes: (u64, u64),
    pub text: String,
    pub snippet: String,
    /// Byte ranges of matched terms inside `snippet`.
    pub highlights: Vec<Range<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The share of the query's idf weight this chunk holds (title,
    /// headings and body): what the not-found rule checks.
    pub coverage: f32,
    /// Cosine similarity of the chunk's vector to the query's, where the
    /// search used vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// The fused score a hybrid search ranked by (`retrieval.fusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused: Option<f32>,
}

impl Hit {
    /// The hit as `lore index search --format json` and `lore serve`
    /// report it: no chunk text, only the snippet.
    pub fn report_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "score": self.score, "coverage": self.coverage, "path": self.path, "key": self.key,
            "title": self.title, "headings": self.headings, "lines": [self.lines.0, self.lines.1],
            "bytes": [self.bytes.0, self.bytes.1], "snippet": self.snippet,
            "highlights": self.highlights.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
            "label": self.label,
        });
        // Present only where the search used vectors, as in the serde form.
        if let Some(s) = self.similarity {
            v["similarity"] = serde_json::json!(s);
        }
        if let Some(f) = self.fused {
            v["fused"] = serde_json::json!(f);
        }
        v
    }
}

/// Counts for `lore index stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub name: String,
    pub path: PathBuf,
    pub files: usize,
    pub documents: usize,
    pub chunks: u64,
    pub text_bytes: u64,
    pub disk_bytes: u64,
    pub schema_version: u32,
    /// The embedding model of the vectors, if the index has any.
    pub embedding_model: Option<String>,
    /// Chunks that have a vector.
    pub vectors: u64,
}

/// A named index on disk.
pub struct KnowledgeIndex {
    pub name: String,
    pub dir: PathBuf,
    index: Index,
    reader: IndexReader,
    f: Fields,
    /// False for in-memory indexes, which keep no manifest copy.
    on_disk: bool,
    /// The embedding model, when loaded: new chunks get vectors, and
    /// searches can use them.
    dense: Option<Dense>,
    /// What [`Mode::Auto`] means for this index (`retrieval.mode`).
    default_mode: Mode,
}

impl KnowledgeIndex {
    /// The directory of index `name` under `root` for this schema version.
    pub fn dir_for(root: &Path, name: &str) -> PathBuf {
        root.join(name).join(format!("v{SCHEMA_VERSION}"))
    }

    /// Opens index `name`, creating it when `create` is set.
    pub fn open(root: &Path, name: &str, create: bool) -> Result<KnowledgeIndex, IndexError> {
        check_name(name)?;
        let dir = Self::dir_for(root, name);
        if !dir.join("meta.json").exists() {
            // Index files without tantivy's meta.json: creating a fresh
            // index over them would silently forget what they held.
            if has_remains(&dir) {
                return Err(damaged(name, &dir, "its meta.json is missing".into()));
            }
            if let Some(found) = other_version(&root.join(name)) {
                return Err(IndexError::Version {
                    name: name.to_string(),
                    found,
                });
            }
            if !create {
                return Err(IndexError::Missing {
                    name: name.to_string(),
                });
            }
        }
        Self::open_dir(name, &dir)
    }

    /// Opens or creates an index in `dir` directly.
    pub fn open_dir(name: &str, dir: &Path) -> Result<KnowledgeIndex, IndexError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(name, dir, &e))?;
        let (schema, _) = schema();
        let mmap = mmap_dir(name, dir)?;
        let index = Index::open_or_create(mmap, schema).map_err(|e| index_error(name, dir, e))?;
        let mut idx = Self::from_index(name, dir, index)?;
        idx.on_disk = true;
        Ok(idx)
    }

    /// Takes the writer lock of the index in `dir` without opening the
    /// index, which may be too damaged to open: rebuilds hold it so that
    /// no one writes meanwhile.
    pub fn lock_dir(name: &str, dir: &Path) -> Result<WriteLock, IndexError> {
        mmap_dir(name, dir)?
            .acquire_lock(&INDEX_WRITER_LOCK)
            .map(WriteLock)
            .map_err(|e| lock_error(name, dir, e))
    }

    /// A throwaway index held in memory, holding `docs` under `source`:
    /// for text that arrives on stdin, labelled examples and evaluation
    /// corpora.
    pub fn in_memory(
        name: &str,
        source: &str,
        docs: &[Document],
        chunking: ChunkOptions,
    ) -> Result<KnowledgeIndex, IndexError> {
        Self::in_memory_with(name, source, docs, chunking, None)
    }

    /// [`Self::in_memory`] with vectors from `dense`'s model.
    pub fn in_memory_with(
        name: &str,
        source: &str,
        docs: &[Document],
        chunking: ChunkOptions,
        dense: Option<Dense>,
    ) -> Result<KnowledgeIndex, IndexError> {
        let (schema, _) = schema();
        let mut idx = Self::from_index(name, Path::new(":memory:"), Index::create_in_ram(schema))?;
        idx.dense = dense;
        let mut w = idx.writer()?;
        w.put_source(source, docs, FileEntry::default(), chunking)?;
        w.commit()?;
        w.finish()?;
        Ok(idx)
    }

    fn from_index(name: &str, dir: &Path, index: Index) -> Result<KnowledgeIndex, IndexError> {
        let (_, f) = schema();
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| index_error(name, dir, e))?;
        Ok(KnowledgeIndex {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            index,
            reader,
            f,
            on_disk: false,
            dense: None,
            default_mode: Mode::Auto,
        })
    }

    fn tantivy_err(&self, e: TantivyError) -> IndexError {
        index_error(&self.name, &self.dir, e)
    }

    fn other_err(&self, message: String) -> IndexError {
        IndexError::Tantivy {
            name: self.name.clone(),
            path: self.dir.clone(),
            message,
        }
    }

    /// The manifest of the last commit.
    pub fn manifest(&self) -> Manifest {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(Manifest {
                schema_version: SCHEMA_VERSION,
                ..Manifest::default()
            })
    }

    /// Loads `dense`'s model into this index: chunks written from now on
    /// get vectors, and searches may use them. Refused when the index
    /// already holds vectors of another model, which a query embedded by
    /// this one could not be compared with.
    pub fn set_embedder(&mut self, dense: Dense) -> Result<(), IndexError> {
        if let Some(rec) = self.manifest().embeddings {
            if rec.fingerprint != dense.embedder.fingerprint() {
                return Err(IndexError::OtherModel {
                    name: self.name.clone(),
                    recorded: rec.model,
                    given: dense.embedder.name().to_string(),
                });
            }
        }
        self.dense = Some(dense);
        Ok(())
    }

    /// Whether the index's embedding model is loaded.
    pub fn has_embedder(&self) -> bool {
        self.dense.is_some()
    }

    /// What a search in [`Mode::Auto`] does here.
    pub fn set_default_mode(&mut self, mode: Mode) {
        self.default_mode = mode;
    }

    /// The mode a search in `mode` runs in here.
    pub fn resolve_mode(&self, mode: Mode) -> Result<Mode, IndexError> {
        // The model is loaded for searching only when the index has
        // vectors (`prepare_search`), and for writing them.
        let has_vectors = self.dense.is_some();
        let mode = if mode == Mode::Auto {
            self.default_mode
        } else {
            mode
        };
        match mode {
            Mode::Auto if has_vectors => Ok(Mode::Hybrid),
            Mode::Auto | Mode::Lexical => Ok(Mode::Lexical),
            m if has_vectors => Ok(m),
            _ => Err(IndexError::NoVectors {
                name: self.name.clone(),
            }),
        }
    }

    /// Takes the single writer lock of this index.
    pub fn writer(&self) -> Result<Writer<'_>, IndexError> {
        let writer = self
            .index
            .writer_with_num_threads(2, 256_000_000)
            .map_err(|e| self.tantivy_err(e))?;
        Ok(Writer {
            idx: self,
            writer,
            manifest: self.manifest(),
            pending: 0,
            embedded: 0,
            embed_time: std::time::Duration::ZERO,
            queued: Vec::new(),
            queued_sources: HashSet::new(),
            failed: None,
        })
    }

    /// Sees the latest commit.
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader.reload().map_err(|e| self.tantivy_err(e))
    }

    pub fn num_segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    pub fn num_chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn stats(&self) -> Stats {
        let manifest = self.manifest();
        let disk_bytes = std::fs::read_dir(&self.dir)
            .map(|it| {
                it.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Stats {
            name: self.name.clone(),
            path: self.dir.clone(),
            files: manifest.files.len(),
            documents: manifest.files.values().map(|f| f.docs).sum(),
            chunks: self.num_chunks(),
            text_bytes: manifest.files.values().map(|f| f.size).sum(),
            disk_bytes,
            schema_version: SCHEMA_VERSION,
            embedding_model: manifest.embeddings.map(|e| e.model),
            vectors: manifest.files.values().map(|f| f.vectors as u64).sum(),
        }
    }
}

/// The writer lock of an index directory, held until dropped.
pub struct WriteLock(#[allow(dead_code)] DirectoryLock);

fn mmap_dir(name: &str, dir: &Path) -> Result<MmapDirectory, IndexError> {
    MmapDirectory::open(dir).map_err(|e| match e {
        OpenDirectoryError::IoError { io_error: e, .. } => io_error(name, dir, &e),
        other => IndexError::Tantivy {
            name: name.to_string(),
            path: dir.to_path_buf(),
            message: other.to_string(),
        },
    })
}

fn io_error(name: &str, dir: &Path, e: &std::io::Error) -> IndexError {
    IndexError::Tantivy {
        name: name.to_string(),
        path: dir.to_path_buf(),
        message: e.to_string(),
    }
}

fn lock_error(name: &str, dir: &Path, e: LockError) -> IndexError {
    match e {
        LockError::LockBusy => IndexError::Locked {
            name: name.to_string(),
        },
        // Not another writer: the lock file cannot be opened for writing,
        // which tantivy needs even to read, typically because this user
        // may not write the directory.
        LockError::IoError(io) => IndexError::Tantivy {
            name: name.to_string(),
            path: dir.to_path_buf(),
            message: format!(
                "cannot lock it: {io}; lore needs write access to the index directory"
            ),
        },
    }
}

fn damaged(name: &str, dir: &Path, problem: String) -> IndexError {
    IndexError::Damaged {
        name: name.to_string(),
        dir: dir.parent().unwrap_or(dir).to_path_buf(),
        problem,
        rebuildable: recorded_manifest(dir).is_some(),
    }
}

/// The typed error for a tantivy failure on index `name` in `dir`:
/// missing or corrupt files are damage, a busy lock is another writer.
fn index_error(name: &str, dir: &Path, e: TantivyError) -> IndexError {
    let e = match e {
        TantivyError::LockFailure(lock, _) => return lock_error(name, dir, lock),
        other => other,
    };
    let problem = match &e {
        TantivyError::OpenReadError(OpenReadError::FileDoesNotExist(p)) => {
            let p = dir.join(p);
            if p.file_name().is_some_and(|f| f == "meta.json") {
                "its meta.json is missing".to_string()
            } else {
                format!("segment file {} is missing", p.display())
            }
        }
        TantivyError::OpenReadError(OpenReadError::IoError { io_error, filepath })
            if matches!(
                io_error.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            // tantivy's footer check on a truncated or overwritten file.
            format!("file {} is corrupt", dir.join(filepath).display())
        }
        TantivyError::OpenReadError(OpenReadError::IoError { io_error, filepath }) => {
            return IndexError::Tantivy {
                name: name.to_string(),
                path: dir.to_path_buf(),
                message: format!("cannot read {}: {io_error}", dir.join(filepath).display()),
            };
        }
        TantivyError::DataCorruption(d) => match corrupt_file(&format!("{d:?}")) {
            Some(f) if f == "meta.json" => "its meta.json cannot be read".to_string(),
            Some(f) => format!("file {} is corrupt", dir.join(f).display()),
            None => "its data is corrupt".to_string(),
        },
        TantivyError::IncompatibleIndex(_)
        | TantivyError::OpenReadError(OpenReadError::IncompatibleIndex(_)) => {
            "its files are not in a format this lore can read".to_string()
        }
        TantivyError::IoError(io) => return io_error(name, dir, io),
        _ => {
            return IndexError::Tantivy {
                name: name.to_string(),
                path: dir.to_path_buf(),
                message: e.to_string(),
            }
        }
    };
    damaged(name, dir, problem)
}

/// The file named in tantivy's `DataCorruption` debug text, which is its
/// only way of telling: ``Data corruption (in file `"NAME"`): ...``.
fn corrupt_file(debug: &str) -> Option<String> {
    let rest = debug.split_once("(in file `\"")?.1;
    let name = rest.split_once("\"`)")?.0;
    Some(name.to_string())
}

/// Whether `dir` holds files of an index (segments, tantivy's list of
/// managed files, the manifest copy) rather than nothing or only locks.
fn has_remains(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|it| {
        it.filter_map(|e| e.ok()).any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with('.') || n == ".managed.json"
        })
    })
}

/// The manifest recorded for the index in `dir`, read without opening it:
/// the last commit's payload in tantivy's meta.json, else the copy next
/// to it. None when neither can be read.
pub fn recorded_manifest(dir: &Path) -> Option<Manifest> {
    let meta: Option<serde_json::Value> = std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let payload = meta.as_ref().and_then(|m| m.get("payload"));
    let from_meta = || serde_json::from_str::<Manifest>(payload?.as_str()?).ok();
    let from_copy = || serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_COPY)).ok()?).ok();
    // A readable meta.json without a payload is an index lore created but
    // never committed to: it holds nothing.
    let never_committed =
        || (meta.is_some() && payload.is_none_or(|p| p.is_null())).then(Manifest::default);
    from_meta().or_else(from_copy).or_else(never_committed)
}

/// The schema version of another `vN` directory under an index, if any.
fn other_version(index_root: &Path) -> Option<u32> {
    std::fs::read_dir(index_root)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: u32 = name.strip_prefix('v')?.parse().ok()?;
            (v != SCHEMA_VERSION && e.path().join("meta.json").exists()).then_some(v)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names() {
        for ok in ["default", "docs", "kb-2", "my_notes", "v1.2", "文档"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "..", ".hidden", "a/b", "a\\b", "../x", "a b", "a\nb", "a:b",
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid index name"), "{bad}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn the_corrupt_file_is_read_from_tantivys_message() {
        let d = tantivy::error::DataCorruption::new("meta.json".into(), "cannot parse".into());
        assert_eq!(
            corrupt_file(&format!("{d:?}")).as_deref(),
            Some("meta.json")
        );
        let d = tantivy::error::DataCorruption::comment_only("bad");
        assert_eq!(corrupt_file(&format!("{d:?}")), None);
    }

    #[test]
    fn the_manifest_copy_is_the_fallback_for_a_damaged_meta_json() {
        let dir = tempfile::tempdir().unwrap();
        let idx = KnowledgeIndex::open_dir("t", dir.path()).unwrap();
        let doc = Document {
            key: "a.md".into(),
            title: "A".into(),
            text: "Refunds take five days.".into(),
            markup: crate::index::chunk::Markup::Plain,
            label: None,
        };
        let mut w = idx.writer().unwrap();
        w.put_source(
            "a.md",
            &[doc],
            FileEntry::default(),
            ChunkOptions::default(),
        )
        .unwrap();
        w.commit().unwrap();
        w.finish().unwrap();
        let recorded = recorded_manifest(dir.path()).unwrap();
        assert!(recorded.files.contains_key("a.md"));
        std::fs::write(dir.path().join("meta.json"), "garbage").unwrap();
        assert_eq!(recorded_manifest(dir.path()), Some(recorded));
        std::fs::remove_file(dir.path().join(MANIFEST_COPY)).unwrap();
        assert_eq!(recorded_manifest(dir.path()), None);
        let Err(IndexError::Damaged { rebuildable, .. }) =
            KnowledgeIndex::open_dir("t", dir.path())
        else {
            panic!("a damaged meta.json is damage");
        };
        assert!(!rebuildable);
    }
}
