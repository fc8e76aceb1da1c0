//! Writing an index: chunks in, with their vectors, and the manifest
//! committed with them.

use std::collections::HashSet;

use tantivy::schema::Term;
use tantivy::{doc, IndexWriter, TantivyDocument};

use super::super::analysis::cjk_only;
use super::super::chunk::{self, ChunkOptions, LineIndex};
use super::super::dense::{self, EmbeddingRecord};
use super::super::loaders::Document;
use super::{
    FileEntry, IndexError, KnowledgeIndex, Manifest, EMBED_BATCH, MANIFEST_COPY, SCHEMA_VERSION,
};

/// The single writer of an index. Changes become visible, with the
/// manifest, at [`Writer::commit`].
pub struct Writer<'a> {
    pub(super) idx: &'a KnowledgeIndex,
    pub(super) writer: IndexWriter,
    pub manifest: Manifest,
    pub(super) pending: usize,
    pub(super) embedded: usize,
    pub(super) embed_time: std::time::Duration,
    /// Chunks waiting for their vectors, with the text the model reads:
    /// embedded many at a time across files (the cores share a batch), and
    /// always before the commit that holds them.
    pub(super) queued: Vec<(TantivyDocument, String)>,
    pub(super) queued_sources: HashSet<String>,
    /// An embedding error met where it could not be returned.
    pub(super) failed: Option<IndexError>,
}

impl Writer<'_> {
    /// Deletes every chunk that came from `source`.
    pub fn delete_source(&mut self, source: &str) {
        if self.queued_sources.contains(source) {
            // A delete removes what was added before it, so what is
            // queued goes in first. Embedding errors surface at commit.
            if let Err(e) = self.flush(&mut |_| {}) {
                self.failed = Some(e);
            }
        }
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
        self.put_source_with(source, docs, entry, chunking, &mut |_| {})
    }

    /// [`Self::put_source`], telling `embedded` how many chunks this
    /// writer has embedded after each batch it embeds (embedding is the
    /// slow part of indexing; chunks wait for a full batch, or the commit).
    pub fn put_source_with(
        &mut self,
        source: &str,
        docs: &[Document],
        entry: FileEntry,
        chunking: ChunkOptions,
        embedded: &mut dyn FnMut(usize),
    ) -> Result<usize, IndexError> {
        self.delete_source(source);
        let f = self.idx.f;
        let mut chunks = Vec::new();
        for d in docs {
            let lines = LineIndex::new(&d.text);
            for (ordinal, c) in chunk::chunk(&d.text, d.markup, chunking)
                .into_iter()
                .enumerate()
            {
                let body = &d.text[c.range.clone()];
                let (l0, l1) = lines.lines(&c.range);
                let headings = c.headings.join(" > ");
                let mut document = doc!(
                    f.source => source,
                    f.key => d.key.as_str(),
                    f.title => d.title.as_str(),
                    f.headings => headings.as_str(),
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
                // What the model reads: the chunk with the title and
                // headings that place it, as a reader would see it.
                let passage = [d.title.as_str(), headings.as_str(), body]
                    .iter()
                    .filter(|t| !t.trim().is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n");
                chunks.push((document, passage));
            }
        }
        let n = chunks.len();
        let vectors = if self.idx.dense.is_some() {
            self.queued.extend(chunks);
            self.queued_sources.insert(source.to_string());
            if self.queued.len() >= EMBED_BATCH {
                self.flush(embedded)?;
            }
            n
        } else {
            for (document, _) in chunks {
                self.writer
                    .add_document(document)
                    .map_err(|e| self.idx.tantivy_err(e))?;
            }
            0
        };
        self.pending += n;
        self.manifest.files.insert(
            source.to_string(),
            FileEntry {
                docs: docs.len(),
                chunks: n,
                vectors,
                ..entry
            },
        );
        Ok(n)
    }

    /// Embeds the queued chunks and adds them to the index; tells
    /// `embedded` how many chunks this writer has embedded after each
    /// batch.
    fn flush(&mut self, embedded: &mut dyn FnMut(usize)) -> Result<(), IndexError> {
        let Some(d) = &self.idx.dense else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let queued = std::mem::take(&mut self.queued);
        self.queued_sources.clear();
        for batch in queued.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let vectors = d
                .embedder
                .embed(&texts)
                .map_err(|message| IndexError::Embedding {
                    model: d.embedder.name().to_string(),
                    message,
                })?;
            if vectors.len() != batch.len() {
                return Err(IndexError::Embedding {
                    model: d.embedder.name().to_string(),
                    message: format!("{} vectors for {} texts", vectors.len(), batch.len()),
                });
            }
            for ((document, _), v) in batch.iter().zip(vectors) {
                let mut document = document.clone();
                document.add_bytes(self.idx.f.vec, dense::encode(&v).as_slice());
                self.writer
                    .add_document(document)
                    .map_err(|e| self.idx.tantivy_err(e))?;
            }
            self.embedded += batch.len();
            embedded(self.embedded);
        }
        self.embed_time += started.elapsed();
        Ok(())
    }

    /// Chunks embedded by this writer, and the time it took.
    pub fn embedded(&self) -> (usize, std::time::Duration) {
        (self.embedded, self.embed_time)
    }

    /// Updates a file's recorded mtime without touching its chunks.
    pub fn touch(&mut self, source: &str, entry: FileEntry) {
        self.manifest.files.insert(source.to_string(), entry);
    }

    /// Commits the changes and the manifest atomically.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.flush(&mut |_| {})?;
        self.manifest.schema_version = SCHEMA_VERSION;
        if let Some(d) = &self.idx.dense {
            if self.manifest.embeddings.is_none() && !self.manifest.files.is_empty() {
                self.manifest.embeddings = Some(EmbeddingRecord::of(&*d.embedder));
            }
        }
        if self.manifest.files.is_empty() {
            // An emptied index may take another model.
            self.manifest.embeddings = None;
        }
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
