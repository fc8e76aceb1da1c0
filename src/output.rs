//! Output sinks for one-shot commands: plain text, one JSON document, or
//! JSON lines. Tasks write to a [`Sink`] and never know which one.

use std::io::{self, Write};

use serde_json::{json, Value};

/// Receives a task's reply as it streams and its structured result at the end.
pub trait Sink {
    /// A piece of the reply, as generated.
    fn text(&mut self, delta: &str) -> io::Result<()>;
    /// The end of the task: `report` is the whole structured result (it
    /// holds the full text); `footer` is extra text for people (sources).
    fn end(&mut self, report: &Value, footer: Option<&str>) -> io::Result<()>;
    /// The task was interrupted: flush what was produced.
    fn interrupted(&mut self) -> io::Result<()>;
}

/// How results are written: `--format text|json|jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Text,
    Json,
    Jsonl,
}

/// Creates the sink for `format` writing to `out`.
pub fn sink_for<'a, W: Write + 'a>(format: OutputFormat, out: W) -> Box<dyn Sink + 'a> {
    match format {
        OutputFormat::Text => Box::new(TextSink::new(out)),
        OutputFormat::Json => Box::new(JsonSink::new(out, false)),
        OutputFormat::Jsonl => Box::new(JsonSink::new(out, true)),
    }
}

/// Streams text as is; nothing else goes to the output (no ANSI codes).
pub struct TextSink<W: Write> {
    out: W,
    last: Option<char>,
}

impl<W: Write> TextSink<W> {
    pub fn new(out: W) -> Self {
        TextSink { out, last: None }
    }

    fn finish_line(&mut self) -> io::Result<()> {
        if self.last.is_some_and(|c| c != '\n') {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}

impl<W: Write> Sink for TextSink<W> {
    fn text(&mut self, delta: &str) -> io::Result<()> {
        self.out.write_all(delta.as_bytes())?;
        if let Some(c) = delta.chars().last() {
            self.last = Some(c);
        }
        // Flushed per delta so a reader of the pipe sees tokens as they come.
        self.out.flush()
    }

    fn end(&mut self, _report: &Value, footer: Option<&str>) -> io::Result<()> {
        self.finish_line()?;
        if let Some(footer) = footer {
            writeln!(self.out, "\n{}", footer.trim_end())?;
        }
        self.out.flush()
    }

    fn interrupted(&mut self) -> io::Result<()> {
        self.finish_line()
    }
}

/// `json`: one document at the end. `jsonl`: a `{"type":"delta"}` line per
/// piece of text, then the report as a `{"type":"end"}` line.
pub struct JsonSink<W: Write> {
    out: W,
    lines: bool,
    text: String,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W, lines: bool) -> Self {
        JsonSink {
            out,
            lines,
            text: String::new(),
        }
    }

    fn write_value(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn text(&mut self, delta: &str) -> io::Result<()> {
        self.text.push_str(delta);
        if self.lines {
            self.write_value(&json!({"type": "delta", "text": delta}))?;
        }
        Ok(())
    }

    fn end(&mut self, report: &Value, _footer: Option<&str>) -> io::Result<()> {
        if self.lines {
            let mut v = json!({"type": "end"});
            if let (Some(obj), Some(rep)) = (v.as_object_mut(), report.as_object()) {
                obj.extend(rep.clone());
            }
            self.write_value(&v)
        } else {
            self.write_value(report)
        }
    }

    fn interrupted(&mut self) -> io::Result<()> {
        let mut v = json!({"text": self.text, "finish_reason": "interrupted"});
        if self.lines {
            v["type"] = json!("end");
        }
        self.write_value(&v)
    }
}

/// A JSON report with the model facts added, as `--format json` and
/// `lore serve` give it.
pub fn with_model(info: &crate::model::ModelInfo, mut json: Value) -> Value {
    json["model"] = info.report_json();
    json["device"] = json!(info.device);
    json["timings"]["load_s"] = json!(info.load_time.as_secs_f64());
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_sink_streams_and_ends_with_one_newline() {
        let mut buf = Vec::new();
        let mut s = TextSink::new(&mut buf);
        s.text("Hello").unwrap();
        s.text(", world").unwrap();
        s.end(&json!({}), Some("[1] a.md")).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "Hello, world\n\n[1] a.md\n"
        );

        let mut buf = Vec::new();
        let mut s = TextSink::new(&mut buf);
        s.text("done\n").unwrap();
        s.end(&json!({}), None).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "done\n");
    }

    #[test]
    fn json_sink_writes_one_document() {
        let mut buf = Vec::new();
        let mut s = JsonSink::new(&mut buf, false);
        s.text("a").unwrap();
        s.end(&json!({"text": "a", "n": 1}), None).unwrap();
        let out = String::from_utf8(buf).unwrap();
        assert_eq!(out.lines().count(), 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn jsonl_sink_writes_deltas_then_end() {
        let mut buf = Vec::new();
        let mut s = JsonSink::new(&mut buf, true);
        s.text("a").unwrap();
        s.text("b").unwrap();
        s.end(&json!({"text": "ab"}), None).unwrap();
        let lines: Vec<Value> = String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["text"], "b");
        assert_eq!(lines[2]["type"], "end");
        assert_eq!(lines[2]["text"], "ab");
    }

    #[test]
    fn interrupted_json_keeps_partial_text() {
        let mut buf = Vec::new();
        let mut s = JsonSink::new(&mut buf, false);
        s.text("par").unwrap();
        s.interrupted().unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["text"], "par");
        assert_eq!(v["finish_reason"], "interrupted");
    }
}
