//! `lore index` end to end on temporary directories.

mod common;

use std::time::Duration;

use common::{stderr_of, stdout_of, TestEnv};

fn index_cmd(env: &TestEnv, args: &[&str]) -> std::process::Output {
    env.bare().arg("index").args(args).output().unwrap()
}

fn search_json(env: &TestEnv, query: &str) -> serde_json::Value {
    let out = index_cmd(env, &["search", "--format", "json", "-k", "5", query]);
    assert!(out.status.success(), "{query}: {}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A field of the best hit for `query`, or "" when there is none.
fn best(env: &TestEnv, query: &str, field: &str) -> String {
    search_json(env, query)["hits"][0][field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn hit_count(env: &TestEnv, query: &str) -> usize {
    search_json(env, query)["hits"].as_array().unwrap().len()
}

fn kb(env: &TestEnv) -> std::path::PathBuf {
    env.write(
        "kb/returns.md",
        "# Returns\n\nYou can return an item within 30 days of delivery.\n\n## Refunds\n\nRefunds reach your card within 5 business days.\n",
    );
    env.write(
        "kb/shipping.html",
        "<html><head><title>Shipping</title><script>var tracking = 1;</script></head><body><h1>Shipping</h1><p>Standard shipping takes 3 to 5 days.</p></body></html>",
    );
    env.write("kb/notes.txt", "The warehouse is in Rotterdam.\n");
    env.write("kb/faq.jsonl", "{\"id\": \"q1\", \"text\": \"Gift cards never expire.\"}\n{\"id\": \"q2\", \"text\": \"We ship to Iceland.\"}\n");
    env.write(
        "kb/prices.csv",
        "id,text\np1,\"The premium plan costs 12 euros a month.\"\n",
    );
    env.write(
        "kb/cjk.md",
        "# 退货\n\n您可以在三十天内退货，退款将在五个工作日内到账。\n",
    );
    env.write("kb/ignored.log", "secret ignored words\n");
    env.write("kb/.gitignore", "*.log\n");
    std::fs::write(env.path("kb/logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0binary").unwrap();
    std::fs::write(env.path("kb/latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    env.path("kb")
}

/// Writes the knowledge base and adds it to the default index.
fn indexed_kb(env: &TestEnv) -> std::path::PathBuf {
    let kb = kb(env);
    let out = env.bare().args(["index", "add"]).arg(&kb).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    kb
}

fn stats(env: &TestEnv) -> serde_json::Value {
    serde_json::from_slice(&index_cmd(env, &["stats", "--format", "json"]).stdout).unwrap()
}

#[test]
fn add_reports_summary_and_search_finds_each_loader() {
    let env = TestEnv::new();
    let kb = kb(&env);
    let out = env.bare().args(["index", "add"]).arg(&kb).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("added 6"),
        "hidden files such as .gitignore are not indexed: {err}"
    );
    assert!(
        err.contains("skipped 2 (1 binary file, 1 not valid UTF-8)"),
        "{err}"
    );
    assert!(
        err.contains("logo.png") && err.contains("latin1.txt"),
        "{err}"
    );
    assert!(
        !err.contains("ignored.log"),
        ".gitignore is honoured: {err}"
    );

    let v = search_json(&env, "how long do refunds take");
    let top = &v["hits"][0];
    assert!(top["path"].as_str().unwrap().ends_with("returns.md"), "{v}");
    assert_eq!(top["headings"], "Returns > Refunds");
    assert_eq!(top["lines"], serde_json::json!([5, 7]));
    let snippet = top["snippet"].as_str().unwrap();
    let hl = &top["highlights"][0];
    let (a, b) = (
        hl[0].as_u64().unwrap() as usize,
        hl[1].as_u64().unwrap() as usize,
    );
    assert_eq!(snippet[a..b].to_lowercase(), "refunds");

    assert!(best(&env, "shipping days", "path").ends_with("shipping.html"));
    assert!(!v["hits"][0]["snippet"]
        .as_str()
        .unwrap()
        .contains("tracking"));
    assert!(best(&env, "gift cards", "key").ends_with("faq.jsonl#q1"));
    assert!(best(&env, "premium plan price", "key").ends_with("prices.csv#p1"));
    assert!(best(&env, "退款", "path").ends_with("cjk.md"));
    assert_eq!(hit_count(&env, "secret"), 0);
}

#[test]
fn text_search_output_is_plain_in_pipes() {
    let env = TestEnv::new();
    indexed_kb(&env);
    let out = index_cmd(&env, &["search", "refunds"]);
    let text = stdout_of(&out);
    assert!(text.starts_with("1. ["), "{text}");
    assert!(
        text.contains("returns.md:5-7  > Returns > Refunds"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

#[test]
fn hostile_queries_never_error() {
    let env = TestEnv::new();
    indexed_kb(&env);
    for q in [
        "error: file not found",
        "-pasta",
        "NOT refunds",
        "C:\\Users\\x",
        "\"unterminated",
        "title:[a TO",
        "",
        "   ",
        "((((",
        "*",
        "the of and",
    ] {
        let v = search_json(&env, q);
        assert!(v["hits"].is_array(), "{q}: {v}");
    }
    // Plain words inside hostile text still match.
    assert!(best(&env, "refunds: -card", "path").ends_with("returns.md"));
    // With --syntax a bad query is a clear usage error.
    let out = index_cmd(&env, &["search", "--syntax", "title:[a TO"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("invalid query"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn unchanged_changed_and_pruned_files() {
    let env = TestEnv::new();
    let kb = kb(&env);
    let add = |extra: &[&str]| {
        let out = env
            .bare()
            .args(["index", "add"])
            .arg(&kb)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stderr_of(&out)
    };
    add(&[]);
    assert!(add(&[]).contains("added 0, updated 0, unchanged 6"));
    // Same bytes, new mtime: still unchanged (the hash decides).
    let notes = env.path("kb/notes.txt");
    std::fs::write(&notes, "The warehouse is in Rotterdam.\n").unwrap();
    assert!(add(&[]).contains("unchanged 6"));
    std::fs::write(&notes, "The warehouse moved to Antwerp.\n").unwrap();
    assert!(add(&[]).contains("updated 1"));
    assert_eq!(hit_count(&env, "Rotterdam"), 0);
    assert_eq!(hit_count(&env, "Antwerp"), 1);
    std::fs::remove_file(&notes).unwrap();
    assert!(add(&[]).contains("removed 0"));
    assert_eq!(hit_count(&env, "Antwerp"), 1);
    assert!(add(&["--prune"]).contains("removed 1"));
    assert_eq!(hit_count(&env, "Antwerp"), 0);

    let out = index_cmd(&env, &["rm", env.path("kb/returns.md").to_str().unwrap()]);
    assert!(stderr_of(&out).contains("removed 1 file"));
    assert_eq!(hit_count(&env, "refunds"), 0);

    let list = stdout_of(&index_cmd(&env, &["list"]));
    assert_eq!(list.lines().count(), 4, "{list}");
    let stats = stats(&env);
    assert_eq!(stats["files"], 4);
    assert_eq!(stats["documents"], 5);
    assert_eq!(stats["schema_version"], 2);
}

#[test]
fn globs_and_named_indexes() {
    let env = TestEnv::new();
    kb(&env);
    let out = env
        .bare()
        .args(["index", "add", "--index", "md-only", "../kb/*.md"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("added 2"), "{}", stderr_of(&out));
    let out = index_cmd(&env, &["list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the default index does not exist yet"
    );
    assert!(stderr_of(&out).contains("index 'default' does not exist"));
    let out = env
        .bare()
        .args(["index", "add", "/definitely/missing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("/definitely/missing"));
}

#[test]
fn second_writer_gets_a_clear_error() {
    let env = TestEnv::new();
    let kb = indexed_kb(&env);
    let root = env.path("data/lore/indexes");
    let idx = lore::index::KnowledgeIndex::open(&root, "default", false).unwrap();
    let writer = idx.writer().unwrap();
    let out = env.bare().args(["index", "add"]).arg(&kb).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("index 'default' is being written by another lore process"),
        "{}",
        stderr_of(&out)
    );
    // Readers keep working meanwhile.
    assert!(hit_count(&env, "refunds") > 0);
    drop(writer);
}

#[test]
fn sigkill_during_add_leaves_the_last_commit() {
    let env = TestEnv::new();
    indexed_kb(&env);
    let before = stats(&env);

    // A large second batch (about 28 MB, several seconds of ingest, below
    // the intermediate-commit threshold), killed mid-way.
    const FILES: usize = 4000;
    let big = env.path("big");
    std::fs::create_dir_all(&big).unwrap();
    let para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
        .repeat(40);
    for i in 0..FILES {
        std::fs::write(
            big.join(format!("f{i}.txt")),
            format!("{para}\n\nunique{i}\n\n{para}"),
        )
        .unwrap();
    }
    let mut child = env
        .lore_std()
        .args(["index", "add"])
        .arg(&big)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "ingest finished before the kill; make the batch larger"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let after = stats(&env);
    assert_eq!(after["files"], before["files"]);
    assert_eq!(after["chunks"], before["chunks"]);
    assert!(hit_count(&env, "refunds") > 0);
    // The interrupted batch can simply be added again.
    let out = env
        .bare()
        .args(["index", "add"])
        .arg(&big)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("added {FILES}")),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn rebuild_and_schema_version_mismatch() {
    let env = TestEnv::new();
    indexed_kb(&env);
    let before = stats(&env);
    let out = index_cmd(&env, &["rebuild"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stats(&env)["chunks"], before["chunks"]);

    // An index from another schema version asks for a rebuild.
    let root = env.path("data/lore/indexes/default");
    std::fs::rename(root.join("v2"), root.join("v0")).unwrap();
    let out = index_cmd(&env, &["search", "refunds"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("lore index rebuild"),
        "{}",
        stderr_of(&out)
    );
    assert!(index_cmd(&env, &["rebuild"]).status.success());
    assert_eq!(stats(&env)["chunks"], before["chunks"]);
    assert!(!root.join("v0").exists());
}

/// One `lore: error:` line naming the damaged index and the way out.
fn assert_damaged(out: &std::process::Output, needles: &[&str], what: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    assert!(
        err.starts_with("lore: error: index 'docs' is damaged ("),
        "{what}: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{what}: expected {n:?} in {err}");
    }
    for bad in [
        "panicked",
        "stack backtrace",
        "RUST_BACKTRACE",
        "FileDoesNotExist",
    ] {
        assert!(!err.contains(bad), "{what}: {err}");
    }
}

/// Every file of an index directory with its bytes.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

/// A kind of damage: its name, how to do it, and the text the error names.
type DamageRow<'a> = (&'a str, Box<dyn Fn() + 'a>, String);

#[test]
fn a_damaged_index_says_so_and_rebuild_restores_it() {
    let env = TestEnv::new();
    let kb = kb(&env);
    let out = env
        .bare()
        .args(["index", "add", "--index", "docs"])
        .arg(&kb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let docs = |args: &[&str]| {
        env.lore()
            .args(args)
            .args(["--index", "docs"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };
    let hits = |env_out: std::process::Output| -> usize {
        assert!(env_out.status.success(), "{}", stderr_of(&env_out));
        let v: serde_json::Value = serde_json::from_slice(&env_out.stdout).unwrap();
        v["hits"].as_array().unwrap().len()
    };
    let search = ["index", "search", "refunds", "--format", "json"];
    let found = hits(docs(&search));
    assert!(found > 0);
    let dir = env.path("data/lore/indexes/docs/v2");
    let pristine = snapshot(&dir);
    let restore = || {
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        for (p, bytes) in &pristine {
            std::fs::write(p, bytes).unwrap();
        }
    };
    let rebuild = ["rebuild", "`lore index rebuild --index docs`"];
    let ask = ["ask", "-n", "4", "-t", "0", "how long do refunds take"];
    let segment = pristine
        .iter()
        .map(|(p, _)| p.clone())
        .find(|p| p.extension().is_some_and(|e| e == "store"))
        .unwrap();
    let segment_text = format!("segment file {} is missing", segment.display());
    // (what, how the index is damaged, what the message says)
    let rows: Vec<DamageRow> = vec![
        (
            "a deleted segment file",
            Box::new(|| std::fs::remove_file(&segment).unwrap()),
            segment_text,
        ),
        (
            "meta.json overwritten",
            Box::new(|| std::fs::write(dir.join("meta.json"), "{\"segments\": [").unwrap()),
            "meta.json cannot be read".into(),
        ),
        (
            "meta.json deleted",
            Box::new(|| std::fs::remove_file(dir.join("meta.json")).unwrap()),
            "meta.json is missing".into(),
        ),
    ];
    for (what, damage, text) in &rows {
        restore();
        damage();
        let before = snapshot(&dir);
        for args in [&search[..], &ask[..], &["index", "stats"][..]] {
            assert_damaged(&docs(args), &[text, rebuild[1]], what);
        }
        // Adding to it is refused too, and writes nothing.
        let out = env
            .bare()
            .args(["index", "add", "--index", "docs"])
            .arg(kb.join("notes.txt"))
            .output()
            .unwrap();
        assert_damaged(&out, &[text], what);
        assert_eq!(snapshot(&dir), before, "{what}: nothing written");
        let out = docs(&["index", rebuild[0]]);
        assert!(out.status.success(), "{what}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("added 6"), "{}", stderr_of(&out));
        assert_eq!(hits(docs(&search)), found, "{what}: search works again");
    }

    // With meta.json and its copy both gone, nothing says which files the
    // index held: the message says so, and rebuild cannot help.
    restore();
    std::fs::write(dir.join("meta.json"), "garbage").unwrap();
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let cannot = "it cannot be rebuilt, as the list of files it was built from is unreadable too";
    assert_damaged(
        &docs(&search),
        &[cannot, "lore index add PATH --index docs"],
        "no list",
    );
    assert_damaged(
        &docs(&["index", "rebuild"]),
        &[cannot],
        "rebuild without a list",
    );
}

// --- Dense retrieval -------------------------------------------------------

/// A knowledge base where the paraphrase "my parcel is late again" shares
/// no word with the article that answers it.
fn paraphrase_kb(env: &TestEnv) -> std::path::PathBuf {
    env.write(
        "pkb/tracking.md",
        "# Tracking your order\n\nOnce your order ships we email you a tracking number. Deliveries sometimes take longer than expected; check the courier's page for the current status of your shipment.\n",
    );
    env.write(
        "pkb/password.md",
        "# Resetting your password\n\nChoose \"Forgot password\" on the sign-in page and follow the link we email you.\n",
    );
    env.write(
        "pkb/refunds.md",
        "# Refunds\n\nWe pay refunds to the original card within five business days.\n",
    );
    env.path("pkb")
}

fn search_mode(env: &TestEnv, mode: &str, query: &str) -> std::process::Output {
    env.lore()
        .args([
            "index", "search", "--format", "json", "-k", "3", "--mode", mode, query,
        ])
        .output()
        .unwrap()
}

fn hits_of(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", stderr_of(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["hits"].as_array().unwrap().clone()
}

#[test]
fn dense_search_finds_a_paraphrase_that_lexical_search_misses() {
    let env = TestEnv::new();
    let kb = paraphrase_kb(&env);
    let out = env
        .lore()
        .args(["index", "add", "--embeddings"])
        .arg(&kb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("embedded 3 chunks"), "{err}");
    assert!(err.contains("chunks/s"), "{err}");

    let s: serde_json::Value = serde_json::from_slice(
        &env.lore()
            .args(["index", "stats", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(s["embedding_model"], "all-minilm-l6-v2", "{s}");
    assert_eq!(s["vectors"], s["chunks"], "{s}");
    let text = stdout_of(&env.lore().args(["index", "stats"]).output().unwrap());
    assert!(
        text.contains("vectors:        3 of 3 chunks (100%)"),
        "{text}"
    );

    let query = "my parcel is late again";
    let lexical = hits_of(
        &env.lore()
            .args([
                "index", "search", "--format", "json", "--mode", "lexical", query,
            ])
            .output()
            .unwrap(),
    );
    assert!(
        lexical
            .iter()
            .all(|h| !h["path"].as_str().unwrap().ends_with("tracking.md")),
        "{lexical:?}"
    );
    for mode in ["dense", "hybrid", "auto"] {
        let out = env
            .lore()
            .args([
                "index", "search", "--format", "json", "-k", "3", "--mode", mode, query,
            ])
            .output()
            .unwrap();
        let hits = hits_of(&out);
        let top = &hits[0];
        assert!(
            top["path"].as_str().unwrap().ends_with("tracking.md"),
            "{mode}: {hits:?}"
        );
        assert!(top["similarity"].as_f64().unwrap() > 0.3, "{mode}: {top}");
        assert_eq!(top["title"], "Tracking your order");
        assert!(!top["snippet"].as_str().unwrap().is_empty());
    }
    // Hybrid also keeps what BM25 finds.
    let hits = hits_of(
        &env.lore()
            .args([
                "index",
                "search",
                "--format",
                "json",
                "--mode",
                "hybrid",
                "refunds card",
            ])
            .output()
            .unwrap(),
    );
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("refunds.md"),
        "{hits:?}"
    );
    assert!(hits[0]["fused"].as_f64().is_some(), "{:?}", hits[0]);
}

#[test]
fn vectors_follow_the_text_incrementally_and_through_a_rebuild() {
    let env = TestEnv::new();
    let kb = paraphrase_kb(&env);
    let add = |env: &TestEnv, extra: &[&str]| {
        let out = env
            .lore()
            .args(["index", "add"])
            .args(extra)
            .arg(&kb)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stderr_of(&out)
    };
    // Turned on by the setting instead of the flag.
    let out = env
        .lore()
        .env("LORE_INDEX__EMBEDDINGS", "true")
        .args(["index", "add"])
        .arg(&kb)
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("embedded 3 chunks"),
        "{}",
        stderr_of(&out)
    );
    // Unchanged files are not embedded again; once on, embedding stays on.
    let err = add(&env, &[]);
    assert!(!err.contains("embedded"), "{err}");
    env.write(
        "pkb/hours.md",
        "# Opening hours\n\nOur support team answers from 9:00 to 17:00 on weekdays.\n",
    );
    let err = add(&env, &[]);
    assert!(err.contains("embedded 1 chunks"), "{err}");
    let s = |env: &TestEnv| -> serde_json::Value {
        serde_json::from_slice(
            &env.lore()
                .args(["index", "stats", "--format", "json"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(s(&env)["vectors"], 4);
    assert_eq!(s(&env)["chunks"], 4);
    let hits = hits_of(&search_mode(
        &env,
        "dense",
        "when can I call someone for help",
    ));
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("hours.md"),
        "{hits:?}"
    );

    let out = env.lore().args(["index", "rebuild"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(s(&env)["vectors"], 4, "a rebuild keeps the vectors");
    assert_eq!(s(&env)["embedding_model"], "all-minilm-l6-v2");
    let hits = hits_of(&search_mode(&env, "dense", "my parcel is late again"));
    assert!(
        hits[0]["path"].as_str().unwrap().ends_with("tracking.md"),
        "{hits:?}"
    );

    // Without its model, an index with vectors is searched by its text in
    // auto mode (with a warning); a mode that needs the vectors fails.
    let empty = env.path("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let search = |mode: &str| {
        env.bare()
            .env("LORE_MODELS_DIR", &empty)
            .args([
                "index", "search", "--format", "json", "--mode", mode, "refunds",
            ])
            .output()
            .unwrap()
    };
    let out = search("auto");
    assert!(!hits_of(&out).is_empty());
    assert!(
        stderr_of(&out).contains("warning: embedding model"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("searched by its text only"),
        "{}",
        stderr_of(&out)
    );
    let out = search("dense");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
}

#[test]
fn vector_searches_fail_clearly_where_there_are_no_vectors_or_no_model() {
    let env = TestEnv::new();
    let kb = paraphrase_kb(&env);
    let out = env.lore().args(["index", "add"]).arg(&kb).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for mode in ["dense", "hybrid"] {
        let out = search_mode(&env, mode, "parcel");
        assert_eq!(out.status.code(), Some(2), "{mode}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("no embedding vectors") && err.contains("--embeddings"),
            "{err}"
        );
    }
    // Auto and lexical searches of a lexical index need no model.
    assert!(!hits_of(&search_mode(&env, "auto", "refunds")).is_empty());

    // The embedding model is not installed in an empty models directory.
    let empty = env.path("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let out = env
        .bare()
        .env("LORE_MODELS_DIR", &empty)
        .args(["index", "add", "--embeddings"])
        .arg(&kb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("not installed") && err.contains("fetch-model.sh all-minilm-l6-v2"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // An unknown model name.
    let out = env
        .lore()
        .env("LORE_INDEX__EMBEDDING_MODEL", "no-such-model")
        .args(["index", "add", "--embeddings"])
        .arg(&kb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("neither a catalogue name"),
        "{}",
        stderr_of(&out)
    );
}
