//! File helpers shared by everything lore stores: sessions, tickets.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// `yyyymmdd-hhmmss-xxxx` in local time. The suffix keeps two sessions
/// started in the same second (two terminals, or `/new` twice) apart; it
/// mixes the clock's nanoseconds, the process id and a counter through
/// std's randomly keyed hasher.
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = RandomState::new().hash_one((nanos, std::process::id(), n)) & 0xffff;
    format!(
        "{}-{suffix:04x}",
        chrono::Local::now().format("%Y%m%d-%H%M%S")
    )
}

/// Replaces `path` with `bytes` so that no reader ever sees a partial file:
/// the bytes go to a temporary file in the same directory (same file
/// system, so the rename is atomic), are flushed to disk, then renamed over
/// `path`. On any failure the temporary file is removed and `path` is left
/// as it was. The new file gets the usual permissions (0666 less umask).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, 0o666)
}

pub(crate) fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable; not every platform can open a
    // directory, and the data is already safe, so a failure is ignored.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
