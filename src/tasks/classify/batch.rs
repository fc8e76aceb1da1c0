//! Classifying many items: calibration first, several items in flight on
//! a GPU, one retry of a request the engine dropped, and results handed
//! over in input order as they finish.

use std::fmt;
use std::time::Instant;

use futures::StreamExt;

use super::{Classified, Classifier, Item};
use crate::model::ModelError;
use crate::tasks::TaskError;

/// How a batch runs.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Items in flight at once; 0 chooses by device: 1 on a CPU, 4 on a
    /// GPU.
    pub concurrency: u32,
    /// Divide label scores by the model's bias on a content-free text
    /// (see [`Classifier::calibrate`]) before the first item.
    pub calibrate: bool,
}

/// A finished batch.
#[derive(Debug, Clone)]
pub struct BatchSummary {
    /// One result per item, in input order.
    pub results: Vec<Classified>,
    /// Items that were in flight at once.
    pub concurrency: usize,
    /// From the first item to the last result (calibration not included).
    pub seconds: f64,
}

impl BatchSummary {
    /// Throughput of the batch.
    pub fn items_per_s(&self) -> f64 {
        self.results.len() as f64 / self.seconds.max(1e-9)
    }

    /// Items whose text was cut to fit the context.
    pub fn truncated(&self) -> usize {
        self.results.iter().filter(|r| r.truncated).count()
    }
}

/// Why a batch stopped early.
#[derive(Debug)]
pub enum BatchError<E> {
    /// Calibrating or classifying an item failed (after its retry).
    Task(TaskError),
    /// The result callback returned this error.
    Stopped(E),
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Task(e) => e.fmt(f),
            BatchError::Stopped(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Task(e) => Some(e),
            BatchError::Stopped(e) => Some(e),
        }
    }
}

/// Items in flight at once for `requested` (0 is automatic).
///
/// On a CPU, batched requests run several times slower than one at a time
/// in mistral.rs 0.8.1, even with the tiled matmul in `vendor/` (60
/// question_type items, zero-shot, SmolLM2 on 2 cores: 3.45 items/s at 1,
/// 0.42 at 4), so only GPUs get several in flight by default.
fn in_flight(classifier: &Classifier<'_>, requested: u32) -> usize {
    match requested {
        0 if classifier.on_gpu() => 4,
        0 => 1,
        n => n as usize,
    }
}

/// Classifies `items`, calibrating first when `options` ask for it.
///
/// `on_result` gets each result in input order as soon as it and every
/// item before it are done; an error from it stops the batch. `on_retry`
/// is told about an item whose request the engine dropped, just before it
/// is tried again.
pub async fn classify_all<E>(
    classifier: &mut Classifier<'_>,
    items: &[Item],
    options: BatchOptions,
    on_retry: impl Fn(&Item, &str),
    mut on_result: impl FnMut(&Classified) -> Result<(), E>,
) -> Result<BatchSummary, BatchError<E>> {
    if options.calibrate {
        classifier.calibrate().await.map_err(BatchError::Task)?;
    }
    let classifier = &*classifier;
    let concurrency = in_flight(classifier, options.concurrency);
    let started = Instant::now();
    let mut results = Vec::with_capacity(items.len());
    // `buffered` keeps `concurrency` requests in flight (mistral.rs
    // batches them) and yields results in input order.
    let mut stream = futures::stream::iter(items)
        .map(|item| classify_retrying(classifier, item, &on_retry))
        .buffered(concurrency);
    while let Some(result) = stream.next().await {
        let r = result.map_err(BatchError::Task)?;
        on_result(&r).map_err(BatchError::Stopped)?;
        results.push(r);
    }
    Ok(BatchSummary {
        results,
        concurrency,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One item, tried a second time when its request was dropped.
async fn classify_retrying(
    classifier: &Classifier<'_>,
    item: &Item,
    on_retry: &impl Fn(&Item, &str),
) -> Result<Classified, TaskError> {
    match classifier.classify(item).await {
        // mistral.rs 0.8.1 now and then drops a request from a batch
        // ("channel closed unexpectedly"); the engine stays up, so one
        // retry recovers it.
        Err(TaskError::Engine(ModelError::Request(m))) => {
            on_retry(item, &m);
            classifier.classify(item).await
        }
        other => other,
    }
}
