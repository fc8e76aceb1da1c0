//! Searching an index: the query built from typed text, the lexical and
//! dense rankings and their fusion, and the hits with their snippets.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, TantivyDocument, Term};

use super::super::analysis::{self, cjk_only};
use super::super::dense::{Dense, Mode};
use super::{Hit, IndexError, KnowledgeIndex, SearchOptions, FUSION_POOL, VEC};

impl KnowledgeIndex {
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
        let mode = self.resolve_mode(opts.mode)?;
        let query = self.build_query(text, opts)?;
        let searcher = self.reader.searcher();
        let limit = opts.limit.max(1);
        let pool = if mode == Mode::Hybrid {
            limit.max(FUSION_POOL)
        } else {
            limit
        };
        // Both rankings as (chunk, score), best first.
        let lexical: Vec<(DocAddress, f32)> = if mode == Mode::Dense {
            Vec::new()
        } else {
            searcher
                .search(&*query, &TopDocs::with_limit(pool).order_by_score())
                .map_err(|e| self.tantivy_err(e))?
                .into_iter()
                .map(|(s, a)| (a, s))
                .collect()
        };
        let (qvec, near): (_, Vec<(DocAddress, f32)>) = match (&self.dense, mode) {
            (Some(d), Mode::Dense | Mode::Hybrid) => {
                let q = self.embed_query(d, text)?;
                let near = d
                    .top(&searcher, VEC, &q, pool)
                    .map_err(|e| self.tantivy_err(e))?
                    .into_iter()
                    .map(|(s, a)| (a, s))
                    .collect();
                (Some(q), near)
            }
            _ => (None, Vec::new()),
        };
        let ranked: Vec<(DocAddress, Option<f32>)> = match mode {
            Mode::Dense => near.iter().map(|(a, _)| (*a, None)).collect(),
            Mode::Hybrid => {
                let f = opts
                    .fusion
                    .or(self.dense.as_ref().map(|d| d.fusion))
                    .unwrap_or_default();
                f.fuse(&lexical, &near)
                    .into_iter()
                    .take(limit)
                    .map(|(a, s)| (a, Some(s)))
                    .collect()
            }
            _ => lexical.iter().map(|(a, _)| (*a, None)).collect(),
        };
        let bm25: HashMap<DocAddress, f32> = lexical.into_iter().collect();
        let cosine: HashMap<DocAddress, f32> = near.into_iter().collect();
        let snippets = if opts.snippet_chars > 0 {
            let mut g = SnippetGenerator::create(&searcher, &*query, self.f.body)
                .map_err(|e| self.tantivy_err(e))?;
            g.set_max_num_chars(opts.snippet_chars);
            Some(g)
        } else {
            None
        };
        let weights = self.query_weights(&searcher, text);
        let mut hits = Vec::with_capacity(ranked.len());
        for (addr, fused) in ranked {
            // Chunks the dense ranking did not reach are scored here.
            let similarity = match (cosine.get(&addr), &self.dense, &qvec) {
                (Some(c), _, _) => Some(*c),
                (None, Some(d), Some(q)) => d
                    .similarity(&searcher, VEC, q, addr)
                    .map_err(|e| self.tantivy_err(e))?,
                _ => None,
            };
            let doc: TantivyDocument = searcher.doc(addr).map_err(|e| self.tantivy_err(e))?;
            let mut hit = self.hit_of(&doc, snippets.as_ref(), opts.snippet_chars, &weights);
            hit.score = bm25.get(&addr).copied().unwrap_or(0.0);
            hit.similarity = similarity;
            hit.fused = fused;
            hits.push(hit);
        }
        Ok(hits)
    }

    /// The query's vector, by the index's model.
    fn embed_query(&self, d: &Dense, text: &str) -> Result<Arc<Vec<f32>>, IndexError> {
        d.query_vector(text)
            .map_err(|message| IndexError::Embedding {
                model: d.embedder.name().to_string(),
                message,
            })
    }

    /// A stored chunk as a hit, scored 0 until the caller scores it.
    fn hit_of(
        &self,
        doc: &TantivyDocument,
        snippets: Option<&SnippetGenerator>,
        snippet_chars: usize,
        weights: &[analysis::Weighted],
    ) -> Hit {
        let text_of = |f: Field| {
            doc.get_first(f)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let num = |f: Field| doc.get_first(f).and_then(|v| v.as_u64()).unwrap_or(0);
        let body = text_of(self.f.body);
        let (snippet, highlights) = match snippets {
            Some(g) => {
                let s = g.snippet(&body);
                if s.fragment().is_empty() {
                    (first_chars(&body, snippet_chars), Vec::new())
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
        let coverage = analysis::coverage(weights, &held.set());
        Hit {
            score: 0.0,
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
            similarity: None,
            fused: None,
        }
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
