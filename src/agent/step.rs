//! What one step's reply means, in either tool-call format: an answer, a
//! call of a known tool with an arguments object, or an invalid call the
//! model is told about so it can try again.

use serde_json::{json, Map, Value};

use super::tools::Registry;
use crate::model::{ToolCall, ToolSpec};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    Answer(String),
    Call {
        tool: String,
        args: Map<String, Value>,
    },
    /// `raw` is what the model wrote, kept for the transcript.
    Invalid {
        raw: String,
        error: String,
    },
}

impl Parsed {
    /// The call as the session log keeps it, in either format:
    /// `{"tool": NAME, ...arguments}`.
    pub fn call_record(tool: &str, args: &Map<String, Value>) -> String {
        let mut m = Map::new();
        m.insert("tool".into(), json!(tool));
        m.extend(args.clone());
        Value::Object(m).to_string()
    }
}

/// A constrained step: the schema admits only a tool call or an answer, so
/// anything else means the engine ignored the constraint, which ends the
/// turn.
pub(crate) fn constrained(reply: &str) -> Result<Parsed, String> {
    let Ok(Value::Object(mut call)) = serde_json::from_str::<Value>(reply.trim()) else {
        if let Some(text) = cut_answer(reply) {
            return Ok(Parsed::Answer(text));
        }
        let shown: String = reply.trim().chars().take(200).collect();
        return Err(format!("the model's step is not a tool call: {shown}"));
    };
    let tool = match call.remove("tool") {
        Some(Value::String(t)) => t,
        _ => return Err(format!("the model's step names no tool: {}", reply.trim())),
    };
    if tool == "answer" {
        let text = call.get("text").and_then(Value::as_str).unwrap_or("");
        return Ok(Parsed::Answer(text.to_string()));
    }
    Ok(Parsed::Call { tool, args: call })
}

/// An answer cut off by the step's token limit (a model that repeats
/// itself runs into it): its text so far, marked as cut.
fn cut_answer(reply: &str) -> Option<String> {
    let start = reply.trim_start();
    if !start.starts_with(r#"{"tool": "answer""#) {
        return None;
    }
    // Close the string and the object; drop a dangling escape first.
    let body = start.trim_end().trim_end_matches('\\');
    match serde_json::from_str::<Value>(&format!("{body}\"}}")) {
        Ok(Value::Object(m)) => {
            let text = m.get("text")?.as_str()?.trim_end();
            (!text.is_empty()).then(|| format!("{text}…"))
        }
        _ => None,
    }
}

/// A native step: the engine's parsed calls (the first one counts), else
/// the text is the answer. A call written as bare JSON text, which small
/// models do, counts as a call.
pub(crate) fn native(text: &str, calls: &[ToolCall], registry: &Registry) -> Parsed {
    let call = calls.first().cloned().or_else(|| bare_call(text));
    let Some(call) = call else {
        let text = text.trim();
        if text.is_empty() {
            return Parsed::Invalid {
                raw: String::new(),
                error: "the reply was empty: call a tool or answer in plain text".into(),
            };
        }
        return Parsed::Answer(text.to_string());
    };
    let raw = format!("{} {}", call.name, call.arguments);
    // A call of an action the mode does not offer is refused by the
    // policy, with its reason, rather than reported as unknown.
    let action = super::tools::ACTION_TOOLS.contains(&call.name.as_str());
    if registry.get(&call.name).is_none() && !action {
        let known: Vec<&str> = registry.iter().map(|t| t.name()).collect();
        return Parsed::Invalid {
            raw,
            error: format!(
                "there is no tool named {:?}; the tools are {}",
                call.name,
                known.join(", ")
            ),
        };
    }
    let args = if call.arguments.trim().is_empty() {
        Ok(Value::Object(Map::new()))
    } else {
        serde_json::from_str::<Value>(&call.arguments)
    };
    match args {
        Ok(Value::Object(args)) => Parsed::Call {
            tool: call.name,
            args,
        },
        _ => Parsed::Invalid {
            raw,
            error: format!(
                "the arguments of {} are not a JSON object: {}",
                call.name, call.arguments
            ),
        },
    }
}

/// `{"name": "read", "arguments": {...}}` written as text.
fn bare_call(text: &str) -> Option<ToolCall> {
    let inner = text
        .trim()
        .trim_start_matches("<tool_call>")
        .trim_end_matches("</tool_call>")
        .trim();
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(inner) else {
        return None;
    };
    let name = m.get("name")?.as_str()?.to_string();
    let arguments = match m.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "{}".into(),
    };
    Some(ToolCall { name, arguments })
}

/// The registry's tools as native function specs: the same parameters as
/// the constrained schema, with free-text paths.
pub(crate) fn specs(registry: &Registry) -> Vec<ToolSpec> {
    registry
        .iter()
        .map(|t| {
            let props = t.parameters(&[]);
            let required = super::tools::required(t, &props);
            ToolSpec {
                name: t.name().to_string(),
                description: t.description().to_string(),
                parameters: json!({"type": "object", "properties": props, "required": required}),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn native_calls_answers_and_mistakes() {
        let r = Registry::read_only();
        let Parsed::Call { tool, args } = native("", &[call("read", r#"{"path": "a.rs"}"#)], &r)
        else {
            panic!("not a call");
        };
        assert_eq!(
            (tool.as_str(), args["path"].as_str()),
            ("read", Some("a.rs"))
        );
        assert_eq!(
            native(" The answer is 5. ", &[], &r),
            Parsed::Answer("The answer is 5.".into())
        );
        // Bare JSON in the text, as small models write it.
        assert!(matches!(
            native(r#"{"name": "grep", "arguments": {"pattern": "x"}}"#, &[], &r),
            Parsed::Call { tool, .. } if tool == "grep"
        ));
        let Parsed::Invalid { error, .. } = native("", &[call("write", "{}")], &r) else {
            panic!("unknown tool accepted");
        };
        assert!(error.contains("no tool named \"write\""), "{error}");
        assert!(error.contains("list, read, grep"), "{error}");
        let Parsed::Invalid { error, .. } = native("", &[call("read", "[1]")], &r) else {
            panic!("array arguments accepted");
        };
        assert!(error.contains("not a JSON object"), "{error}");
        assert!(matches!(native("  ", &[], &r), Parsed::Invalid { .. }));
    }

    #[test]
    fn constrained_steps_and_records() {
        let Parsed::Call { tool, args } = constrained(r#"{"tool": "list", "path": "."}"#).unwrap()
        else {
            panic!("not a call");
        };
        assert_eq!(tool, "list");
        assert_eq!(
            Parsed::call_record(&tool, &args),
            r#"{"tool":"list","path":"."}"#
        );
        assert_eq!(
            constrained(r#"{"tool": "answer", "text": "hi"}"#).unwrap(),
            Parsed::Answer("hi".into())
        );
        assert!(constrained("hello").is_err());
        // Cut off by the token limit mid-answer: kept, marked as cut.
        assert_eq!(
            constrained(r#"{"tool": "answer", "text": "It is 5. It is 5. It is"#).unwrap(),
            Parsed::Answer("It is 5. It is 5. It is…".into())
        );
        assert_eq!(
            constrained(r#"{"tool": "answer", "text": "a \"#).unwrap(),
            Parsed::Answer("a…".into())
        );
        assert!(constrained(r#"{"tool": "read", "path": "src/ma"#).is_err());
    }

    #[test]
    fn specs_mirror_the_tools() {
        let specs = specs(&Registry::read_only());
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["list", "read", "grep"]);
        let read = &specs[1].parameters;
        assert_eq!(read["required"], json!(["path"]));
        assert_eq!(read["properties"]["path"]["type"], "string");
    }
}
