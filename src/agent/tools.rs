//! The agent's tools and their registry. Part 1 has the read-only ones:
//! `list`, `read` and `grep`, all confined to the workspace root, and
//! `search` over lore's own index when one is configured.

use std::collections::BTreeMap;

use serde_json::{json, Value};

pub mod edit;
pub mod shell;

use super::fsroot::Root;
use super::protocol::{Preview, Risk};
use crate::grounding::Passage;
use crate::tasks::grounded::Retrieval;

/// The tools that act on the workspace, offered when the mode allows.
pub const ACTION_TOOLS: [&str; 2] = ["edit", "shell"];

/// The parameters a call of `t` must give, out of `params`.
pub fn required(t: &dyn Tool, params: &Value) -> Vec<String> {
    if !t.required().is_empty() {
        return t.required().iter().map(|s| s.to_string()).collect();
    }
    params
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .into_iter()
        .collect()
}

/// Most entries `list` shows.
pub const LIST_MAX: usize = 200;
/// Most lines one `read` returns.
pub const READ_MAX_LINES: usize = 200;
/// Longest line `read` and `grep` show before cutting it.
pub const LINE_MAX_CHARS: usize = 500;
/// Most bytes `read` takes from a file.
pub const READ_MAX_BYTES: usize = 1 << 20;
/// Most matches `grep` reports.
pub const GREP_MAX: usize = 50;
/// Most files offered to a constrained model as path choices.
pub const PATH_CHOICES: usize = 200;

/// What a tool returns: the text the model reads and a one-line summary
/// for compact rendering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolOutput {
    pub text: String,
    pub summary: String,
    /// Knowledge-base passages the text shows as `[n]`, for citations.
    pub passages: Vec<Passage>,
    /// A status other than `completed` for a call that ran (a command
    /// that timed out or was aborted).
    pub status: Option<super::protocol::ToolStatus>,
}

/// What tools share during a session.
pub struct Context<'a> {
    pub root: &'a Root,
    /// lore's own index, when one is configured.
    pub search: Option<&'a Retrieval>,
    /// The number the next passage shown gets: numbers run on through a
    /// session so every `[n]` names one passage.
    pub next_passage: usize,
    /// What the session read and changed: `edit` needs a fresh read and
    /// keeps pre-images for undo.
    pub ledger: Option<&'a std::cell::RefCell<edit::Ledger>>,
    /// How commands run; `None` where `shell` is not offered.
    pub shell: Option<&'a shell::ShellEnv>,
    /// True once the user interrupts; tools that take long poll it.
    pub cancel: &'a dyn Fn() -> bool,
}

impl<'a> Context<'a> {
    pub fn new(root: &'a Root) -> Context<'a> {
        Context {
            root,
            search: None,
            next_passage: 1,
            ledger: None,
            shell: None,
            cancel: &|| false,
        }
    }
}

pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for the model's tool section.
    fn description(&self) -> &'static str;
    fn risk(&self) -> Risk;
    /// JSON schema of the arguments. `paths` are the workspace's files, for
    /// an `enum` that makes a made-up path impossible to generate.
    fn parameters(&self, paths: &[String]) -> Value;
    /// The parameters a call must give; empty: the first one.
    fn required(&self) -> &'static [&'static str] {
        &[]
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String>;
    /// What the approval prompt shows before the call runs (an edit's
    /// diff); an error means the call would fail, so nobody is asked.
    fn preview(&self, _args: &Value, _cx: &Context) -> Result<Option<Preview>, String> {
        Ok(None)
    }
}

/// The tools by name, in the order the model is shown them.
pub struct Registry {
    tools: Vec<Box<dyn Tool>>,
}

impl Registry {
    pub fn read_only() -> Registry {
        Registry {
            tools: vec![Box::new(List), Box::new(Read), Box::new(Grep)],
        }
    }

    /// Adds `edit` and `shell`, which the policy decides on call by call.
    pub fn with_actions(mut self) -> Registry {
        self.tools.push(Box::new(edit::Edit));
        self.tools.push(Box::new(shell::Shell));
        self
    }

    /// Adds `search` over lore's index.
    pub fn with_search(mut self) -> Registry {
        self.tools.push(Box::new(Search));
        self
    }

    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        self.tools
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Tool> {
        self.tools.iter().map(|t| t.as_ref())
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn int_arg(args: &Value, key: &str) -> Option<u64> {
    args.get(key).and_then(Value::as_u64)
}

fn cut_line(line: &str) -> String {
    if line.chars().count() <= LINE_MAX_CHARS {
        return line.to_string();
    }
    let kept: String = line.chars().take(LINE_MAX_CHARS).collect();
    format!("{kept}…")
}

/// A walk from `start` as every tool sees the tree: hidden files in,
/// .gitignore honoured (in a git repository or not), `.git` out.
fn walker(start: &std::path::Path) -> ignore::WalkBuilder {
    let mut walk = ignore::WalkBuilder::new(start);
    walk.hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git");
    walk
}

/// A NUL in the first 8 KiB: how git and grep tell a binary file.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}

/// The workspace's files, .gitignore-aware, sorted, at most `max`.
pub fn workspace_files(root: &Root, max: usize) -> Vec<String> {
    let mut files: Vec<String> = walker(root.path())
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| root.relative(e.path()))
        .collect();
    files.sort();
    files.truncate(max);
    files
}

/// Most files looked at when ranking path choices.
const RANK_SCAN: usize = 5000;
/// Bytes of each file searched for the request's words when ranking.
const RANK_BYTES: usize = 64 * 1024;

/// The workspace's files most related to `query` first (its words in the
/// path count most, then in the contents), at most `max`: the choices a
/// constrained model is offered, so the likely files are both present
/// and early.
pub fn ranked_files(root: &Root, query: &str, max: usize) -> Vec<String> {
    let terms: Vec<String> = query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    let files = workspace_files(root, RANK_SCAN);
    if terms.is_empty() {
        return files.into_iter().take(max).collect();
    }
    let mut scored: Vec<(usize, String)> = files
        .into_iter()
        .map(|f| {
            let path = f.to_lowercase();
            let mut score: usize = terms.iter().filter(|t| path.contains(t.as_str())).count() * 4;
            if let Ok((bytes, _)) = root.read_capped(&f, RANK_BYTES) {
                let text = String::from_utf8_lossy(&bytes).to_lowercase();
                score += terms.iter().filter(|t| text.contains(t.as_str())).count();
            }
            (score, f)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(max).map(|(_, f)| f).collect()
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "which", "what", "where", "file", "files", "does", "how", "many", "this", "that",
    "with", "from", "for", "are", "function", "defines", "define", "value", "there", "its", "has",
];

/// A path argument: one of `choices` (a made-up path cannot be
/// generated), or free text when there are none (native calls).
fn path_schema(choices: &[String]) -> Value {
    if choices.is_empty() {
        json!({"type": "string", "maxLength": 200})
    } else {
        json!({"enum": choices})
    }
}

/// `.` and every directory holding one of `paths`, for `list`'s choices.
fn directories(paths: &[String]) -> Vec<String> {
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(".".to_string());
    for p in paths {
        let mut at = std::path::Path::new(p).parent();
        while let Some(d) = at.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            at = d.parent();
        }
    }
    dirs.into_iter().collect()
}

struct List;

impl Tool for List {
    fn name(&self) -> &'static str {
        "list"
    }
    fn description(&self) -> &'static str {
        "list files and directories under path (depth 1-3)"
    }
    fn risk(&self) -> Risk {
        Risk::Read
    }
    fn parameters(&self, paths: &[String]) -> Value {
        let dirs = if paths.is_empty() {
            Vec::new()
        } else {
            directories(paths)
        };
        json!({"path": path_schema(&dirs), "depth": {"type": "integer", "minimum": 1, "maximum": 3}})
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        let rel = str_arg(args, "path").unwrap_or(".");
        let depth = int_arg(args, "depth").unwrap_or(1).clamp(1, 3) as usize;
        let dir = cx.root.dir(rel).map_err(|e| e.to_string())?;
        let mut entries: Vec<String> = walker(&dir)
            .max_depth(Some(depth))
            .build()
            .filter_map(Result::ok)
            .filter(|e| e.depth() > 0)
            .map(|e| {
                let path = cx.root.relative(e.path());
                if e.file_type().is_some_and(|t| t.is_dir()) {
                    format!("{path}/")
                } else {
                    path
                }
            })
            .collect();
        entries.sort();
        let total = entries.len();
        let mut text = entries
            .iter()
            .take(LIST_MAX)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if total > LIST_MAX {
            text.push_str(&format!("\n…{} more", total - LIST_MAX));
        }
        if total == 0 {
            text = "(empty)".into();
        }
        Ok(ToolOutput {
            text,
            summary: format!("list {rel} ({total} entries)"),
            ..Default::default()
        })
    }
}

struct Read;

impl Tool for Read {
    fn name(&self) -> &'static str {
        "read"
    }
    fn description(&self) -> &'static str {
        "read a text file; lines come as `L12: text` (offset is the first line, limit at most 200)"
    }
    fn risk(&self) -> Risk {
        Risk::Read
    }
    fn parameters(&self, paths: &[String]) -> Value {
        json!({"path": path_schema(paths), "offset": {"type": "integer", "minimum": 1}, "limit": {"type": "integer", "minimum": 1, "maximum": READ_MAX_LINES}})
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        let rel = str_arg(args, "path").ok_or("read needs a path")?;
        let offset = int_arg(args, "offset").unwrap_or(1).max(1) as usize;
        let limit = int_arg(args, "limit")
            .map(|l| l as usize)
            .unwrap_or(READ_MAX_LINES)
            .clamp(1, READ_MAX_LINES);
        let (bytes, more_bytes) = cx
            .root
            .read_capped(rel, READ_MAX_BYTES)
            .map_err(|e| e.to_string())?;
        if is_binary(&bytes) {
            return Err(format!("{rel}: is a binary file"));
        }
        if let Some(l) = cx.ledger {
            l.borrow_mut().saw(rel, &bytes, !more_bytes)
        }
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        if offset > total.max(1) {
            return Err(format!(
                "{rel}: offset {offset} is past the end ({total} lines)"
            ));
        }
        let end = (offset - 1 + limit).min(total);
        let mut out: Vec<String> = lines[offset - 1..end]
            .iter()
            .enumerate()
            .map(|(i, l)| format!("L{}: {}", offset + i, cut_line(l)))
            .collect();
        if end < total {
            out.push(format!(
                "…file continues ({total} lines); next offset={}",
                end + 1
            ));
        } else if more_bytes {
            out.push(format!(
                "…file continues past the first {READ_MAX_BYTES} bytes"
            ));
        }
        if total == 0 {
            out.push("(empty file)".into());
        }
        Ok(ToolOutput {
            text: out.join("\n"),
            summary: format!("read {rel} ({} lines)", end.saturating_sub(offset - 1)),
            ..Default::default()
        })
    }
}

struct Grep;

impl Tool for Grep {
    fn name(&self) -> &'static str {
        "grep"
    }
    fn description(&self) -> &'static str {
        "search file contents for a regex pattern (optional path and glob); matches as `path:line: text`"
    }
    fn risk(&self) -> Risk {
        Risk::Read
    }
    fn parameters(&self, _paths: &[String]) -> Value {
        json!({"pattern": {"type": "string", "minLength": 1, "maxLength": 80}, "path": {"type": "string", "maxLength": 200}, "glob": {"type": "string", "maxLength": 40}})
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        let pattern = str_arg(args, "pattern").ok_or("grep needs a pattern")?;
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                format!(
                    "bad pattern {pattern:?}: {}",
                    e.to_string().lines().last().unwrap_or("")
                )
            })?;
        let rel = str_arg(args, "path").unwrap_or(".");
        let start = cx.root.resolve(rel).map_err(|e| e.to_string())?;
        let mut walk = walker(&start);
        if let Some(glob) = str_arg(args, "glob").filter(|g| !g.is_empty()) {
            let mut o = ignore::overrides::OverrideBuilder::new(&start);
            o.add(glob).map_err(|e| format!("bad glob {glob:?}: {e}"))?;
            walk.overrides(o.build().map_err(|e| format!("bad glob {glob:?}: {e}"))?);
        }
        let mut matches = Vec::new();
        let mut total = 0usize;
        let mut files: BTreeMap<String, ()> = BTreeMap::new();
        let mut paths: Vec<_> = walk
            .build()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .map(|e| cx.root.relative(e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let Ok((bytes, _)) = cx.root.read_capped(&path, READ_MAX_BYTES) else {
                continue;
            };
            if is_binary(&bytes) {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            for (i, line) in text.lines().enumerate() {
                if re.is_match(line) {
                    total += 1;
                    files.insert(path.clone(), ());
                    if matches.len() < GREP_MAX {
                        matches.push(format!("{path}:{}: {}", i + 1, cut_line(line.trim_end())));
                    }
                }
            }
        }
        let mut text = matches.join("\n");
        if total > GREP_MAX {
            text.push_str(&format!("\n…{} more matches", total - GREP_MAX));
        }
        if total == 0 {
            text = format!("no matches for {pattern:?}");
        }
        Ok(ToolOutput {
            text,
            summary: format!(
                "grep {pattern:?} ({total} matches in {} files)",
                files.len()
            ),
            ..Default::default()
        })
    }
}

/// Most passages one search shows.
pub const SEARCH_MAX: usize = 5;
/// Characters of each passage shown, so that the output budget of a small
/// context keeps every hit rather than cutting the middle ones.
const SEARCH_PASSAGE_CHARS: usize = 600;

struct Search;

impl Tool for Search {
    fn name(&self) -> &'static str {
        "search"
    }
    fn description(&self) -> &'static str {
        "search the knowledge base (help articles and documents, not the workspace files) with a query; each hit is numbered: cite the ones you use as [n]"
    }
    fn risk(&self) -> Risk {
        Risk::Read
    }
    fn parameters(&self, _paths: &[String]) -> Value {
        json!({"query": {"type": "string", "minLength": 2, "maxLength": 120}})
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        let query = str_arg(args, "query").ok_or("search needs a query")?;
        let retrieval = cx.search.ok_or("no index is configured (see lore index)")?;
        let mut passages = retrieval.search(query).map_err(|e| e.to_string())?;
        passages.truncate(SEARCH_MAX);
        for (i, p) in passages.iter_mut().enumerate() {
            p.n = cx.next_passage + i;
        }
        let text = if passages.is_empty() {
            format!("no passage of the knowledge base matches {query:?}")
        } else {
            passages
                .iter()
                .map(|p| {
                    let text: String = p.text.trim().chars().take(SEARCH_PASSAGE_CHARS).collect();
                    format!("[{}] {}\n{text}", p.n, p.label())
                })
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        Ok(ToolOutput {
            summary: format!("search {query:?} ({} hits)", passages.len()),
            text,
            passages,
            status: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("src/deep/er")).unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join(".gitignore"), "target/\n").unwrap();
        std::fs::create_dir_all(p.join("target")).unwrap();
        std::fs::write(p.join("target/junk.rs"), "fn parse_date() {}\n").unwrap();
        let body: String = (1..=450).map(|i| format!("line {i}\n")).collect();
        std::fs::write(p.join("src/long.txt"), body).unwrap();
        std::fs::write(p.join("src/a.rs"), "fn parse_date() {}\nfn other() {}\n").unwrap();
        std::fs::write(p.join("src/deep/er/b.rs"), "x").unwrap();
        std::fs::write(p.join("bin.dat"), b"ab\0cd").unwrap();
        for i in 0..230 {
            std::fs::write(p.join(format!("src/deep/f{i:03}.txt")), "").unwrap();
        }
        let root = Root::new(p).unwrap();
        (dir, root)
    }

    fn run(tool: &str, args: Value, root: &Root) -> Result<ToolOutput, String> {
        Registry::read_only()
            .get(tool)
            .unwrap()
            .run(&args, &Context::new(root))
    }

    #[test]
    fn list_offers_the_directories_of_the_files() {
        let files = [
            "a.txt".to_string(),
            "src/shop/cart.py".into(),
            "docs/x.md".into(),
        ];
        assert_eq!(directories(&files), [".", "docs", "src", "src/shop"]);
        let schema = List.parameters(&files);
        assert_eq!(schema["path"]["enum"][3], "src/shop");
    }

    #[test]
    fn list_respects_depth_gitignore_and_the_cap() {
        let (_d, root) = ws();
        let top = run("list", json!({}), &root).unwrap();
        assert_eq!(top.text, ".gitignore\nbin.dat\nsrc/");
        let src = run("list", json!({"path": "src", "depth": 2}), &root).unwrap();
        assert!(src.text.contains("src/deep/\n"));
        assert!(
            src.text.ends_with("…34 more"),
            "{}",
            &src.text[src.text.len() - 40..]
        );
        assert!(!src.text.contains("src/deep/er/b.rs"));
        assert!(run("list", json!({"path": "../"}), &root)
            .unwrap_err()
            .contains("leaves"));
    }

    #[test]
    fn read_numbers_lines_and_says_where_the_file_continues() {
        let (_d, root) = ws();
        let out = run("read", json!({"path": "src/long.txt"}), &root).unwrap();
        assert!(out.text.starts_with("L1: line 1\nL2: line 2\n"));
        assert!(out
            .text
            .ends_with("L200: line 200\n…file continues (450 lines); next offset=201"));
        let tail = run(
            "read",
            json!({"path": "src/long.txt", "offset": 440, "limit": 500}),
            &root,
        )
        .unwrap();
        assert!(tail.text.ends_with("L450: line 450"));
        assert_eq!(tail.summary, "read src/long.txt (11 lines)");
        assert!(run("read", json!({"path": "bin.dat"}), &root)
            .unwrap_err()
            .contains("binary"));
        assert!(run(
            "read",
            json!({"path": "src/long.txt", "offset": 999}),
            &root
        )
        .unwrap_err()
        .contains("past the end"));
    }

    #[test]
    fn grep_finds_matches_outside_ignored_files_within_the_cap() {
        let (_d, root) = ws();
        let out = run("grep", json!({"pattern": "fn parse_\\w+"}), &root).unwrap();
        assert_eq!(out.text, "src/a.rs:1: fn parse_date() {}");
        let many = run("grep", json!({"pattern": "^line", "glob": "*.txt"}), &root).unwrap();
        assert_eq!(many.text.lines().count(), GREP_MAX + 1);
        assert!(many.text.ends_with("…400 more matches"));
        assert!(run("grep", json!({"pattern": "("}), &root)
            .unwrap_err()
            .starts_with("bad pattern"));
    }

    #[test]
    fn the_path_choices_are_real_files() {
        let (_d, root) = ws();
        let files = workspace_files(&root, 1000);
        assert!(files.contains(&"src/a.rs".to_string()));
        assert!(!files
            .iter()
            .any(|f| f.starts_with("target/") || f.starts_with(".git/")));
    }
}

#[cfg(test)]
mod rank_tests {
    use super::*;

    #[test]
    fn files_that_mention_the_request_come_first() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..30 {
            std::fs::write(dir.path().join(format!("a{i:02}.txt")), "nothing here").unwrap();
        }
        std::fs::write(
            dir.path().join("z_dates.py"),
            "def parse_date(s):\n    pass\n",
        )
        .unwrap();
        let root = Root::new(dir.path()).unwrap();
        let ranked = ranked_files(&root, "Which file defines parse_date?", 10);
        assert_eq!(ranked[0], "z_dates.py");
        assert_eq!(ranked.len(), 10);
        assert_eq!(
            ranked_files(&root, "?", 3),
            ["a00.txt", "a01.txt", "a02.txt"]
        );
    }
}
