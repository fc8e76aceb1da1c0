//! Saved chat conversations: one JSON file per session in a directory.
//!
//! The TUI saves after every exchange, so a crash or a killed terminal loses
//! at most the reply in flight. Every write goes to a temporary file in the
//! same directory and is renamed over the old one: a reader (or a second
//! `lore chat`) sees the previous version or the new one, never half of one.
//!
//! The file name is the session's identity: `<id>.json`. Ids are local
//! timestamps plus four hex digits, so they sort by creation time and a
//! short prefix of one is usually enough to name it on the command line.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::write_atomic_mode;
pub use crate::fs::{new_id, write_atomic};
use crate::grounding::Passage;
use crate::model::Role;

/// Longest derived title, in characters, so a title fits a list line.
const TITLE_CHARS: usize = 60;

/// Candidates named in an ambiguity error before "and N more".
const SHOWN_CANDIDATES: usize = 5;

/// Ids this long or longer are refused: no real id comes close, and a file
/// name must stay under the file system's limit.
const MAX_ID_LEN: usize = 128;

/// One saved conversation.
///
/// Every field but `messages` may be missing from a file (it then takes its
/// empty value), so a hand-written or older file still loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `yyyymmdd-hhmmss-xxxx` for sessions lore creates. On load it is
    /// replaced by the file's name, which is what `load` and `remove` match.
    #[serde(default)]
    pub id: String,
    /// Empty until `/save NAME` names it or [`Store::save`] derives one from
    /// the first user message.
    #[serde(default)]
    pub title: String,
    /// RFC 3339, local time with its offset.
    #[serde(default)]
    pub created: String,
    /// RFC 3339; set by every [`Store::save`]. Lists sort on it.
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub model: String,
    /// "chat", "ask" or "support".
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub index: String,
    /// The system prompt the conversation ran with.
    #[serde(default)]
    pub system: String,
    pub messages: Vec<SessionMessage>,
}

/// One turn of a saved conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMessage {
    pub role: Role,
    pub content: String,
    /// Passages an assistant reply was grounded in.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "stored_sources"
    )]
    pub sources: Vec<Passage>,
    /// A reply stopped before it finished (it is kept, but the model never
    /// sees it again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ReplyStats>,
}

impl SessionMessage {
    /// A plain message: no sources, not cancelled, no stats.
    pub fn new(role: Role, content: impl Into<String>) -> SessionMessage {
        SessionMessage {
            role,
            content: content.into(),
            sources: Vec::new(),
            cancelled: false,
            stats: None,
        }
    }
}

/// How a passage is written into a session file: the fields files have
/// always had, plus the score and text when there are any, so that files
/// of passages without them read and write back unchanged.
#[derive(Serialize)]
struct StoredSource<'a> {
    n: usize,
    path: &'a str,
    lines: (u64, u64),
    heading: &'a str,
    snippet: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    score: f32,
    #[serde(skip_serializing_if = "str::is_empty")]
    text: &'a str,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

fn stored_sources<S: serde::Serializer>(sources: &[Passage], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(sources.iter().map(|p| StoredSource {
        n: p.n,
        path: &p.path,
        lines: p.lines,
        heading: &p.heading,
        snippet: &p.snippet,
        score: p.score,
        text: &p.text,
    }))
}

/// Speed and size of one reply, as the status bar showed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyStats {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub time_to_first_token_s: f64,
    pub tokens_per_s: f64,
}

/// What a list of sessions shows, without the messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    /// The saved title, or the derived one for a session saved without.
    pub title: String,
    pub updated: String,
    pub messages: usize,
    pub model: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid session id '{id}': ids have only letters, digits and '-'; `lore sessions list` shows them")]
    InvalidId { id: String },
    #[error("no saved session '{id}' in {}; `lore sessions list` shows the saved ones", .dir.display())]
    NotFound { id: String, dir: PathBuf },
    #[error("session id '{id}' is ambiguous: it matches {}; give more of it", name_ids(.candidates))]
    Ambiguous { id: String, candidates: Vec<String> },
    #[error("cannot read session file {}: {cause}", .path.display())]
    Read { path: PathBuf, cause: io::Error },
    #[error("session file {} is damaged ({message}); move it away or delete it", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write session file {}: {cause}", .path.display())]
    Write { path: PathBuf, cause: io::Error },
    #[error("cannot delete session file {}: {cause}", .path.display())]
    Remove { path: PathBuf, cause: io::Error },
    #[error("cannot read the sessions directory {}: {cause}", .dir.display())]
    List { dir: PathBuf, cause: io::Error },
}

impl SessionError {
    /// Whether the input is at fault (exit 2): a session named wrongly, or
    /// a file that is not a session (torn, hand-edited, not JSON), as
    /// opposed to the disk failing (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SessionError::InvalidId { .. }
                | SessionError::NotFound { .. }
                | SessionError::Ambiguous { .. }
                | SessionError::Corrupt { .. }
        )
    }

    /// Why a file was skipped, without its path (the caller names it).
    fn reason(&self) -> String {
        match self {
            SessionError::Read { cause, .. } => cause.to_string(),
            SessionError::Corrupt { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

fn name_ids(ids: &[String]) -> String {
    let shown = ids
        .iter()
        .take(SHOWN_CANDIDATES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match ids.len().saturating_sub(SHOWN_CANDIDATES) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The directory of saved sessions. Cheap to clone; nothing is read or
/// created until a method needs it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A session with a fresh id and `created` set to now. Nothing is
    /// written until [`Store::save`], so an empty chat leaves no file.
    pub fn new_session(&self, model: &str, mode: &str, index: &str, system: &str) -> Session {
        let now = now_rfc3339();
        Session {
            id: new_id(),
            title: String::new(),
            created: now.clone(),
            updated: now,
            model: model.to_string(),
            mode: mode.to_string(),
            index: index.to_string(),
            system: system.to_string(),
            messages: Vec::new(),
        }
    }

    /// Writes `s` as `<id>.json`, replacing any earlier version atomically.
    /// Sets `updated` to now, `created` when it is empty, and the title from
    /// the first user message when it is empty. The file is readable by its
    /// owner only, as conversations may hold private text.
    pub fn save(&self, s: &mut Session) -> Result<(), SessionError> {
        validate_id(&s.id)?;
        let now = now_rfc3339();
        if s.created.is_empty() {
            s.created = now.clone();
        }
        s.updated = now;
        if s.title.is_empty() {
            s.title = derived_title(&s.messages);
        }
        let path = self.path_for(&s.id);
        let write_err = |cause| SessionError::Write {
            path: path.clone(),
            cause,
        };
        std::fs::create_dir_all(&self.dir).map_err(write_err)?;
        let mut json = serde_json::to_vec_pretty(s).map_err(|e| write_err(e.into()))?;
        json.push(b'\n');
        write_atomic_mode(&path, &json, 0o600).map_err(write_err)
    }

    /// The session with id `id`, or the only one whose id starts with it.
    pub fn load(&self, id: &str) -> Result<Session, SessionError> {
        let (_, path) = self.resolve(id)?;
        read_session(&path)
    }

    /// Every readable session, newest `updated` first; see
    /// [`Store::list_with_warnings`] for the files left out.
    pub fn list(&self) -> Result<Vec<Summary>, SessionError> {
        self.list_with_warnings().map(|(list, _)| list)
    }

    /// Like [`Store::list`], plus one "PATH: reason" line per file that was
    /// skipped because it could not be read or parsed. A missing directory
    /// is an empty list: nothing has been saved yet.
    pub fn list_with_warnings(&self) -> Result<(Vec<Summary>, Vec<String>), SessionError> {
        let mut found = Vec::new();
        let mut warnings = Vec::new();
        for path in self.json_files()? {
            let stem = file_stem(&path);
            if validate_id(&stem).is_err() {
                warnings.push(format!(
                    "{}: the file name is not a session id (letters, digits and '-')",
                    path.display()
                ));
                continue;
            }
            match read_session(&path) {
                Ok(s) => found.push(s),
                Err(e) => warnings.push(format!("{}: {}", path.display(), e.reason())),
            }
        }
        // RFC 3339 strings with different offsets do not sort as text, so
        // compare instants; unparseable times go last.
        found.sort_by(|a, b| {
            let time = |s: &Session| chrono::DateTime::parse_from_rfc3339(&s.updated).ok();
            time(b)
                .cmp(&time(a))
                .then_with(|| b.updated.cmp(&a.updated))
                .then_with(|| b.id.cmp(&a.id))
        });
        let list = found
            .into_iter()
            .map(|s| Summary {
                title: if s.title.is_empty() {
                    derived_title(&s.messages)
                } else {
                    s.title
                },
                messages: s.messages.len(),
                id: s.id,
                updated: s.updated,
                model: s.model,
            })
            .collect();
        Ok((list, warnings))
    }

    /// The most recently updated session, for `lore chat --continue`.
    pub fn latest(&self) -> Result<Option<Session>, SessionError> {
        match self.list()?.first() {
            Some(summary) => self.load(&summary.id).map(Some),
            None => Ok(None),
        }
    }

    /// Deletes the session `id` names (as [`Store::load`] resolves it) and
    /// returns its full id.
    pub fn remove(&self, id: &str) -> Result<String, SessionError> {
        let (full, path) = self.resolve(id)?;
        std::fs::remove_file(&path).map_err(|cause| SessionError::Remove { path, cause })?;
        Ok(full)
    }

    fn path_for(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The full id and file of `id`: an exact match wins over prefixes, so
    /// a complete id is never ambiguous.
    fn resolve(&self, id: &str) -> Result<(String, PathBuf), SessionError> {
        validate_id(id)?;
        let exact = self.path_for(id);
        if exact.is_file() {
            return Ok((id.to_string(), exact));
        }
        let mut matches: Vec<String> = self
            .json_files()?
            .iter()
            .map(|p| file_stem(p))
            .filter(|stem| stem.starts_with(id) && validate_id(stem).is_ok())
            .collect();
        matches.sort();
        match matches.len() {
            0 => Err(SessionError::NotFound {
                id: id.to_string(),
                dir: self.dir.clone(),
            }),
            1 => {
                let full = matches.remove(0);
                let path = self.path_for(&full);
                Ok((full, path))
            }
            _ => Err(SessionError::Ambiguous {
                id: id.to_string(),
                candidates: matches,
            }),
        }
    }

    /// `*.json` files in the directory, hidden ones (temporary files of a
    /// save in progress) excluded.
    fn json_files(&self) -> Result<Vec<PathBuf>, SessionError> {
        let list_err = |cause| SessionError::List {
            dir: self.dir.clone(),
            cause,
        };
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(list_err(e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(list_err)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") && !name.starts_with('.') && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Accepts only what [`new_id`] produces and what people type for it, so
/// an id can never name a path outside the sessions directory.
fn validate_id(id: &str) -> Result<(), SessionError> {
    let ok = !id.is_empty()
        && id.len() < MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SessionError::InvalidId { id: id.to_string() })
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_session(path: &Path) -> Result<Session, SessionError> {
    let bytes = std::fs::read(path).map_err(|cause| SessionError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    // Bytes, not a String: invalid UTF-8 is a damaged file (serde_json says
    // where), not a failing disk.
    let mut session: Session =
        serde_json::from_slice(&bytes).map_err(|e| SessionError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    session.id = file_stem(path);
    Ok(session)
}

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The first non-blank line of the first user message, cut to
/// [`TITLE_CHARS`] characters (the last one an ellipsis when cut).
fn derived_title(messages: &[SessionMessage]) -> String {
    let Some(line) = messages
        .iter()
        .filter(|m| m.role == Role::User)
        .find_map(|m| m.content.lines().map(str::trim).find(|l| !l.is_empty()))
    else {
        return String::new();
    };
    if line.chars().count() <= TITLE_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(TITLE_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The conversation as a Markdown document: a title, the metadata as a
/// list, then one section per message. The system prompt comes first, as
/// the model saw it.
pub fn export_markdown(s: &Session) -> String {
    let title = if !s.title.is_empty() {
        s.title.clone()
    } else {
        Some(derived_title(&s.messages))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Untitled conversation".to_string())
    };
    let mut meta = vec![format!("- id: {}", s.id)];
    for (key, value) in [
        ("model", &s.model),
        ("mode", &s.mode),
        ("index", &s.index),
        ("created", &s.created),
        ("updated", &s.updated),
    ] {
        if !value.is_empty() {
            meta.push(format!("- {key}: {value}"));
        }
    }
    let mut blocks = vec![format!("# {title}"), meta.join("\n")];
    let has_system_message = s.messages.iter().any(|m| m.role == Role::System);
    if !s.system.trim().is_empty() && !has_system_message {
        blocks.push("## System".to_string());
        blocks.push(s.system.trim_end().to_string());
    }
    for m in &s.messages {
        blocks.push(
            match m.role {
                Role::User => "## You",
                Role::Assistant => "## lore",
                Role::System => "## System",
                Role::Tool => "## Tool",
            }
            .to_string(),
        );
        let content = m.content.trim_end();
        if !content.is_empty() {
            blocks.push(content.to_string());
        }
        if m.cancelled {
            blocks.push("*(cancelled)*".to_string());
        }
        if !m.sources.is_empty() {
            blocks.push("Sources:".to_string());
            let list: Vec<String> = m
                .sources
                .iter()
                .map(|r| {
                    let heading = if r.heading.is_empty() {
                        String::new()
                    } else {
                        format!(" > {}", r.heading)
                    };
                    format!(
                        "- [{}] {}:L{}-L{}{heading}",
                        r.n, r.path, r.lines.0, r.lines.1
                    )
                })
                .collect();
            blocks.push(list.join("\n"));
        }
    }
    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("sessions"));
        (dir, store)
    }

    fn saved(store: &Store, id: &str, updated: &str) {
        let mut s = Session {
            id: id.to_string(),
            updated: updated.to_string(),
            messages: vec![SessionMessage::new(Role::User, id)],
            ..Session::default()
        };
        // Bypass `save` so `updated` keeps the value under test.
        std::fs::create_dir_all(store.dir()).unwrap();
        s.title = id.to_string();
        std::fs::write(
            store.path_for(id),
            serde_json::to_string(&s).unwrap().as_bytes(),
        )
        .unwrap();
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn new_ids_are_timestamped_distinct_and_valid() {
        let (_tmp, store) = store();
        let a = store.new_session("m", "chat", "default", "").id;
        let b = store.new_session("m", "chat", "default", "").id;
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261123-205612-3fa2".len(), "{a}");
        assert!(validate_id(&a).is_ok());
        assert!(a[..8].bytes().all(|c| c.is_ascii_digit()), "{a}");
        assert!(!store.dir().exists(), "new_session must not touch the disk");
    }

    #[test]
    fn save_then_load_round_trips_every_field() {
        let (_tmp, store) = store();
        let mut s = store.new_session("model.gguf", "ask", "docs", "Be brief.");
        s.messages
            .push(SessionMessage::new(Role::User, "How do I reset?"));
        s.messages.push(SessionMessage {
            role: Role::Assistant,
            content: "Hold the button [1].".into(),
            sources: vec![Passage {
                n: 1,
                path: "/kb/reset.md".into(),
                lines: (3, 9),
                heading: "Reset".into(),
                snippet: "Hold it".into(),
                score: 0.0,
                text: String::new(),
                highlights: Vec::new(),
            }],
            cancelled: true,
            stats: Some(ReplyStats {
                prompt_tokens: 10,
                completion_tokens: 5,
                time_to_first_token_s: 0.5,
                tokens_per_s: 30.0,
            }),
        });
        store.save(&mut s).unwrap();
        let back = store.load(&s.id).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.title, "How do I reset?");
        assert!(chrono::DateTime::parse_from_rfc3339(&back.updated).is_ok());
    }

    #[test]
    fn optional_message_fields_are_left_out_of_the_file() {
        let (_tmp, store) = store();
        let mut s = store.new_session("m", "chat", "", "");
        s.messages.push(SessionMessage::new(Role::User, "hi"));
        store.save(&mut s).unwrap();
        let text = std::fs::read_to_string(store.path_for(&s.id)).unwrap();
        assert!(
            !text.contains("sources") && !text.contains("cancelled"),
            "{text}"
        );
        assert!(!text.contains("stats"), "{text}");
        assert!(text.contains("\"role\": \"user\""), "{text}");
    }

    #[test]
    fn a_unique_prefix_loads_and_an_ambiguous_one_lists_candidates() {
        let (_tmp, store) = store();
        saved(&store, "20261123-100000-aaaa", "2026-11-23T10:00:00+00:00");
        saved(&store, "20261123-100000-aabb", "2026-11-23T10:00:00+00:00");
        saved(&store, "20261124-090000-cccc", "2026-11-24T09:00:00+00:00");
        assert_eq!(store.load("20261124").unwrap().id, "20261124-090000-cccc");
        assert_eq!(
            store.load("20261123-100000-aab").unwrap().id,
            "20261123-100000-aabb"
        );
        let err = store.load("20261123").unwrap_err();
        assert!(err.is_usage());
        let text = err.to_string();
        assert!(text.contains("ambiguous"), "{text}");
        assert!(
            text.contains("20261123-100000-aaaa") && text.contains("20261123-100000-aabb"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn an_exact_id_wins_over_longer_ids_it_prefixes() {
        let (_tmp, store) = store();
        saved(&store, "abc", "2026-11-23T10:00:00+00:00");
        saved(&store, "abcd", "2026-11-23T10:00:00+00:00");
        assert_eq!(store.load("abc").unwrap().id, "abc");
    }

    #[test]
    fn a_missing_id_is_not_found_and_names_the_list_command() {
        let (_tmp, store) = store();
        let err = store.load("2026").unwrap_err();
        assert!(matches!(err, SessionError::NotFound { .. }));
        let text = err.to_string();
        assert!(
            text.contains("'2026'") && text.contains("lore sessions list"),
            "{text}"
        );
        saved(&store, "20261123-100000-aaaa", "2026-11-23T10:00:00+00:00");
        assert!(matches!(
            store.remove("1999").unwrap_err(),
            SessionError::NotFound { .. }
        ));
    }

    #[test]
    fn ids_that_could_leave_the_directory_are_rejected() {
        let (_tmp, store) = store();
        for bad in ["../etc/passwd", "a/b", "", ".", "..", "a.json", "a b", "é"] {
            let err = store.load(bad).unwrap_err();
            assert!(
                matches!(err, SessionError::InvalidId { .. }),
                "{bad}: {err}"
            );
            assert!(err.is_usage());
            assert!(matches!(
                store.remove(bad).unwrap_err(),
                SessionError::InvalidId { .. }
            ));
        }
        let mut s = Session {
            id: "../escape".into(),
            ..Session::default()
        };
        assert!(matches!(
            store.save(&mut s).unwrap_err(),
            SessionError::InvalidId { .. }
        ));
        assert!(!store.dir().exists());
    }

    #[test]
    fn list_is_newest_first_and_skips_damaged_files_with_a_warning() {
        let (_tmp, store) = store();
        assert!(store.list().unwrap().is_empty(), "a missing dir is empty");
        saved(&store, "old", "2026-11-23T10:00:00+00:00");
        // As text these sort the other way round.
        saved(&store, "new", "2026-11-23T09:30:00-02:00");
        saved(&store, "mid", "2026-11-23T10:30:00+01:00");
        std::fs::write(store.dir().join("broken.json"), "{ not json").unwrap();
        std::fs::write(store.dir().join("notes.txt"), "ignored").unwrap();
        std::fs::write(store.dir().join(".x.tmp"), "in progress").unwrap();
        let (list, warnings) = store.list_with_warnings().unwrap();
        let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["new", "old", "mid"]);
        assert_eq!(list[0].messages, 1);
        assert_eq!(list[0].title, "new");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("broken.json"), "{warnings:?}");
        assert_eq!(store.list().unwrap().len(), 3);
        assert_eq!(store.latest().unwrap().unwrap().id, "new");
        let err = store.load("broken").unwrap_err();
        assert!(matches!(err, SessionError::Corrupt { .. }) && err.is_usage());
    }

    #[test]
    fn latest_of_nothing_is_none() {
        let (_tmp, store) = store();
        assert!(store.latest().unwrap().is_none());
    }

    #[test]
    fn save_leaves_only_the_session_file() {
        let (_tmp, store) = store();
        let mut s = store.new_session("m", "chat", "", "");
        s.messages.push(SessionMessage::new(Role::User, "one"));
        store.save(&mut s).unwrap();
        s.messages.push(SessionMessage::new(Role::Assistant, "two"));
        store.save(&mut s).unwrap();
        assert_eq!(dir_entries(store.dir()), [format!("{}.json", s.id)]);
        assert_eq!(store.load(&s.id).unwrap().messages.len(), 2);
    }

    #[test]
    fn a_failed_save_leaves_no_temporary_file() {
        let (_tmp, store) = store();
        let mut s = store.new_session("m", "chat", "", "");
        // A directory where the file should go makes the rename fail.
        std::fs::create_dir_all(store.path_for(&s.id)).unwrap();
        let err = store.save(&mut s).unwrap_err();
        assert!(matches!(err, SessionError::Write { .. }), "{err}");
        assert!(err.to_string().contains(&s.id), "{err}");
        assert_eq!(dir_entries(store.dir()), [format!("{}.json", s.id)]);
    }

    #[cfg(unix)]
    #[test]
    fn session_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, store) = store();
        let mut s = store.new_session("m", "chat", "", "");
        store.save(&mut s).unwrap();
        let mode = std::fs::metadata(store.path_for(&s.id))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_title_comes_from_the_first_user_line_and_is_cut() {
        assert_eq!(derived_title(&[]), "");
        let msgs = [
            SessionMessage::new(Role::Assistant, "Hello, how can I help?"),
            SessionMessage::new(Role::User, "\n  How do I reset my router?  \nIt blinks."),
            SessionMessage::new(Role::User, "second"),
        ];
        assert_eq!(derived_title(&msgs), "How do I reset my router?");
        let long = "é".repeat(100);
        let title = derived_title(&[SessionMessage::new(Role::User, &long)]);
        assert_eq!(title.chars().count(), TITLE_CHARS);
        assert!(title.ends_with('…'));
    }

    #[test]
    fn save_keeps_a_given_title_and_derives_a_missing_one() {
        let (_tmp, store) = store();
        let mut s = store.new_session("m", "chat", "", "");
        store.save(&mut s).unwrap();
        assert_eq!(s.title, "", "no user message, no title");
        s.messages
            .push(SessionMessage::new(Role::User, "first question"));
        store.save(&mut s).unwrap();
        assert_eq!(s.title, "first question");
        s.title = "trip".into();
        s.messages.push(SessionMessage::new(Role::User, "another"));
        store.save(&mut s).unwrap();
        assert_eq!(store.load(&s.id).unwrap().title, "trip");
    }

    #[test]
    fn remove_resolves_a_prefix_and_returns_the_full_id() {
        let (_tmp, store) = store();
        saved(&store, "20261123-100000-aaaa", "2026-11-23T10:00:00+00:00");
        assert_eq!(store.remove("20261123").unwrap(), "20261123-100000-aaaa");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn markdown_export_has_metadata_messages_sources_and_cancellation() {
        let s = Session {
            id: "20261123-205612-3fa2".into(),
            title: "Router".into(),
            created: "2026-11-23T20:56:12+01:00".into(),
            updated: "2026-11-23T21:00:00+01:00".into(),
            model: "smol.gguf".into(),
            mode: "ask".into(),
            index: "default".into(),
            system: "Be brief.".into(),
            messages: vec![
                SessionMessage::new(Role::User, "How do I reset?"),
                SessionMessage {
                    role: Role::Assistant,
                    content: "Hold the button [1].\n".into(),
                    sources: vec![
                        Passage {
                            n: 1,
                            path: "kb/reset.md".into(),
                            lines: (3, 9),
                            heading: "Reset".into(),
                            snippet: String::new(),
                            score: 0.0,
                            text: String::new(),
                            highlights: Vec::new(),
                        },
                        Passage {
                            n: 2,
                            path: "kb/faq.md".into(),
                            lines: (1, 2),
                            heading: String::new(),
                            snippet: String::new(),
                            score: 0.0,
                            text: String::new(),
                            highlights: Vec::new(),
                        },
                    ],
                    cancelled: false,
                    stats: None,
                },
                SessionMessage::new(Role::User, "And then?"),
                SessionMessage {
                    cancelled: true,
                    ..SessionMessage::new(Role::Assistant, "Then you")
                },
            ],
        };
        let md = export_markdown(&s);
        let expected = "\
# Router

- id: 20261123-205612-3fa2
- model: smol.gguf
- mode: ask
- index: default
- created: 2026-11-23T20:56:12+01:00
- updated: 2026-11-23T21:00:00+01:00

## System

Be brief.

## You

How do I reset?

## lore

Hold the button [1].

Sources:

- [1] kb/reset.md:L3-L9 > Reset
- [2] kb/faq.md:L1-L2

## You

And then?

## lore

Then you

*(cancelled)*
";
        assert_eq!(md, expected);
    }

    #[test]
    fn markdown_export_of_an_untitled_empty_session_still_has_a_heading() {
        let s = Session {
            id: "x".into(),
            ..Session::default()
        };
        assert_eq!(export_markdown(&s), "# Untitled conversation\n\n- id: x\n");
    }

    #[test]
    fn every_kind_of_damaged_file_is_corrupt_and_listed_once() {
        let (_tmp, store) = store();
        saved(&store, "good", "2026-11-23T10:00:00+00:00");
        let full = std::fs::read(store.path_for("good")).unwrap();
        let damaged: [(&str, &[u8]); 5] = [
            ("torn", &full[..full.len() / 2]),
            ("empty", b""),
            ("binary", b"\xff\xfe{\"messages\": [\xc3]}"),
            ("shape", b"[1, 2, 3]"),
            (
                "badutf8",
                b"{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xc3\"}]}",
            ),
        ];
        for (id, bytes) in damaged {
            std::fs::write(store.path_for(id), bytes).unwrap();
            let err = store.load(id).unwrap_err();
            assert!(matches!(err, SessionError::Corrupt { .. }), "{id}: {err}");
            assert!(err.is_usage(), "{id}");
            let text = err.to_string();
            assert!(!text.contains('\n') && text.contains(id), "{text}");
        }
        let (list, warnings) = store.list_with_warnings().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(warnings.len(), damaged.len(), "{warnings:?}");
        for (id, _) in damaged {
            let named = format!("{id}.json");
            assert_eq!(
                warnings.iter().filter(|w| w.contains(&named)).count(),
                1,
                "{warnings:?}"
            );
        }
        // A damaged file can still be removed by its id.
        assert_eq!(store.remove("torn").unwrap(), "torn");
    }

    #[test]
    fn a_minimal_hand_written_file_loads() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.dir().join("mine.json"),
            r#"{"id": "other", "messages": [{"role": "user", "content": "hi"}]}"#,
        )
        .unwrap();
        let s = store.load("mine").unwrap();
        assert_eq!(s.id, "mine", "the file name is the id");
        assert_eq!(s.messages.len(), 1);
    }

    #[test]
    fn write_atomic_replaces_a_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.md");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(dir_entries(dir.path()), ["out.md"]);
        assert!(write_atomic(&dir.path().join("missing/out.md"), b"x").is_err());
    }
}
