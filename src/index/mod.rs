//! The knowledge index: loaders, chunking, a tantivy store, ingestion and
//! retrieval evaluation.

pub mod chunk;
pub mod eval;
pub mod ingest;
pub mod loaders;
pub mod store;

pub use store::{Boosts, Hit, IndexError, KnowledgeIndex, SearchOptions};
