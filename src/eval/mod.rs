//! Evaluation as one concept: retrieval, grounded answers (`qa`), support
//! dialogues, classification (`classify`) and the agent (`agent`), each
//! scored by the very task a user runs. One determinism rule holds for
//! all of them: generation is greedy
//! ([`crate::tasks::policy::eval_params`]). Every report prints through
//! [`Report`]: rows for the text table, serde for JSON.

pub mod act;
pub mod agent;
pub mod classify;
pub mod grounding;
pub mod qa;
pub mod retrieval;
pub mod support;

use std::io::Write;

/// A report that prints as an aligned two-column table or as JSON.
pub trait Report: serde::Serialize {
    /// (label, value) rows of the text table, in order.
    fn rows(&self) -> Vec<(String, String)>;
}

/// Writes `report` as text rows (labels padded to `width`) or, when
/// `json` is set, as one JSON object with `extra` fields merged in (the
/// model facts, for example).
pub fn print(
    out: &mut dyn Write,
    report: &dyn ReportValue,
    json: bool,
    width: usize,
    extra: impl FnOnce(serde_json::Value) -> serde_json::Value,
) -> std::io::Result<()> {
    if json {
        let value = extra(report.value()?);
        serde_json::to_writer_pretty(&mut *out, &value)?;
        return writeln!(out);
    }
    for (k, v) in report.table() {
        writeln!(out, "{k:<width$}{v}")?;
    }
    Ok(())
}

/// The object-safe face of [`Report`], for [`print`].
pub trait ReportValue {
    fn value(&self) -> std::io::Result<serde_json::Value>;
    fn table(&self) -> Vec<(String, String)>;
}

impl<R: Report> ReportValue for R {
    fn value(&self) -> std::io::Result<serde_json::Value> {
        serde_json::to_value(self).map_err(std::io::Error::other)
    }
    fn table(&self) -> Vec<(String, String)> {
        self.rows()
    }
}

/// `a / b`, and 0 when there is nothing to divide.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
