//! `lore index add|rm|rebuild`: walking paths, detecting changes, loading,
//! chunking and committing.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::chunk::ChunkOptions;
use super::loaders::{self, RowFields, Skip};
use super::store::{self, FileEntry, IndexError, KnowledgeIndex, Manifest, SCHEMA_VERSION};

/// Chunks written between intermediate commits of a large run, so memory
/// stays bounded and a crash loses little.
const COMMIT_EVERY_CHUNKS: usize = 50_000;

#[derive(Debug, Clone)]
pub struct AddOptions {
    pub rows: RowFields,
    /// Remove indexed files under the given directories that no longer exist.
    pub prune: bool,
    pub max_file_bytes: u64,
    pub chunking: ChunkOptions,
    /// The embedding model a rebuild gives the fresh index (an `add`
    /// writes vectors when the index it is given has its model loaded).
    pub dense: Option<DenseSpec>,
}

/// What a rebuilt index's embedding model is made from.
#[derive(Clone)]
pub struct DenseSpec {
    pub embedder: std::sync::Arc<dyn super::dense::Embedder>,
    pub fusion: super::dense::Fusion,
}

impl std::fmt::Debug for DenseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseSpec")
            .field("model", &self.embedder.name())
            .finish()
    }
}

impl DenseSpec {
    pub fn build(&self) -> super::dense::Dense {
        super::dense::Dense::new(self.embedder.clone(), self.fusion)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("no such file or directory: {0}")]
    NotFound(PathBuf),
    #[error("invalid glob '{pattern}': {message}")]
    Glob { pattern: String, message: String },
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub skipped: Vec<(PathBuf, String)>,
    pub chunks: usize,
    pub bytes: u64,
    /// Chunks given an embedding vector, and the seconds that took.
    pub embedded: usize,
    pub embed_secs: f64,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Summary {
    /// The one-line summary printed after every run.
    pub fn line(&self) -> String {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, r) in &self.skipped {
            let cat = r.split(':').next().unwrap_or(r);
            *reasons.entry(cat).or_default() += 1;
        }
        let skipped = if reasons.is_empty() {
            "0".to_string()
        } else {
            format!(
                "{} ({})",
                self.skipped.len(),
                reasons
                    .iter()
                    .map(|(r, n)| format!("{n} {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let secs = self.elapsed.as_secs_f64();
        let embedded = if self.embedded > 0 {
            format!(
                "; embedded {} chunks in {:.1} s ({:.1} chunks/s)",
                self.embedded,
                self.embed_secs,
                self.embedded as f64 / self.embed_secs.max(1e-9)
            )
        } else {
            String::new()
        };
        format!(
            "added {}, updated {}, unchanged {}, removed {}, skipped {}; {} chunks, {:.1} MB in {:.2} s ({:.1} MB/s){embedded}",
            self.added,
            self.updated,
            self.unchanged,
            self.removed,
            skipped,
            self.chunks,
            self.bytes as f64 / 1e6,
            secs,
            if secs > 0.0 { self.bytes as f64 / 1e6 / secs } else { 0.0 }
        )
    }
}

/// Progress of a run: (files done, files total, bytes done, chunks done).
pub type ProgressFn<'a> = dyn FnMut(usize, usize, u64, usize) + 'a;

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Absolute form of a path without requiring it to exist.
pub fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// A path found while expanding that cannot be indexed, and why.
pub type Skipped = (PathBuf, String);

/// Expands the arguments of `index add` into files: directories are walked
/// honouring .gitignore (and .ignore), globs are matched.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IngestError> {
    Ok(expand_all(paths)?.0)
}

/// [`expand`], also returning what the walk met but cannot index: broken
/// symbolic links, links that loop back to a parent directory, directories
/// that cannot be read, special files.
pub fn expand_all(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Skipped>), IngestError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        let s = p.to_string_lossy();
        if p.exists() {
            if p.is_dir() {
                walk(p, None, &mut files, &mut skipped);
            } else {
                files.push(absolute(p));
            }
        } else if has_glob(&s) {
            let glob = globset::GlobBuilder::new(&s)
                .literal_separator(true)
                .build()
                .map_err(|e| IngestError::Glob {
                    pattern: s.to_string(),
                    message: e.to_string(),
                })?
                .compile_matcher();
            // Walk from the longest leading part without glob characters.
            let base: PathBuf = p
                .components()
                .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
                .collect();
            let base = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base
            };
            let before = files.len();
            walk(&base, Some((&glob, &base)), &mut files, &mut skipped);
            if files.len() == before {
                return Err(IngestError::NotFound(p.clone()));
            }
        } else {
            return Err(IngestError::NotFound(p.clone()));
        }
    }
    files.sort();
    files.dedup();
    Ok((files, skipped))
}

fn walk(
    dir: &Path,
    glob: Option<(&globset::GlobMatcher, &Path)>,
    out: &mut Vec<PathBuf>,
    skipped: &mut Vec<Skipped>,
) {
    let walker = ignore::WalkBuilder::new(dir)
        // Honour .gitignore outside git repositories too: people index
        // exported folders that carry one.
        .require_git(false)
        // Knowledge folders are often assembled from links; the walker
        // detects links that loop back to a parent and reports them.
        .follow_links(true)
        .build();
    let matches = |path: &Path| match glob {
        Some((g, base)) => {
            let rel = if base == Path::new(".") {
                path.strip_prefix("./").unwrap_or(path)
            } else {
                path
            };
            g.is_match(rel)
        }
        None => true,
    };
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if let Some((path, why)) = walk_problem(&e) {
                    if matches(&path) {
                        skipped.push((link_path(&path), why));
                    }
                }
                continue;
            }
        };
        let Some(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() || !matches(path) {
            continue;
        }
        if kind.is_file() {
            out.push(absolute(path));
        } else {
            skipped.push((link_path(path), NOT_REGULAR.to_string()));
        }
    }
}

const NOT_REGULAR: &str = "not a regular file: a pipe, socket or device";

/// The path (as the walker gives it) and reason for an error met while
/// walking, if it concerns one.
fn walk_problem(e: &ignore::Error) -> Option<Skipped> {
    match e {
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_problem(err)
        }
        ignore::Error::Loop { ancestor, child } => Some((
            child.clone(),
            format!(
                "symbolic link loop: it leads back to {}",
                absolute(ancestor).display()
            ),
        )),
        ignore::Error::WithPath { path, err } => {
            let why = match innermost_io(err) {
                Some(io) if io.kind() == std::io::ErrorKind::NotFound && path.is_symlink() => {
                    "broken symbolic link: its target does not exist".to_string()
                }
                Some(io) => unreadable(io),
                None => format!("unreadable: {err}"),
            };
            Some((path.clone(), why))
        }
        _ => None,
    }
}

/// The absolute path of a link itself, not of what it points to.
fn link_path(p: &Path) -> PathBuf {
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => absolute(dir).join(name),
        (_, Some(name)) => absolute(Path::new(".")).join(name),
        _ => absolute(p),
    }
}

/// The operating system's error under the walker's wrappers, whose own
/// text repeats the path.
fn innermost_io(e: &ignore::Error) -> Option<&std::io::Error> {
    match e {
        ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. }
        | ignore::Error::WithPath { err, .. } => innermost_io(err),
        ignore::Error::Io(io) => {
            let inner = io.get_ref().and_then(|w| w.source());
            Some(inner.and_then(|s| s.downcast_ref()).unwrap_or(io))
        }
        _ => None,
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Adds or updates `files` (already expanded) in the index.
pub fn add(
    idx: &KnowledgeIndex,
    files: &[PathBuf],
    prune_under: &[PathBuf],
    opts: &AddOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let mut writer = idx.writer()?;
    let mut summary = Summary::default();
    let mut bytes_done = 0u64;
    let embedding = idx.has_embedder();
    for (i, path) in files.iter().enumerate() {
        let key = path.display().to_string();
        // A file indexed before its index had vectors is read again to
        // embed it.
        let previous = writer
            .manifest
            .files
            .get(&key)
            .filter(|p| !embedding || p.vectors >= p.chunks)
            .cloned();
        let existed = writer.manifest.files.contains_key(&key);
        let same_rows = |p: &FileEntry| p.rows == opts.rows;
        let (bytes, mtime) = match fetch(path, previous.as_ref(), opts) {
            Fetched::Bytes(bytes, mtime) => (bytes, mtime),
            Fetched::Unchanged => {
                summary.unchanged += 1;
                progress(i + 1, files.len(), bytes_done, summary.chunks);
                continue;
            }
            Fetched::Skip(why) => {
                summary.skipped.push((path.clone(), why));
                continue;
            }
        };
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        // The size of what was read, with the modification time from
        // before reading: a file that changed during the read then no
        // longer matches its entry, and the next run reads it again.
        let entry = FileEntry {
            size: bytes.len() as u64,
            mtime_ns: mtime,
            sha256: sha256.clone(),
            rows: opts.rows.clone(),
            ..FileEntry::default()
        };
        if let Some(p) = &previous {
            if p.sha256 == sha256 && same_rows(p) {
                writer.touch(
                    &key,
                    FileEntry {
                        docs: p.docs,
                        chunks: p.chunks,
                        vectors: p.vectors,
                        ..entry
                    },
                );
                summary.unchanged += 1;
                progress(i + 1, files.len(), bytes_done, summary.chunks);
                continue;
            }
        }
        match loaders::load(path, &bytes, &opts.rows) {
            Ok(docs) => {
                let before = summary.chunks;
                // Embedding blocks at the batches it flushes: the bar moves
                // on then, at the rate chunks are embedded.
                let n = writer.put_source_with(&key, &docs, entry, opts.chunking, &mut |_| {
                    progress(i, files.len(), bytes_done, before)
                })?;
                summary.chunks += n;
                summary.bytes += bytes.len() as u64;
                bytes_done += bytes.len() as u64;
                if existed {
                    summary.updated += 1;
                } else {
                    summary.added += 1;
                }
            }
            Err(skip) => {
                if existed {
                    writer.delete_source(&key);
                    summary.removed += 1;
                }
                summary.skipped.push((path.clone(), skip.to_string()));
            }
        }
        if writer.pending() >= COMMIT_EVERY_CHUNKS {
            writer.commit()?;
        }
        progress(i + 1, files.len(), bytes_done, summary.chunks);
    }
    if opts.prune {
        let gone: Vec<String> = writer
            .manifest
            .files
            .keys()
            .filter(|k| {
                let p = Path::new(k);
                prune_under.iter().any(|d| p.starts_with(d)) && !p.exists()
            })
            .cloned()
            .collect();
        for k in gone {
            writer.delete_source(&k);
            summary.removed += 1;
        }
    }
    writer.commit()?;
    let (embedded, took) = writer.embedded();
    summary.embedded = embedded;
    summary.embed_secs = took.as_secs_f64();
    writer.finish()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// What [`fetch`] found for one file.
enum Fetched {
    /// Its bytes, and its modification time from before they were read.
    Bytes(Vec<u8>, i128),
    /// Same size and modification time as recorded in `previous`.
    Unchanged,
    /// Why it cannot be indexed.
    Skip(String),
}

/// Reads one file unless its size and modification time match its
/// `previous` entry, or it cannot or should not be read.
fn fetch(path: &Path, previous: Option<&FileEntry>, opts: &AddOptions) -> Fetched {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Fetched::Skip(unreadable(&e)),
    };
    // Reading a pipe would wait for a writer forever.
    if !meta.is_file() {
        return Fetched::Skip(NOT_REGULAR.to_string());
    }
    let (size, mtime) = (meta.len(), mtime_ns(&meta));
    if previous.is_some_and(|p| p.size == size && p.mtime_ns == mtime && p.rows == opts.rows) {
        return Fetched::Unchanged;
    }
    let too_large = || {
        let limit_mb = opts.max_file_bytes / 1_000_000;
        Fetched::Skip(Skip::TooLarge { limit_mb }.to_string())
    };
    if size > opts.max_file_bytes {
        return too_large();
    }
    match read_bounded(path, opts.max_file_bytes) {
        Ok(Some(bytes)) => Fetched::Bytes(bytes, mtime),
        Ok(None) => too_large(),
        Err(e) => Fetched::Skip(unreadable(&e)),
    }
}

fn unreadable(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "missing: it was removed before it could be read".to_string()
    } else {
        format!("unreadable: {e}")
    }
}

/// The bytes of `path`, or None when it holds more than `max` bytes: a
/// file growing while it is read stops at the limit like one that was
/// already too large.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Removes indexed files equal to or under each of `paths`; returns the
/// removed file paths.
pub fn remove(idx: &KnowledgeIndex, paths: &[PathBuf]) -> Result<Vec<String>, IngestError> {
    let mut writer = idx.writer()?;
    let targets: Vec<PathBuf> = paths.iter().map(|p| absolute(p)).collect();
    let gone: Vec<String> = writer
        .manifest
        .files
        .keys()
        .filter(|k| targets.iter().any(|t| Path::new(k).starts_with(t)))
        .cloned()
        .collect();
    for k in &gone {
        writer.delete_source(k);
    }
    writer.commit()?;
    writer.finish()?;
    Ok(gone)
}

/// The files a rebuild of index `name` reads: those recorded for the
/// current schema version (in tantivy's commit, else in the manifest copy,
/// so a damaged index can be rebuilt), else for another version this lore
/// can no longer search.
fn rebuild_manifest(root: &Path, name: &str) -> Result<Manifest, IndexError> {
    let current = KnowledgeIndex::dir_for(root, name);
    if let Some(m) = store::recorded_manifest(&current) {
        return Ok(m);
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(root.join(name))
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    // Left-overs of an interrupted rebuild are not a version.
    others.retain(|p| *p != current && p.is_dir() && !p.to_string_lossy().contains(".rebuild-"));
    others.sort();
    if let Some(m) = others.iter().find_map(|d| store::recorded_manifest(d)) {
        return Ok(m);
    }
    // Nothing to rebuild from: opening says what is wrong (missing or
    // damaged beyond repair), or the index holds nothing.
    if current.exists() {
        KnowledgeIndex::open(root, name, false)?;
    }
    if current.exists() || !others.is_empty() {
        return Err(IndexError::Damaged {
            name: name.to_string(),
            dir: root.join(name),
            problem: "its list of files cannot be read".to_string(),
            rebuildable: false,
        });
    }
    Err(IndexError::Missing {
        name: name.to_string(),
    })
}

/// Builds a fresh index in `tmp` from the files of `manifest`.
fn rebuild_into(
    tmp: &Path,
    name: &str,
    manifest: &Manifest,
    opts: &AddOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Summary, IngestError> {
    let mut fresh = KnowledgeIndex::open_dir(name, tmp)?;
    if let Some(spec) = &opts.dense {
        fresh.set_embedder(spec.build())?;
    }
    let mut summary = Summary::default();
    // Files are grouped by their row options so each keeps its own.
    let mut groups: BTreeMap<String, (RowFields, Vec<PathBuf>)> = BTreeMap::new();
    for (path, entry) in &manifest.files {
        let group_key = serde_json::to_string(&entry.rows).unwrap_or_default();
        groups
            .entry(group_key)
            .or_insert_with(|| (entry.rows.clone(), Vec::new()))
            .1
            .push(PathBuf::from(path));
    }
    for (_, (rows, files)) in groups {
        let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) =
            files.into_iter().partition(|p| p.exists());
        for m in missing {
            summary
                .skipped
                .push((m, "missing: the file no longer exists".into()));
        }
        let o = AddOptions {
            rows,
            ..opts.clone()
        };
        let s = add(&fresh, &present, &[], &o, progress)?;
        summary.added += s.added;
        summary.chunks += s.chunks;
        summary.bytes += s.bytes;
        summary.embedded += s.embedded;
        summary.embed_secs += s.embed_secs;
        summary.skipped.extend(s.skipped);
    }
    // An empty manifest adds nothing; commit anyway so the fresh index
    // has its manifest copy like any other.
    if manifest.files.is_empty() {
        let mut w = fresh.writer()?;
        w.commit()?;
        w.finish()?;
    }
    Ok(summary)
}

/// Re-reads every file the index holds into a fresh index of this
/// schema version and swaps it in. Works on a damaged index too, as long
/// as the list of its files can be read.
pub fn rebuild(
    root: &Path,
    name: &str,
    opts: &AddOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Summary, IngestError> {
    store::check_name(name)?;
    let current = KnowledgeIndex::dir_for(root, name);
    // Hold the current index's writer lock so no one writes meanwhile. It
    // needs only the directory, not an index that opens.
    let lock = if current.is_dir() {
        Some(KnowledgeIndex::lock_dir(name, &current)?)
    } else {
        None
    };
    let manifest = rebuild_manifest(root, name)?;
    let tmp = root
        .join(name)
        .join(format!("v{SCHEMA_VERSION}.rebuild-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = rebuild_into(&tmp, name, &manifest, opts, progress);
    drop(lock);
    if built.is_err() {
        // Leave no half-built index behind; the current one is untouched.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let summary = built?;
    let swap = |e: std::io::Error| IndexError::Tantivy {
        name: name.to_string(),
        path: current.clone(),
        message: format!("cannot swap in the rebuilt index: {e}"),
    };
    if current.exists() {
        std::fs::remove_dir_all(&current).map_err(swap)?;
    }
    std::fs::rename(&tmp, &current).map_err(swap)?;
    for entry in std::fs::read_dir(root.join(name)).map_err(swap)?.flatten() {
        if entry.path() != current {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(summary)
}
