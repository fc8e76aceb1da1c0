//! `lore index add|rm|rebuild`: walking paths, detecting changes, loading,
//! chunking and committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::chunk::ChunkOptions;
use super::loaders::{self, RowFields, Skip};
use super::store::{FileEntry, IndexError, KnowledgeIndex, Manifest, SCHEMA_VERSION};

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
        format!(
            "added {}, updated {}, unchanged {}, removed {}, skipped {}; {} chunks, {:.1} MB in {:.2} s ({:.1} MB/s)",
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

/// Expands the arguments of `index add` into files: directories are walked
/// honouring .gitignore (and .ignore), globs are matched.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IngestError> {
    let mut files = Vec::new();
    for p in paths {
        let s = p.to_string_lossy();
        if p.exists() {
            if p.is_dir() {
                walk(p, None, &mut files);
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
            walk(&base, Some((&glob, &base)), &mut files);
            if files.len() == before {
                return Err(IngestError::NotFound(p.clone()));
            }
        } else {
            return Err(IngestError::NotFound(p.clone()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, glob: Option<(&globset::GlobMatcher, &Path)>, out: &mut Vec<PathBuf>) {
    let walker = ignore::WalkBuilder::new(dir)
        // Honour .gitignore outside git repositories too: people index
        // exported folders that carry one.
        .require_git(false)
        .build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        if let Some((g, base)) = glob {
            let rel = if base == Path::new(".") {
                path.strip_prefix("./").unwrap_or(path)
            } else {
                path
            };
            if !g.is_match(rel) {
                continue;
            }
        }
        out.push(absolute(path));
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
    for (i, path) in files.iter().enumerate() {
        let key = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                summary
                    .skipped
                    .push((path.clone(), format!("unreadable: {e}")));
                continue;
            }
        };
        let size = meta.len();
        let mtime = mtime_ns(&meta);
        let previous = writer.manifest.files.get(&key).cloned();
        let same_rows = |p: &FileEntry| p.rows == opts.rows;
        if let Some(p) = &previous {
            if p.size == size && p.mtime_ns == mtime && same_rows(p) {
                summary.unchanged += 1;
                progress(i + 1, files.len(), bytes_done, summary.chunks);
                continue;
            }
        }
        if size > opts.max_file_bytes {
            let skip = Skip::TooLarge {
                limit_mb: opts.max_file_bytes / 1_000_000,
            };
            summary.skipped.push((path.clone(), skip.to_string()));
            continue;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                summary
                    .skipped
                    .push((path.clone(), format!("unreadable: {e}")));
                continue;
            }
        };
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let entry = FileEntry {
            size,
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
                let n = writer.put_source(&key, &docs, entry, opts.chunking)?;
                summary.chunks += n;
                summary.bytes += size;
                bytes_done += size;
                if previous.is_some() {
                    summary.updated += 1;
                } else {
                    summary.added += 1;
                }
            }
            Err(skip) => {
                if previous.is_some() {
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
    writer.finish()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
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

/// The manifest of index `name` whatever its schema version: rebuilds read
/// it from an index this lore can no longer search.
fn any_manifest(root: &Path, name: &str) -> Option<(PathBuf, Manifest)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(name))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").exists())
        .collect();
    dirs.sort();
    let current = KnowledgeIndex::dir_for(root, name);
    dirs.sort_by_key(|d| *d != current);
    let dir = dirs.into_iter().next()?;
    let index = tantivy::Index::open_in_dir(&dir).ok()?;
    let manifest = index
        .load_metas()
        .ok()
        .and_then(|m| m.payload)
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or_default();
    Some((dir, manifest))
}

/// Re-reads every file the index holds into a fresh index of this
/// schema version and swaps it in.
pub fn rebuild(
    root: &Path,
    name: &str,
    opts: &AddOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Summary, IngestError> {
    let Some((_, manifest)) = any_manifest(root, name) else {
        return Err(IndexError::Missing {
            name: name.to_string(),
        }
        .into());
    };
    // Hold the current index's writer lock so no one writes meanwhile.
    let current = KnowledgeIndex::dir_for(root, name);
    let current_idx = if current.join("meta.json").exists() {
        Some(KnowledgeIndex::open_dir(name, &current)?)
    } else {
        None
    };
    let _lock = match &current_idx {
        Some(i) => Some(i.writer()?),
        None => None,
    };
    let tmp = root
        .join(name)
        .join(format!("v{SCHEMA_VERSION}.rebuild-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let fresh = KnowledgeIndex::open_dir(name, &tmp)?;
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
        summary.skipped.extend(s.skipped);
    }
    drop(fresh);
    drop(_lock);
    drop(current_idx);
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
