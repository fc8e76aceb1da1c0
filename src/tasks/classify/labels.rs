//! The label set: from a comma-separated list or a labels file.

use std::path::Path;

use serde::Serialize;

use super::ClassifyError;

/// One label of the set, with an optional description shown to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The label set as given, checked: no tab or newline in a name (they
/// would break `label<TAB>text` output), no two labels that differ only in
/// case (the first-token scores compare labels ignoring case, so such a
/// pair could never be told apart), and at least two.
fn check_labels(labels: Vec<Label>, from: &str) -> Result<Vec<Label>, ClassifyError> {
    let mut out: Vec<Label> = Vec::new();
    for l in labels {
        if l.name.is_empty() {
            return Err(ClassifyError::Labels(format!(
                "{from}: a label has an empty name"
            )));
        }
        if l.name.contains(['\n', '\t']) {
            return Err(ClassifyError::Labels(format!(
                "{from}: label {:?} contains a tab or newline",
                l.name
            )));
        }
        if let Some(first) = out
            .iter()
            .find(|o| o.name.to_lowercase() == l.name.to_lowercase())
        {
            let message = if first.name == l.name {
                format!("{from}: label {:?} is given twice", l.name)
            } else {
                format!(
                    "{from}: labels {:?} and {:?} differ only in case; labels are compared ignoring case, so give one of them",
                    first.name, l.name
                )
            };
            return Err(ClassifyError::Labels(message));
        }
        out.push(l);
    }
    if out.len() < 2 {
        return Err(ClassifyError::Labels(format!(
            "{from}: needs at least two distinct labels, got {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Labels from `a,b,c`. An empty label (`a,,b`, or a comma at either
/// end) is an error rather than skipped: it is usually a typo for a label
/// that was meant to be there.
pub fn labels_from_list(list: &str) -> Result<Vec<Label>, ClassifyError> {
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    // A blank list is reported by the count check ("got 0").
    if names.len() > 1 {
        if let Some(i) = names.iter().position(|n| n.is_empty()) {
            let place = if i == 0 {
                "before the first comma".to_string()
            } else if i == names.len() - 1 {
                "after the last comma".to_string()
            } else {
                format!("between commas (after {:?})", names[i - 1])
            };
            return Err(ClassifyError::Labels(format!(
                "--labels: empty label {place} in {list:?}"
            )));
        }
    }
    let labels = names
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| Label {
            name: s.to_string(),
            description: None,
        })
        .collect();
    check_labels(labels, "--labels")
}

/// Labels from a file: `.toml` (`[labels]` table of name = "description",
/// or `labels = ["a", "b"]`), or text with one label per line, optionally
/// `name: description`; `#` starts a comment line.
pub fn labels_from_file(path: &Path) -> Result<Vec<Label>, ClassifyError> {
    let from = path.display().to_string();
    let err = |message: String| ClassifyError::Input {
        path: from.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let labels = if path.extension().is_some_and(|e| e == "toml") {
        labels_from_toml(&text).map_err(err)?
    } else {
        labels_from_lines(&text)
    };
    check_labels(labels, &from)
}

/// `labels = ["a", "b"]` or a `[labels]` table of name = "description";
/// the error is the message only (the caller adds the path).
fn labels_from_toml(text: &str) -> Result<Vec<Label>, String> {
    let v: toml::Table = toml::from_str(text).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string()
    })?;
    match v.get("labels") {
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| Label {
                        name: s.trim().to_string(),
                        description: None,
                    })
                    .ok_or_else(|| "labels must be strings".to_string())
            })
            .collect(),
        Some(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|d| Label {
                        name: k.trim().to_string(),
                        description: Some(d.trim().to_string()).filter(|d| !d.is_empty()),
                    })
                    .ok_or_else(|| format!("labels.{k} must be a description string"))
            })
            .collect(),
        _ => Err(
            "expected `labels = [\"a\", \"b\"]` or a [labels] table of name = \"description\""
                .into(),
        ),
    }
}

/// One `name[: description]` per line; blank and `#` lines are skipped.
fn labels_from_lines(text: &str) -> Vec<Label> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(':') {
            Some((n, d)) => Label {
                name: n.trim().to_string(),
                description: Some(d.trim().to_string()).filter(|d| !d.is_empty()),
            },
            None => Label {
                name: l.to_string(),
                description: None,
            },
        })
        .collect()
}

#[cfg(test)]
pub(crate) fn labels(names: &[&str]) -> Vec<Label> {
    names
        .iter()
        .map(|n| Label {
            name: n.to_string(),
            description: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_error(list: &str) -> String {
        labels_from_list(list).unwrap_err().to_string()
    }

    #[test]
    fn label_lists_need_two_distinct_labels() {
        assert_eq!(labels_from_list(" a , b ").unwrap(), labels(&["a", "b"]));
        assert!(list_error("a").contains("at least two"));
        assert!(list_error("").contains("got 0"));
        assert!(list_error(" , ").contains("empty label"));
    }

    #[test]
    fn empty_labels_between_commas_are_errors() {
        let e = list_error("a,,b");
        assert!(e.contains("empty label between commas"), "{e}");
        assert!(e.contains("\"a,,b\""), "{e}");
        assert!(list_error("a, ,b").contains("empty label between commas"));
        assert!(list_error(",a,b").contains("before the first comma"));
        assert!(list_error("a,b,").contains("after the last comma"));
    }

    #[test]
    fn duplicate_labels_are_errors_ignoring_case() {
        assert!(list_error("a,b,a").contains("\"a\" is given twice"));
        let e = list_error("Billing,bug,billing");
        assert!(
            e.contains("\"Billing\" and \"billing\" differ only in case"),
            "{e}"
        );
        // Case folding beyond ASCII, as the scorer does it.
        assert!(list_error("Ärger,ärger").contains("differ only in case"));
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("l.txt");
        std::fs::write(&txt, "pos\nneg\nPOS: again\n").unwrap();
        let e = labels_from_file(&txt).unwrap_err().to_string();
        assert!(
            e.contains("l.txt") && e.contains("differ only in case"),
            "{e}"
        );
        std::fs::write(&txt, "pos\n: no name\nneg\n").unwrap();
        let e = labels_from_file(&txt).unwrap_err().to_string();
        assert!(e.contains("empty name"), "{e}");
    }

    #[test]
    fn label_files_in_toml_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("l.toml");
        std::fs::write(&toml, "[labels]\nbilling = \"money\"\nbug = \"\"\n").unwrap();
        let l = labels_from_file(&toml).unwrap();
        assert_eq!(l[0].description.as_deref(), Some("money"));
        assert_eq!(l[1].description, None);
        std::fs::write(&toml, "labels = [\"x\", \"y\"]\n").unwrap();
        assert_eq!(labels_from_file(&toml).unwrap().len(), 2);
        std::fs::write(&toml, "labels = [").unwrap();
        assert!(labels_from_file(&toml)
            .unwrap_err()
            .to_string()
            .contains("l.toml"));
        let txt = dir.path().join("l.txt");
        std::fs::write(&txt, "# c\npos: happy\nneg\n\n").unwrap();
        assert_eq!(labels_from_file(&txt).unwrap(), {
            let mut l = labels(&["pos", "neg"]);
            l[0].description = Some("happy".into());
            l
        });
    }
}
