//! The architecture's rules, checked on the source tree (no model, no
//! build of anything): where mistral.rs may appear, which layers may read
//! settings or know clap, no import cycles between files, and no god
//! files or god functions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (module path, file, text).
fn sources() -> Vec<(String, PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if parts.first().is_some_and(|f| f == "lib" || f == "main") {
                parts.clear();
            }
            let module = std::iter::once("crate".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            let text = std::fs::read_to_string(&p).unwrap();
            (module, p, text)
        })
        .collect()
}

/// The text before the first `#[cfg(test)]` module: the code that ships.
fn code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Lines that are code, not comments or blank.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    code(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn mistralrs_and_candle_appear_only_in_the_engine() {
    let mut offenders = Vec::new();
    for (module, path, text) in sources() {
        if module == "crate::engine" || module.starts_with("crate::engine::") {
            continue;
        }
        for line in code_lines(&text) {
            if line.contains("mistralrs") || line.contains("candle_core") {
                offenders.push(format!("{}: {line}", rel(&path)));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "outside src/engine:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn nothing_below_the_application_reads_settings_or_knows_clap() {
    // `error` maps every layer's error to an exit code: it stands at the
    // edge with the CLI.
    let upper = [
        "crate::cli",
        "crate::app",
        "crate::settings",
        "crate::error",
        "crate",
    ];
    let mut offenders = Vec::new();
    for (module, path, text) in sources() {
        let top = module.split("::").take(2).collect::<Vec<_>>().join("::");
        if upper.contains(&top.as_str()) {
            continue;
        }
        for line in code_lines(&text) {
            if line.contains("crate::settings") || line.contains("clap::") || line.contains("clap_")
            {
                offenders.push(format!("{}: {line}", rel(&path)));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "below app/cli:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_tui_and_the_tasks_never_touch_the_engine() {
    let mut offenders = Vec::new();
    for (module, path, text) in sources() {
        if !(module.starts_with("crate::tui") || module.starts_with("crate::tasks")) {
            continue;
        }
        for line in code_lines(&text) {
            if line.contains("crate::engine") {
                offenders.push(format!("{}: {line}", rel(&path)));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The module a path like `crate::a::b::C` lands in: its longest prefix
/// that is a file.
fn target<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|p| modules.get(&p))
}

/// Paths a file refers to: `crate::…` and `super::…` (resolved), including
/// grouped `use` lists one level deep.
fn references(module: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `super` is the parent module, for `a/b.rs` and `a/b/mod.rs` alike.
    let base_super = module.rsplit_once("::").map(|(p, _)| p.to_string());
    let body: String = code_lines(text).collect::<Vec<_>>().join("\n");
    let body = body.as_str();
    let mut i = 0;
    while i < body.len() {
        let rest = &body[i..];
        let (prefix, base) = if rest.starts_with("crate::") {
            ("crate::", Some("crate".to_string()))
        } else if rest.starts_with("super::") {
            ("super::", base_super.clone())
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let before = body[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            i += prefix.len();
            continue;
        }
        let tail: String = rest[prefix.len()..]
            .chars()
            .take_while(|c| {
                c.is_alphanumeric()
                    || *c == '_'
                    || *c == ':'
                    || *c == '{'
                    || *c == ','
                    || *c == ' '
                    || *c == '}'
            })
            .collect();
        let Some(base) = base else {
            i += prefix.len();
            continue;
        };
        let (head, group) = match tail.find('{') {
            Some(b) => (&tail[..b], Some(&tail[b + 1..])),
            None => (tail.split([' ', ',', '}']).next().unwrap_or(""), None),
        };
        let head = head.trim_end_matches(':');
        let full = if head.is_empty() {
            base.clone()
        } else {
            format!("{base}::{head}")
        };
        match group {
            Some(g) => {
                for item in g.split([',', '}']) {
                    let item = item.trim().split("::").next().unwrap_or("").trim();
                    if !item.is_empty() && item != "self" {
                        out.push(format!("{full}::{item}"));
                    } else {
                        out.push(full.clone());
                    }
                }
            }
            None => out.push(full),
        }
        i += prefix.len();
    }
    out
}

#[test]
fn no_import_cycles_between_files() {
    let files = sources();
    let modules: BTreeSet<String> = files.iter().map(|(m, _, _)| m.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, text) in &files {
        for r in references(module, text) {
            let Some(t) = target(&r, &modules) else {
                continue;
            };
            // A module's facade re-exporting its own children, and a child
            // using its parent's items, are one module seen from two files,
            // not a dependency between two designs.
            let parent_child = t.starts_with(&format!("{module}::"))
                || module.starts_with(&format!("{t}::"))
                || t == "crate"
                || t == module;
            if !parent_child {
                edges.entry(module.clone()).or_default().insert(t.clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                0 => visit(m, edges, state, stack, cycles),
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    cycles.push(format!("{} -> {m}", stack[at..].join(" -> ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in modules.iter() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn no_file_over_800_lines_of_code() {
    let big: Vec<String> = sources()
        .iter()
        .map(|(_, p, t)| (rel(p), code_lines(t).count()))
        .filter(|(_, n)| *n > 800)
        .map(|(p, n)| format!("{p}: {n}"))
        .collect();
    assert!(
        big.is_empty(),
        "files over 800 lines of code:\n{}",
        big.join("\n")
    );
}

#[test]
fn no_function_over_120_lines() {
    let mut long = Vec::new();
    for (_, path, text) in sources() {
        let lines: Vec<&str> = code(&text).lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let is_fn = (t.starts_with("fn ")
                || t.starts_with("pub fn ")
                || t.starts_with("pub(crate) fn ")
                || t.starts_with("async fn ")
                || t.starts_with("pub async fn ")
                || t.starts_with("pub(crate) async fn "))
                && !t.ends_with(';');
            if !is_fn {
                i += 1;
                continue;
            }
            let indent = lines[i].len() - t.len();
            let close = format!("{}}}", " ".repeat(indent));
            let end = (i + 1..lines.len())
                .find(|&j| lines[j] == close)
                .unwrap_or(i);
            let n = end.saturating_sub(i) + 1;
            if n > 120 {
                let name: String = t.chars().take(60).collect();
                long.push(format!("{}:{}: {n} lines: {name}", rel(&path), i + 1));
            }
            i += 1;
        }
    }
    assert!(
        long.is_empty(),
        "functions over 120 lines:\n{}",
        long.join("\n")
    );
}
