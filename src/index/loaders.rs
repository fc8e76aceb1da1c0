//! Turning files into documents: text, Markdown, reStructuredText, HTML,
//! PDF, source code, and JSONL/CSV/TSV rows (one document per row).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chunk::Markup;

/// One indexable document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Unique within the index: the file path, or `path#row-id` for rows.
    pub key: String,
    pub title: String,
    pub text: String,
    pub markup: Markup,
    /// For labelled examples (classification).
    pub label: Option<String>,
}

/// Which fields of JSONL/CSV/TSV rows hold what. The flags of
/// `lore index add` that set them are `cli::index::CliRowFields`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowFields {
    /// JSONL/CSV/TSV: the field holding the text (default: text)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// JSONL/CSV/TSV: the field holding a row id (default: _id or id, else the row number)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// JSONL/CSV/TSV: the field holding a title (default: title when present)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// JSONL/CSV/TSV: the field holding a label (labelled examples)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Why a file was not indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("binary file")]
    Binary,
    #[error("not valid UTF-8")]
    InvalidUtf8,
    #[error("larger than {limit_mb} MB")]
    TooLarge { limit_mb: u64 },
    #[error("no text")]
    Empty,
    #[error("{0}")]
    Unreadable(String),
}

impl Skip {
    /// A short category for summaries.
    pub fn category(&self) -> &'static str {
        match self {
            Skip::Binary => "binary",
            Skip::InvalidUtf8 => "invalid UTF-8",
            Skip::TooLarge { .. } => "too large",
            Skip::Empty => "empty",
            Skip::Unreadable(_) => "unreadable",
        }
    }
}

/// How much of the start of a file (or of piped text) [`looks_binary`]
/// reads: git's figure, enough for any binary format to show itself.
pub const SNIFF_BYTES: usize = 8000;

/// Why bytes were taken for binary data rather than text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryEvidence {
    /// A NUL byte at this offset.
    Nul { offset: usize },
    /// `suspicious` of the first `sample` bytes are invalid UTF-8 or
    /// control characters.
    NotText { suspicious: usize, sample: usize },
}

impl std::fmt::Display for BinaryEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            BinaryEvidence::Nul { offset } => write!(f, "a NUL byte at offset {offset}"),
            BinaryEvidence::NotText { suspicious, sample } => write!(
                f,
                "{}% of the first {sample} bytes are invalid UTF-8 or control characters",
                suspicious * 100 / sample.max(1)
            ),
        }
    }
}

/// The one rule for "this is binary, not text", shared by `lore index add`
/// and everything that reads stdin or an input file. In the first
/// [`SNIFF_BYTES`] bytes: a NUL byte (git's rule), or more than 30% of the
/// bytes in invalid UTF-8 sequences or control characters other than tab,
/// newline, carriage return, form feed, vertical tab, backspace (overstruck
/// man pages) and escape (coloured logs). Text in a legacy 8-bit encoding
/// with a few accented letters stays under that share: it is text with
/// some invalid bytes, which callers replace or skip as they document.
pub fn looks_binary(bytes: &[u8]) -> Option<BinaryEvidence> {
    let sample = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if let Some(offset) = sample.iter().position(|&b| b == 0) {
        return Some(BinaryEvidence::Nul { offset });
    }
    let mut suspicious = 0;
    for piece in sample.utf8_chunks() {
        // A sequence cut by the end of the sample counts too: at most 3
        // bytes, which cannot tip the share.
        suspicious += piece.invalid().len();
        suspicious += piece
            .valid()
            .chars()
            .filter(|c| {
                c.is_control()
                    && !matches!(c, '\t' | '\n' | '\r' | '\x0b' | '\x0c' | '\x08' | '\x1b')
            })
            .map(char::len_utf8)
            .sum::<usize>();
    }
    (suspicious * 10 > sample.len() * 3).then_some(BinaryEvidence::NotText {
        suspicious,
        sample: sample.len(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Markdown,
    Rst,
    Html,
    Pdf,
    Jsonl,
    Csv,
    Tsv,
    Text,
}

fn kind_of(path: &Path) -> Kind {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" | "mdx" | "mkd" => Kind::Markdown,
        "rst" => Kind::Rst,
        "html" | "htm" | "xhtml" => Kind::Html,
        "pdf" => Kind::Pdf,
        "jsonl" | "ndjson" => Kind::Jsonl,
        "csv" => Kind::Csv,
        "tsv" => Kind::Tsv,
        _ => Kind::Text,
    }
}

/// Reads `bytes` (the content of `path`) into documents.
pub fn load(path: &Path, bytes: &[u8], rows: &RowFields) -> Result<Vec<Document>, Skip> {
    let key = path.display().to_string();
    let kind = kind_of(path);
    if kind == Kind::Pdf {
        return load_pdf(&key, path, bytes);
    }
    if looks_binary(bytes).is_some() {
        return Err(Skip::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Skip::InvalidUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| key.clone());
    let docs = match kind {
        Kind::Markdown => vec![Document {
            title: markdown_title(text).unwrap_or(stem),
            key,
            text: text.to_string(),
            markup: Markup::Markdown,
            label: None,
        }],
        Kind::Rst => vec![Document {
            title: rst_title(text).unwrap_or(stem),
            key,
            text: text.to_string(),
            markup: Markup::Rst,
            label: None,
        }],
        Kind::Html => {
            let (title, body) = html_text(text);
            vec![Document {
                title: title.unwrap_or(stem),
                key,
                text: body,
                markup: Markup::Markdown,
                label: None,
            }]
        }
        Kind::Jsonl => jsonl_rows(&key, text, rows)?,
        Kind::Csv => delimited_rows(&key, text, b',', rows)?,
        Kind::Tsv => delimited_rows(&key, text, b'\t', rows)?,
        Kind::Text | Kind::Pdf => vec![Document {
            title: path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(stem),
            key,
            text: text.to_string(),
            markup: Markup::Plain,
            label: None,
        }],
    };
    let docs: Vec<Document> = docs
        .into_iter()
        .filter(|d| !d.text.trim().is_empty())
        .collect();
    if docs.is_empty() {
        return Err(Skip::Empty);
    }
    Ok(docs)
}

fn markdown_title(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn rst_title(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines.windows(2).find_map(|w| {
        let under = w[1].trim_end();
        let c = under.chars().next()?;
        let title = w[0].trim();
        (!title.is_empty()
            && c.is_ascii_punctuation()
            && under.len() >= title.chars().count().max(3)
            && under.chars().all(|x| x == c))
        .then(|| title.to_string())
    })
}

/// Visible text of an HTML page with headings written as Markdown
/// headings (so the chunker sees the structure), and its `<title>`.
/// Scripts, styles and other invisible elements are dropped.
pub fn html_text(html: &str) -> (Option<String>, String) {
    use scraper::{Html, Selector};
    let doc = Html::parse_document(html);
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .map(|t| {
            t.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t| !t.is_empty());
    let root = Selector::parse("body")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .map(|b| *b)
        .unwrap_or_else(|| *doc.root_element());

    let mut out = String::new();
    walk(root, &mut out);
    (title, out.trim().to_string() + "\n")
}

/// Appends the visible text under `node` to `out`.
fn walk(node: ego_tree::NodeRef<'_, scraper::Node>, out: &mut String) {
    use scraper::Node;
    match node.value() {
        Node::Text(t) => {
            let collapsed: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if !collapsed.is_empty() {
                if t.starts_with(char::is_whitespace)
                    && !out.ends_with([' ', '\n'])
                    && !out.is_empty()
                {
                    out.push(' ');
                }
                out.push_str(&collapsed);
                if t.ends_with(char::is_whitespace) {
                    out.push(' ');
                }
            }
        }
        Node::Element(e) => {
            let name = e.name();
            if matches!(
                name,
                "script" | "style" | "noscript" | "template" | "head" | "svg" | "iframe" | "button"
            ) {
                return;
            }
            let heading = match name {
                "h1" => Some(1),
                "h2" => Some(2),
                "h3" => Some(3),
                "h4" => Some(4),
                "h5" => Some(5),
                "h6" => Some(6),
                _ => None,
            };
            let block = heading.is_some()
                || matches!(
                    name,
                    "p" | "div"
                        | "section"
                        | "article"
                        | "main"
                        | "header"
                        | "footer"
                        | "nav"
                        | "aside"
                        | "ul"
                        | "ol"
                        | "li"
                        | "table"
                        | "tr"
                        | "pre"
                        | "blockquote"
                        | "dl"
                        | "dt"
                        | "dd"
                        | "figure"
                        | "form"
                        | "br"
                        | "hr"
                );
            if block {
                paragraph_break(out);
            }
            if let Some(level) = heading {
                out.push_str(&"#".repeat(level));
                out.push(' ');
            }
            if name == "li" {
                out.push_str("- ");
            }
            for child in node.children() {
                walk(child, out);
            }
            if block {
                paragraph_break(out);
            } else if matches!(name, "td" | "th") {
                out.push(' ');
            }
        }
        _ => {
            for child in node.children() {
                walk(child, out);
            }
        }
    }
}
/// Ends the current paragraph with one blank line.
fn paragraph_break(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
}

fn load_pdf(key: &str, path: &Path, bytes: &[u8]) -> Result<Vec<Document>, Skip> {
    // pdf-extract panics on some malformed files; a bad PDF must only be
    // skipped, never abort the run.
    let owned = bytes.to_vec();
    let result = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned));
    let text = match result {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(Skip::Unreadable(format!("PDF: {e}"))),
        Err(_) => return Err(Skip::Unreadable("PDF could not be parsed".into())),
    };
    if text.trim().is_empty() {
        return Err(Skip::Empty);
    }
    Ok(vec![Document {
        key: key.to_string(),
        title: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        text,
        markup: Markup::Plain,
        label: None,
    }])
}

fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn jsonl_rows(key: &str, text: &str, f: &RowFields) -> Result<Vec<Document>, Skip> {
    let text_field = f.text.as_deref().unwrap_or("text");
    let mut docs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Skip::Unreadable(format!("line {}: invalid JSON ({e})", n + 1)))?;
        let obj = row
            .as_object()
            .ok_or_else(|| Skip::Unreadable(format!("line {}: not a JSON object", n + 1)))?;
        let Some(body) = obj.get(text_field).and_then(value_text) else {
            return Err(Skip::Unreadable(format!(
                "line {}: no field '{text_field}' (use --text-field)",
                n + 1
            )));
        };
        let id = match &f.id {
            Some(field) => obj.get(field).and_then(value_text).ok_or_else(|| {
                Skip::Unreadable(format!("line {}: no id field '{field}'", n + 1))
            })?,
            None => ["_id", "id"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(value_text))
                .unwrap_or_else(|| (n + 1).to_string()),
        };
        let title = obj
            .get(f.title.as_deref().unwrap_or("title"))
            .and_then(value_text)
            .unwrap_or_else(|| id.clone());
        let label = match &f.label {
            Some(field) => Some(obj.get(field).and_then(value_text).ok_or_else(|| {
                Skip::Unreadable(format!("line {}: no label field '{field}'", n + 1))
            })?),
            None => None,
        };
        docs.push(Document {
            key: format!("{key}#{id}"),
            title,
            text: body,
            markup: Markup::Plain,
            label,
        });
    }
    Ok(docs)
}

fn delimited_rows(
    key: &str,
    text: &str,
    delimiter: u8,
    f: &RowFields,
) -> Result<Vec<Document>, Skip> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Skip::Unreadable(format!("header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let text_name = f.text.as_deref().unwrap_or("text");
    let text_col = col(text_name).ok_or_else(|| {
        Skip::Unreadable(format!(
            "no column '{text_name}' (columns: {}; use --text-field)",
            headers.iter().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let id_col = match &f.id {
        Some(name) => {
            Some(col(name).ok_or_else(|| Skip::Unreadable(format!("no id column '{name}'")))?)
        }
        None => col("_id").or_else(|| col("id")),
    };
    let title_col = col(f.title.as_deref().unwrap_or("title"));
    let label_col = match &f.label {
        Some(name) => {
            Some(col(name).ok_or_else(|| Skip::Unreadable(format!("no label column '{name}'")))?)
        }
        None => None,
    };
    let mut docs = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Skip::Unreadable(format!("row {}: {e}", n + 1)))?;
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::to_string);
        let id = get(id_col).unwrap_or_else(|| (n + 1).to_string());
        docs.push(Document {
            key: format!("{key}#{id}"),
            title: get(title_col).unwrap_or_else(|| id.clone()),
            text: get(Some(text_col)).unwrap_or_default(),
            markup: Markup::Plain,
            label: get(label_col),
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(name: &str, text: &str) -> Result<Vec<Document>, Skip> {
        load(Path::new(name), text.as_bytes(), &RowFields::default())
    }

    #[test]
    fn markdown_title_from_first_heading() {
        let d = load_str("a/returns.md", "# Returns policy\n\nThirty days.\n").unwrap();
        assert_eq!(d[0].title, "Returns policy");
        assert_eq!(d[0].markup, Markup::Markdown);
        assert_eq!(d[0].key, "a/returns.md");
    }

    #[test]
    fn rst_title_from_underlined_line() {
        let d = load_str("guide.rst", "Install guide\n=============\n\nRun it.\n").unwrap();
        assert_eq!(d[0].title, "Install guide");
        assert_eq!(d[0].markup, Markup::Rst);
    }

    #[test]
    fn html_keeps_visible_text_and_title_drops_scripts() {
        let html = "<html><head><title> Help  Centre </title><style>p{color:red}</style></head>\
            <body><h1>Refunds</h1><p>Refunds take <b>5 days</b>.</p><script>var x = 1;</script>\
            <ul><li>One</li><li>Two</li></ul></body></html>";
        let d = load_str("page.html", html).unwrap();
        assert_eq!(d[0].title, "Help Centre");
        let t = &d[0].text;
        assert!(t.contains("# Refunds"), "{t}");
        assert!(t.contains("Refunds take 5 days."), "{t}");
        assert!(t.contains("- One"), "{t}");
        assert!(!t.contains("var x") && !t.contains("color:red"), "{t}");
    }

    #[test]
    fn code_and_text_are_plain() {
        let d = load_str("src/main.rs", "fn main() {}\n").unwrap();
        assert_eq!(d[0].markup, Markup::Plain);
        assert_eq!(d[0].title, "main.rs");
    }

    #[test]
    fn jsonl_rows_become_documents() {
        let text = "{\"_id\": \"a1\", \"title\": \"T\", \"text\": \"hello\"}\n\n{\"id\": 7, \"text\": \"bye\"}\n";
        let d = load_str("c.jsonl", text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].key, "c.jsonl#a1");
        assert_eq!(d[0].title, "T");
        assert_eq!(d[1].key, "c.jsonl#7");
    }

    #[test]
    fn jsonl_custom_fields_and_missing_field_error() {
        let rows = RowFields {
            text: Some("body".into()),
            id: Some("n".into()),
            label: Some("y".into()),
            ..Default::default()
        };
        let d = load(
            Path::new("x.jsonl"),
            b"{\"n\":\"1\",\"body\":\"b\",\"y\":\"spam\"}",
            &rows,
        )
        .unwrap();
        assert_eq!(d[0].label.as_deref(), Some("spam"));
        let err = load_str("x.jsonl", "{\"body\": 1}").unwrap_err();
        assert!(err.to_string().contains("--text-field"), "{err}");
    }

    #[test]
    fn csv_and_tsv_rows() {
        let d = load_str("t.csv", "id,text\n1,\"hello, world\"\n2,bye\n").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].text, "hello, world");
        assert_eq!(d[1].key, "t.csv#2");
        let rows = RowFields {
            label: Some("label".into()),
            ..Default::default()
        };
        let d = load(
            Path::new("t.tsv"),
            b"label\ttext\nDate\tWhen was it?\n",
            &rows,
        )
        .unwrap();
        assert_eq!(d[0].label.as_deref(), Some("Date"));
        assert_eq!(d[0].key, "t.tsv#1");
    }

    #[test]
    fn binary_invalid_utf8_and_empty_are_skipped() {
        assert_eq!(
            load(Path::new("a.bin"), b"ab\0cd", &RowFields::default()),
            Err(Skip::Binary)
        );
        assert_eq!(
            load(Path::new("a.txt"), b"ab\xffcd", &RowFields::default()),
            Err(Skip::InvalidUtf8)
        );
        assert_eq!(load_str("a.txt", "  \n"), Err(Skip::Empty));
        // Mostly undecodable bytes without a NUL are binary too.
        let noise: Vec<u8> = (0..600u32).map(|i| 0x80 + (i * 37 % 0x7f) as u8).collect();
        assert_eq!(
            load(Path::new("noise.txt"), &noise, &RowFields::default()),
            Err(Skip::Binary)
        );
    }

    #[test]
    fn binary_rule() {
        assert_eq!(
            looks_binary(b"hello\0"),
            Some(BinaryEvidence::Nul { offset: 5 })
        );
        // A NUL past the sample is not looked at.
        let mut late = vec![b'a'; SNIFF_BYTES];
        late.push(0);
        assert_eq!(looks_binary(&late), None);
        // A few invalid bytes (Latin-1 accents), tabs, escapes, backspaces
        // and CJK are text.
        assert_eq!(
            looks_binary(b"caf\xe9 au lait, cr\xe8me br\xfbl\xe9e\n"),
            None
        );
        assert_eq!(looks_binary(b"a\tb\r\n\x1b[31mred\x1b[0m N\x08N\x0c"), None);
        assert_eq!(looks_binary("退货政策：三十天内。\n".as_bytes()), None);
        assert_eq!(looks_binary(b""), None);
        // Control characters or undecodable bytes past 30% are not.
        let controls = b"\x01\x02\x03\x04ab";
        assert!(matches!(
            looks_binary(controls),
            Some(BinaryEvidence::NotText {
                suspicious: 4,
                sample: 6
            })
        ));
        let e = looks_binary(b"\xff\xfe\xfd\xfcabcdef").unwrap();
        assert_eq!(
            e.to_string(),
            "40% of the first 10 bytes are invalid UTF-8 or control characters"
        );
    }

    /// A one-page PDF with correct cross-reference offsets.
    fn tiny_pdf(text: &str) -> Vec<u8> {
        let stream = format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET");
        let objs = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
        ];
        let mut out = String::from("%PDF-1.4\n");
        let mut offsets = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
        }
        let xref = out.len();
        out.push_str(&format!(
            "xref\n0 {}\n0000000000 65535 f \n",
            objs.len() + 1
        ));
        for off in offsets {
            out.push_str(&format!("{off:010} 00000 n \n"));
        }
        out.push_str(&format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        ));
        out.into_bytes()
    }

    #[test]
    fn pdf_text_is_extracted() {
        let d = load(
            Path::new("docs/warranty.pdf"),
            &tiny_pdf("Warranty lasts two years"),
            &RowFields::default(),
        )
        .unwrap();
        assert!(
            d[0].text.contains("Warranty lasts two years"),
            "{:?}",
            d[0].text
        );
        assert_eq!(d[0].title, "warranty");
    }

    #[test]
    fn broken_pdf_is_skipped_not_fatal() {
        let err = load(
            Path::new("a.pdf"),
            b"%PDF-1.4 garbage",
            &RowFields::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Skip::Unreadable(_) | Skip::Empty), "{err:?}");
    }
}
