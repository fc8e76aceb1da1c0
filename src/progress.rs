//! How slow work is reported: the CLI draws it on stderr, the TUI and
//! tests stay silent. Its own file so that any layer can report without
//! depending on the composition root.

/// How slow work is shown. Every method has a silent default.
pub trait Progress: Send + Sync {
    /// A line for the user (the CLI prints it on stderr).
    fn note(&self, _message: &str) {}
    /// Work called `what` starts; `total` steps, or 0 when unknown.
    fn start(&self, _what: &str, _total: u64) {}
    /// Work counted in bytes, `total` of them (0 when unknown).
    fn start_bytes(&self, what: &str, total: u64) {
        self.start(what, total)
    }
    fn advance(&self, _done: u64, _total: u64) {}
    fn finish(&self) {}
}

/// Shows nothing: for the TUI and for tests.
pub struct Silent;

impl Progress for Silent {}
