//! The agent's session log: an append-only JSONL file, one item per line,
//! flushed as each is written, so a crash loses at most the line being
//! written. The first line describes the session; the rest are the items
//! the model saw, from which [`read`] rebuilds the conversation. A torn
//! last line is skipped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Item;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub time: String,
    pub root: String,
    pub model: String,
    pub context: usize,
    pub tool_format: String,
    pub mode: String,
    pub lore_version: String,
}

impl Meta {
    /// A new session of `agent`, named by the time and the process id.
    pub fn new(agent: &super::Agent) -> Meta {
        let now = chrono::Utc::now();
        let info = agent.model_info();
        Meta {
            id: format!("{}-{}", now.format("%Y%m%d-%H%M%S"), std::process::id()),
            time: now.to_rfc3339(),
            root: agent.root().path().display().to_string(),
            model: info.name.clone(),
            context: info.context_length,
            tool_format: agent.config().tool_format.as_str().into(),
            mode: agent.policy().mode.as_str().into(),
            lore_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The log of session `id` in `dir`, or the newest for `last`.
pub fn find(dir: &Path, id: &str) -> Result<PathBuf, String> {
    if id == "last" {
        return list(dir)
            .into_iter()
            .next()
            .ok_or_else(|| format!("no agent sessions in {}", dir.display()));
    }
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(format!("bad session id {id:?}"));
    }
    let path = dir.join(format!("{id}.jsonl"));
    if !path.is_file() {
        return Err(format!("no agent session {id} in {}", dir.display()));
    }
    Ok(path)
}

/// The session logs in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| {
            let t = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (t, p)
        })
        .collect();
    logs.sort_by(|a, b| b.cmp(a));
    logs.into_iter().map(|(_, p)| p).collect()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    SessionMeta(Meta),
    Item { item: Item },
}

pub struct Writer {
    file: File,
    path: PathBuf,
}

impl Writer {
    /// Creates `dir/ID.jsonl` with its meta line.
    pub fn create(dir: &Path, meta: &Meta) -> std::io::Result<Writer> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.jsonl", meta.id));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        let mut w = Writer { file, path };
        w.line(&Line::SessionMeta(meta.clone()))?;
        Ok(w)
    }

    /// Appends to an existing log (a resumed session).
    pub fn append(path: &Path) -> std::io::Result<Writer> {
        // A torn last line would glue onto the next item: cut it off.
        let text = std::fs::read(path)?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(whole as u64)?;
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Writer {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn item(&mut self, item: &Item) -> std::io::Result<()> {
        self.line(&Line::Item { item: item.clone() })
    }

    fn line(&mut self, line: &Line) -> std::io::Result<()> {
        let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

/// The meta line and items of a log. Lines that do not parse are skipped
/// only at the end (a torn write); elsewhere they are an error.
pub(crate) fn read(path: &Path) -> Result<(Meta, Vec<Item>), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut meta = None;
    let mut items = Vec::new();
    let last = lines.len().saturating_sub(1);
    for (i, text) in lines.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(text) {
            Ok(Line::SessionMeta(m)) => meta = Some(m),
            Ok(Line::Item { item }) => items.push(item),
            Err(_) if i == last => {}
            Err(e) => return Err(format!("{}: line {}: {e}", path.display(), i + 1)),
        }
    }
    let meta = meta.ok_or_else(|| format!("{}: not an agent session log", path.display()))?;
    Ok((meta, items))
}
