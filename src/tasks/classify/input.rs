//! The items to classify: plain lines, `label<TAB>text` lines, JSONL rows
//! or CSV/TSV rows with a header.

use super::ClassifyError;

/// One text to classify.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub text: String,
    pub gold: Option<String>,
}

/// How input lines become items.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// JSONL field or CSV/TSV column (header required) holding the text.
    pub field: Option<String>,
    /// Field or column holding the gold label (for `--eval`).
    pub gold_field: Option<String>,
    /// Gold labels are wanted: without `gold_field`, lines are
    /// `label<TAB>text`.
    pub eval: bool,
}

/// Items read from `text`, and the number of empty lines skipped.
pub fn read_items(
    text: &str,
    spec: &InputSpec,
    from: &str,
) -> Result<(Vec<Item>, usize), ClassifyError> {
    let err = |message: String| ClassifyError::Input {
        path: from.to_string(),
        message,
    };
    let result = if spec.field.is_some() || spec.gold_field.is_some() {
        let text_field = spec.field.as_deref().unwrap_or("text");
        let gold_field = spec.gold_field.as_deref();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if first.trim_start().starts_with('{') {
            jsonl_items(text, text_field, gold_field)
        } else {
            let delimiter = if first.contains('\t') { b'\t' } else { b',' };
            csv_items(text, delimiter, text_field, gold_field)
        }
    } else {
        line_items(text, spec.eval)
    };
    result.map_err(err)
}

/// Items and empty lines skipped; errors are messages without the source.
type Read = Result<(Vec<Item>, usize), String>;

/// One JSON object per line; ids from `id` or `_id`, else the line number.
fn jsonl_items(text: &str, text_field: &str, gold_field: Option<&str>) -> Read {
    let mut items = Vec::new();
    let mut empty = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            empty += 1;
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", n + 1))?;
        if !v.is_object() {
            return Err(format!("line {}: not a JSON object", n + 1));
        }
        let get = |f: &str| -> Result<String, String> {
            match v.get(f) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Null) | None => Err(format!(
                    "line {}: no field {f:?} (fields: {})",
                    n + 1,
                    v.as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                )),
                Some(other) => Ok(other.to_string()),
            }
        };
        let body = get(text_field)?;
        if body.trim().is_empty() {
            empty += 1;
            continue;
        }
        let id = v
            .get("id")
            .or_else(|| v.get("_id"))
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .unwrap_or_else(|| (n + 1).to_string());
        let gold = gold_field.map(get).transpose()?;
        items.push(Item {
            id,
            text: body,
            gold,
        });
    }
    Ok((items, empty))
}

/// CSV or TSV with a header naming the columns; ids from an `id` or `_id`
/// column, else the row number.
fn csv_items(text: &str, delimiter: u8, text_field: &str, gold_field: Option<&str>) -> Read {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = |f: &str| {
        headers.iter().position(|h| h.trim() == f).ok_or_else(|| {
            format!(
                "no column {f:?} in the header (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let text_col = column(text_field)?;
    let gold_col = gold_field.map(column).transpose()?;
    let id_col = headers.iter().position(|h| h == "id" || h == "_id");
    let mut items = Vec::new();
    let mut empty = 0;
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", n + 2))?;
        // A ragged row is usually an unquoted delimiter inside a value:
        // reading it by position would take the wrong column.
        if record.len() != headers.len() {
            return Err(format!(
                "line {}: {} field(s) but the header has {}, so column {text_field:?} cannot be read (quote values that hold the delimiter)",
                record.position().map_or(n as u64 + 2, |p| p.line()),
                record.len(),
                headers.len()
            ));
        }
        let body = record.get(text_col).unwrap_or("").to_string();
        if body.trim().is_empty() {
            empty += 1;
            continue;
        }
        items.push(Item {
            id: id_col
                .and_then(|c| record.get(c))
                .map(String::from)
                .unwrap_or_else(|| (n + 1).to_string()),
            text: body,
            gold: gold_col.and_then(|c| record.get(c)).map(String::from),
        });
    }
    Ok((items, empty))
}

/// One item per line, or with `eval` one `label<TAB>text` per line (a
/// `label<TAB>text` header is skipped); ids are line numbers.
fn line_items(text: &str, eval: bool) -> Read {
    let mut items = Vec::new();
    let mut empty = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            empty += 1;
            continue;
        }
        if !eval {
            items.push(Item {
                id: (n + 1).to_string(),
                text: line.to_string(),
                gold: None,
            });
            continue;
        }
        if n == 0 && line.trim().eq_ignore_ascii_case("label\ttext") {
            continue;
        }
        let Some((gold, body)) = line.split_once('\t') else {
            return Err(format!(
                "line {}: expected `label<TAB>text` (or --gold-field with --eval), found no tab",
                n + 1
            ));
        };
        if gold.trim().is_empty() {
            return Err(format!("line {}: empty label before the tab", n + 1));
        }
        items.push(Item {
            id: (n + 1).to_string(),
            text: body.to_string(),
            gold: Some(gold.trim().to_string()),
        });
    }
    Ok((items, empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_from_lines_jsonl_and_csv() {
        let spec = InputSpec::default();
        let (items, empty) = read_items("a\n\nb\n", &spec, "-").unwrap();
        assert_eq!((items.len(), empty, items[1].id.as_str()), (2, 1, "3"));
        let spec = InputSpec {
            field: Some("body".into()),
            gold_field: Some("y".into()),
            eval: true,
        };
        let (items, _) =
            read_items("{\"id\":7,\"body\":\"hi\",\"y\":\"pos\"}\n", &spec, "-").unwrap();
        assert_eq!(
            items[0],
            Item {
                id: "7".into(),
                text: "hi".into(),
                gold: Some("pos".into())
            }
        );
        let (items, _) = read_items("y,body\npos,\"hi, there\"\n", &spec, "-").unwrap();
        assert_eq!(items[0].text, "hi, there");
        let e = read_items("y\tother\npos\thi\n", &spec, "f.tsv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column \"body\"") && e.contains("y, other"),
            "{e}"
        );
        let e = read_items("{\"x\":1}\n", &spec, "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: no field \"body\""), "{e}");
        let eval = InputSpec {
            eval: true,
            ..InputSpec::default()
        };
        let (items, _) = read_items("label\ttext\npos\tgreat\n", &eval, "-").unwrap();
        assert_eq!(items.len(), 1);
        assert!(read_items("no tab here\n", &eval, "-").is_err());
    }
}
