//! Customer turns from a script file or stdin.

use std::path::Path;

use crate::tasks::TaskError;

/// Customer turns from a script: a JSON list of strings, a YAML list
/// (`- text` lines), or one turn per line (`#` comments and blank lines
/// skipped).
pub fn read_script(text: &str, from: &Path) -> Result<Vec<String>, TaskError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| {
            TaskError::Input(format!(
                "{}: not a JSON list of strings: {e}",
                from.display()
            ))
        });
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "---")
        .collect();
    let yaml = lines.iter().all(|l| l.starts_with("- "));
    let turns: Vec<String> = lines
        .iter()
        .map(|l| {
            let l = if yaml { &l[2..] } else { l };
            let l = l.trim();
            // YAML scalars may be quoted.
            let unquoted = l
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| l.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')));
            unquoted.unwrap_or(l).to_string()
        })
        .collect();
    if turns.is_empty() {
        return Err(TaskError::Input(format!(
            "{}: no customer turns (one per line, or a JSON/YAML list)",
            from.display()
        )));
    }
    Ok(turns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_lines_json_or_yaml_lists() {
        let p = Path::new("d.txt");
        assert_eq!(
            read_script("# c\nHi\n\nWhere is my parcel?\n", p).unwrap(),
            ["Hi", "Where is my parcel?"]
        );
        assert_eq!(read_script("[\"a\", \"b\"]", p).unwrap(), ["a", "b"]);
        assert_eq!(
            read_script("---\n- \"hello: there\"\n- bye\n", p).unwrap(),
            ["hello: there", "bye"]
        );
        assert!(read_script("\n# only comments\n", p).is_err());
        assert!(read_script("[1, 2]", p).is_err());
    }
}
