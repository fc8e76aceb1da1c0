//! The knowledge index: loaders, chunking, a tantivy store and ingestion.
//! (Retrieval evaluation is in `crate::eval::retrieval`.)

pub mod analysis;
pub mod chunk;
pub mod dense;
pub mod ingest;
pub mod loaders;
pub mod store;

pub use store::{Boosts, Hit, IndexError, KnowledgeIndex, SearchOptions};
