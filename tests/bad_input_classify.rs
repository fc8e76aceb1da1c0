//! The classify rows of the bad-input matrix: label lists, malformed
//! JSONL/CSV/TSV items, bad example files and indexes, and a label set of
//! 300.
//!
//! Rows that tests/classify.rs already has are not repeated: a single
//! label (`--labels a`, and a labels file of one line), a malformed
//! labels TOML file, a JSONL file without the `--field`, `--eval` input
//! without tabs, input of empty lines only, `--method knn` without
//! examples, and no labels at all.

#[path = "common/bad_input.rs"]
mod bad_input;
mod common;

use bad_input::*;
use common::{stderr_of, stdout_of, TestEnv};

struct Row {
    name: &'static str,
    /// Files under the working directory.
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    stdin: &'static str,
    expect: &'static [&'static str],
}

const ROWS: &[Row] = &[
    Row {
        name: "an empty label between commas",
        files: &[],
        args: &["--labels", "a,,b"],
        stdin: "x\n",
        expect: &["--labels: empty label between commas (after \"a\") in \"a,,b\""],
    },
    Row {
        name: "a blank label between commas",
        files: &[],
        args: &["--labels", "billing, ,bug"],
        stdin: "x\n",
        expect: &["empty label between commas"],
    },
    Row {
        name: "a trailing comma",
        files: &[],
        args: &["--labels", "a,b,"],
        stdin: "x\n",
        expect: &["empty label after the last comma"],
    },
    Row {
        name: "labels that differ only in case",
        files: &[],
        args: &["--labels", "Billing,billing"],
        stdin: "x\n",
        expect: &["labels \"Billing\" and \"billing\" differ only in case"],
    },
    Row {
        name: "a label given twice",
        files: &[],
        args: &["--labels", "a,b,a"],
        stdin: "x\n",
        expect: &["label \"a\" is given twice"],
    },
    Row {
        name: "labels file with a case duplicate",
        files: &[("labels.txt", "pos: happy\nneg\nPos\n")],
        args: &["--labels-file", "labels.txt"],
        stdin: "x\n",
        expect: &["labels.txt: labels \"pos\" and \"Pos\" differ only in case"],
    },
    Row {
        name: "labels file with a nameless label",
        files: &[("labels.txt", "pos\n: no name\nneg\n")],
        args: &["--labels-file", "labels.txt"],
        stdin: "x\n",
        expect: &["labels.txt: a label has an empty name"],
    },
    Row {
        name: "a JSONL line that is not JSON",
        files: &[("in.jsonl", "{\"text\": \"fine\"}\nnot json at all\n")],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.jsonl"],
        stdin: "",
        expect: &["in.jsonl: line 2: not JSON"],
    },
    Row {
        name: "a JSONL row missing the field",
        files: &[(
            "in.jsonl",
            "{\"text\": \"fine\"}\n{\"body\": \"x\", \"id\": 2}\n",
        )],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.jsonl"],
        stdin: "",
        expect: &["in.jsonl: line 2: no field \"text\" (fields: body, id)"],
    },
    Row {
        name: "a JSONL line that is an array",
        files: &[("in.jsonl", "{\"text\": \"fine\"}\n[1, 2]\n")],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.jsonl"],
        stdin: "",
        expect: &["in.jsonl: line 2: not a JSON object"],
    },
    Row {
        name: "a JSONL row missing the gold field",
        files: &[(
            "in.jsonl",
            "{\"text\": \"a\", \"y\": \"a\"}\n{\"text\": \"b\"}\n",
        )],
        args: &[
            "--labels",
            "a,b",
            "--gold-field",
            "y",
            "--input",
            "in.jsonl",
        ],
        stdin: "",
        expect: &["in.jsonl: line 2: no field \"y\""],
    },
    Row {
        name: "a CSV row with too few fields",
        files: &[("in.csv", "id,text,other\n1,hello,x\n2\n")],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.csv"],
        stdin: "",
        expect: &["in.csv: line 3: 1 field(s) but the header has 3, so column \"text\""],
    },
    Row {
        name: "a CSV row with an unquoted comma",
        files: &[("in.csv", "id,text\n1,hello\n2,hello, world\n")],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.csv"],
        stdin: "",
        expect: &["in.csv: line 3: 3 field(s) but the header has 2", "quote"],
    },
    Row {
        name: "a ragged TSV row on stdin",
        files: &[],
        args: &["--labels", "a,b", "--field", "text"],
        stdin: "id\ttext\n1\thello\n2\n",
        expect: &["<stdin>: line 3: 1 field(s) but the header has 2"],
    },
    Row {
        name: "a CSV without the column",
        files: &[("in.csv", "id,body\n1,hello\n")],
        args: &["--labels", "a,b", "--field", "text", "--input", "in.csv"],
        stdin: "",
        expect: &["in.csv: no column \"text\" in the header (columns: id, body)"],
    },
    Row {
        name: "an examples line without a tab",
        files: &[("ex.tsv", "a\tone\nno tab here\n")],
        args: &["--labels", "a,b", "--examples", "ex.tsv", "--method", "knn"],
        stdin: "x\n",
        expect: &["ex.tsv: line 2: expected `label<TAB>text`", "found no tab"],
    },
    Row {
        name: "an examples line with an empty label",
        files: &[("ex.tsv", "a\tone\n\tno label\n")],
        args: &["--labels", "a,b", "--examples", "ex.tsv", "--method", "knn"],
        stdin: "x\n",
        expect: &["ex.tsv: line 2: empty label before the tab"],
    },
    Row {
        name: "an examples file with no examples",
        files: &[("ex.tsv", "\n\n")],
        args: &["--labels", "a,b", "--examples", "ex.tsv", "--method", "knn"],
        stdin: "x\n",
        expect: &["ex.tsv: no labelled examples"],
    },
    Row {
        name: "a missing examples file",
        files: &[],
        args: &["--labels", "a,b", "--examples", "nope.tsv"],
        stdin: "x\n",
        expect: &["nope.tsv: No such file or directory"],
    },
    Row {
        name: "--examples-index of a missing index",
        files: &[],
        args: &[
            "--labels",
            "a,b",
            "--examples-index",
            "nope",
            "--method",
            "knn",
        ],
        stdin: "x\n",
        expect: &["index 'nope' does not exist"],
    },
    Row {
        name: "--examples-index of a missing index, model method",
        files: &[],
        args: &["--labels", "a,b", "--examples-index", "nope"],
        stdin: "x\n",
        expect: &["index 'nope' does not exist"],
    },
];

#[test]
fn classify_rows() {
    for row in ROWS {
        let env = TestEnv::new();
        for (path, text) in row.files {
            env.write(&format!("work/{path}"), text);
        }
        // No model: a row that got as far as loading one would exit 3.
        let out = env
            .bare()
            .env("LORE_MODELS_DIR", env.path("no-models"))
            .env("RUST_BACKTRACE", "1")
            .arg("classify")
            .args(row.args)
            .write_stdin(row.stdin)
            .timeout(TIMEOUT)
            .output()
            .unwrap();
        let what = format!("{} (lore classify {})", row.name, row.args.join(" "));
        assert_one_error(&what, &out, 2, row.expect);
        assert!(files_under(&env.path("data")).is_empty(), "{what}");
    }
}

#[test]
fn three_hundred_labels_with_knn() {
    let env = TestEnv::new();
    let labels: Vec<String> = (0..300).map(|i| format!("topic{i:03}")).collect();
    let examples: String = labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{l}\tword{l} alpha{i} thing\n{l}\tword{l} beta{i}\n"))
        .collect();
    env.write("work/ex.tsv", &examples);
    let items: String = labels
        .iter()
        .map(|l| format!("something about word{l}\n"))
        .collect();
    for how in ["--labels", "--labels-file"] {
        let list = if how == "--labels" {
            labels.join(",")
        } else {
            env.write("work/labels.txt", &labels.join("\n"));
            "labels.txt".to_string()
        };
        let out = env
            .bare()
            .env("LORE_MODELS_DIR", env.path("no-models"))
            .env("RUST_BACKTRACE", "1")
            .args(["classify", how, &list, "--examples", "ex.tsv"])
            .args(["--method", "knn", "-k", "3"])
            .write_stdin(items.clone())
            .timeout(TIMEOUT)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_no_panic(how, &err);
        assert!(out.status.success(), "{how}: {err}");
        let rows: Vec<serde_json::Value> = stdout_of(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 300);
        for (i, r) in rows.iter().enumerate() {
            // Each item names its own label's words: the vote finds it.
            assert_eq!(r["label"], labels[i].as_str(), "{how}: {r}");
            assert_eq!(r["scores"].as_object().unwrap().len(), 300);
        }
        // On a pipe there is no progress bar; the rate comes at the end,
        // as the only line.
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{how}: {err}");
        assert!(
            lines[0].starts_with("lore: classified 300 item(s) in ")
                && lines[0].contains("items/s"),
            "{how}: {err}"
        );
    }
}
