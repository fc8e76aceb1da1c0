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
use tantivy::collector::TopDocs;
use tantivy::directory::error::{LockError, OpenDirectoryError, OpenReadError};
use tantivy::directory::{Directory, DirectoryLock, MmapDirectory, INDEX_WRITER_LOCK};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term,
};

use super::analysis::{self, cjk_only};
use super::chunk::{self, ChunkOptions, LineIndex};
use super::loaders::{Document, RowFields};

/// Bumped whenever the schema or analyzers change; an index built with
/// another version must be rebuilt.
pub const SCHEMA_VERSION: u32 = 1;

/// The copy of the last committed manifest, next to tantivy's files.
pub const MANIFEST_COPY: &str = "manifest.json";

const EN: &str = "lore_en";
const CJK: &str = "lore_cjk";

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
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            limit: 10,
            syntax: false,
            boosts: Boosts::default(),
            snippet_chars: 200,
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
        let (schema, _) = schema();
        let idx = Self::from_index(name, Path::new(":memory:"), Index::create_in_ram(schema))?;
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
                files: BTreeMap::new(),
            })
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
        }
    }

    /// Analyzer terms of `text` for `field`, in order, with positions.
    fn terms(&self, field: Field, text: &str) -> Vec<(usize, String)> {
        let Ok(mut analyzer) = self.index.tokenizer_for_field(field) else {
            return Vec::new();
        };
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.position, t.text.clone()));
        }
        out
    }

    /// Builds the query for text typed by a person: every word of every
    /// field OR-ed, so no input is a syntax error. Only term queries, so
    /// tantivy's block-max WAND pruning applies.
    pub fn build_query(
        &self,
        text: &str,
        opts: &SearchOptions,
    ) -> Result<Box<dyn Query>, IndexError> {
        if opts.syntax {
            let mut parser = QueryParser::for_index(
                &self.index,
                vec![self.f.title, self.f.headings, self.f.body, self.f.body_cjk],
            );
            parser.set_field_boost(self.f.title, opts.boosts.title);
            parser.set_field_boost(self.f.headings, opts.boosts.headings);
            let q = parser
                .parse_query(text)
                .map_err(|e| IndexError::Query(e.to_string()))?;
            return Ok(q);
        }
        let b = opts.boosts;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut add_terms = |field: Field, terms: &[(usize, String)], boost: f32| {
            let mut seen = HashSet::new();
            for (_, t) in terms {
                if boost > 0.0 && seen.insert(t.clone()) {
                    let q = TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    );
                    // BoostQuery hands its factor down to the term scorer,
                    // which keeps tantivy's block-max WAND pruning.
                    clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
                }
            }
        };
        let body_terms = self.terms(self.f.body, text);
        add_terms(self.f.body, &body_terms, b.body);
        add_terms(self.f.title, &self.terms(self.f.title, text), b.title);
        add_terms(
            self.f.headings,
            &self.terms(self.f.headings, text),
            b.headings,
        );
        add_terms(
            self.f.body_cjk,
            &self.terms(self.f.body_cjk, &cjk_only(text)),
            b.body,
        );
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Searches for `text`; the best chunks first.
    pub fn search(&self, text: &str, opts: &SearchOptions) -> Result<Vec<Hit>, IndexError> {
        let query = self.build_query(text, opts)?;
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &*query,
                &TopDocs::with_limit(opts.limit.max(1)).order_by_score(),
            )
            .map_err(|e| self.tantivy_err(e))?;
        let snippets = if opts.snippet_chars > 0 {
            let mut g = SnippetGenerator::create(&searcher, &*query, self.f.body)
                .map_err(|e| self.tantivy_err(e))?;
            g.set_max_num_chars(opts.snippet_chars);
            Some(g)
        } else {
            None
        };
        let weights = self.query_weights(&searcher, text);
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(|e| self.tantivy_err(e))?;
            let text_of = |f: Field| {
                doc.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let num = |f: Field| doc.get_first(f).and_then(|v| v.as_u64()).unwrap_or(0);
            let body = text_of(self.f.body);
            let (snippet, highlights) = match &snippets {
                Some(g) => {
                    let s = g.snippet(&body);
                    if s.fragment().is_empty() {
                        (first_chars(&body, opts.snippet_chars), Vec::new())
                    } else {
                        (s.fragment().to_string(), s.highlighted().to_vec())
                    }
                }
                None => (String::new(), Vec::new()),
            };
            let label = text_of(self.f.label);
            let held = analysis::Terms::of(&format!(
                "{}\n{}\n{body}",
                text_of(self.f.title),
                text_of(self.f.headings)
            ));
            let coverage = analysis::coverage(&weights, &held.set());
            hits.push(Hit {
                score,
                path: text_of(self.f.source),
                key: text_of(self.f.key),
                title: text_of(self.f.title),
                headings: text_of(self.f.headings),
                ordinal: num(self.f.ordinal),
                lines: (num(self.f.line_start), num(self.f.line_end)),
                bytes: (num(self.f.byte_start), num(self.f.byte_end)),
                text: body,
                snippet,
                highlights,
                label: (!label.is_empty()).then_some(label),
                coverage,
            });
        }
        Ok(hits)
    }

    /// The query's terms weighted by their idf in this index (body fields).
    fn query_weights(&self, searcher: &tantivy::Searcher, text: &str) -> Vec<analysis::Weighted> {
        let docs = searcher.num_docs();
        analysis::Terms::of(text)
            .unique()
            .into_iter()
            .filter(|(cjk, term)| !analysis::is_general(*cjk, term))
            .map(|(cjk, term)| {
                let field = if cjk { self.f.body_cjk } else { self.f.body };
                let df = searcher
                    .doc_freq(&Term::from_field_text(field, term))
                    .unwrap_or(0);
                analysis::Weighted {
                    cjk,
                    term: term.to_string(),
                    idf: analysis::idf(df, docs),
                }
            })
            .collect()
    }
}

fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
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

/// The single writer of an index. Changes become visible, with the
/// manifest, at [`Writer::commit`].
pub struct Writer<'a> {
    idx: &'a KnowledgeIndex,
    writer: IndexWriter,
    pub manifest: Manifest,
    pending: usize,
}

impl Writer<'_> {
    /// Deletes every chunk that came from `source`.
    pub fn delete_source(&mut self, source: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.idx.f.source, source));
        self.manifest.files.remove(source);
    }

    /// Replaces the chunks of `source` with those of `docs`; returns the
    /// number of chunks written.
    pub fn put_source(
        &mut self,
        source: &str,
        docs: &[Document],
        entry: FileEntry,
        chunking: ChunkOptions,
    ) -> Result<usize, IndexError> {
        self.delete_source(source);
        let f = self.idx.f;
        let mut chunks = 0;
        for d in docs {
            let lines = LineIndex::new(&d.text);
            for (ordinal, c) in chunk::chunk(&d.text, d.markup, chunking)
                .into_iter()
                .enumerate()
            {
                let body = &d.text[c.range.clone()];
                let (l0, l1) = lines.lines(&c.range);
                let mut document = doc!(
                    f.source => source,
                    f.key => d.key.as_str(),
                    f.title => d.title.as_str(),
                    f.headings => c.headings.join(" > "),
                    f.body => body,
                    f.body_cjk => cjk_only(body),
                    f.ordinal => ordinal as u64,
                    f.byte_start => c.range.start as u64,
                    f.byte_end => c.range.end as u64,
                    f.line_start => l0 as u64,
                    f.line_end => l1 as u64,
                );
                if let Some(label) = &d.label {
                    document.add_text(f.label, label);
                }
                self.writer
                    .add_document(document)
                    .map_err(|e| self.idx.tantivy_err(e))?;
                chunks += 1;
            }
        }
        self.pending += chunks;
        self.manifest.files.insert(
            source.to_string(),
            FileEntry {
                docs: docs.len(),
                chunks,
                ..entry
            },
        );
        Ok(chunks)
    }

    /// Updates a file's recorded mtime without touching its chunks.
    pub fn touch(&mut self, source: &str, entry: FileEntry) {
        self.manifest.files.insert(source.to_string(), entry);
    }

    /// Commits the changes and the manifest atomically.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        self.manifest.schema_version = SCHEMA_VERSION;
        let payload = serde_json::to_string(&self.manifest).map_err(|e| {
            self.idx
                .other_err(format!("cannot record the manifest: {e}"))
        })?;
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(|e| self.idx.tantivy_err(e))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(|e| self.idx.tantivy_err(e))?;
        self.pending = 0;
        if self.idx.on_disk {
            // The copy a rebuild falls back on when meta.json, and the
            // payload in it, cannot be read. If lore dies right here it
            // lags one commit behind: a rebuild from it would miss that
            // commit's changes, which a later `add` brings back.
            let path = self.idx.dir.join(MANIFEST_COPY);
            crate::fs::write_atomic(&path, payload.as_bytes()).map_err(|e| {
                self.idx
                    .other_err(format!("cannot write {}: {e}", path.display()))
            })?;
        }
        self.idx.reload()
    }

    /// Chunks added since the last commit.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Waits for background merges; call before the process exits.
    pub fn finish(self) -> Result<(), IndexError> {
        let idx = self.idx;
        self.writer
            .wait_merging_threads()
            .map_err(|e| idx.tantivy_err(e))
    }
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
            markup: chunk::Markup::Plain,
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
