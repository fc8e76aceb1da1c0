//! `lore ask`: retrieve passages, answer from them, cite them.

use serde::Serialize;
use serde_json::json;

use super::{stream_to_sink, TaskError};
use crate::engine::{ChatMessage, Engine, Finished, GenParams, Role};
use crate::index::{Hit, IndexError, KnowledgeIndex, SearchOptions};
use crate::output::Sink;
use crate::prompts::{PromptError, Template};

/// A retrieved passage as the model sees it: numbered from 1.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Passage {
    pub n: usize,
    pub path: String,
    pub lines: (u64, u64),
    pub heading: String,
    pub score: f32,
    pub text: String,
    pub snippet: String,
}

impl Passage {
    /// `path:Lstart-Lend > heading`, the label in the prompt and footnotes.
    pub fn label(&self) -> String {
        let mut s = format!("{}:L{}-L{}", self.path, self.lines.0, self.lines.1);
        if !self.heading.is_empty() {
            s.push_str(" > ");
            s.push_str(&self.heading);
        }
        s
    }
}

/// A citation marker in the answer that points at a passage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Citation {
    pub n: usize,
    pub path: String,
    pub lines: (u64, u64),
    pub heading: String,
    pub snippet: String,
}

/// The structured result of `lore ask` (`--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct AskReport {
    pub question: String,
    pub answer: String,
    /// False when nothing relevant was retrieved (no model call was made).
    pub found: bool,
    pub citations: Vec<Citation>,
    /// False when the answer cites a passage number that does not exist.
    pub citations_valid: bool,
    pub passages: Vec<Passage>,
    /// Retrieved passages left out because they did not fit the context.
    pub dropped_passages: usize,
    #[serde(flatten)]
    pub finished: Option<Finished>,
}

/// Retrieves up to `k` passages scoring at least `min_score`.
pub fn retrieve(
    index: &KnowledgeIndex,
    question: &str,
    k: usize,
    min_score: f32,
) -> Result<Vec<Passage>, IndexError> {
    let opts = SearchOptions {
        limit: k.max(1),
        ..SearchOptions::default()
    };
    let hits = index.search(question, &opts)?;
    Ok(passages_from(hits, min_score))
}

fn passages_from(hits: Vec<Hit>, min_score: f32) -> Vec<Passage> {
    hits.into_iter()
        .filter(|h| h.score >= min_score)
        .enumerate()
        .map(|(i, h)| Passage {
            n: i + 1,
            path: if h.key != h.path { h.key } else { h.path },
            lines: h.lines,
            heading: h.headings,
            score: h.score,
            text: h.text,
            snippet: h.snippet,
        })
        .collect()
}

/// Renders the QA prompt for `passages`.
pub fn messages(
    template: &Template,
    question: &str,
    passages: &[Passage],
) -> Result<Vec<ChatMessage>, PromptError> {
    let items: Vec<serde_json::Value> = passages
        .iter()
        .map(|p| json!({"n": p.n, "label": p.label(), "text": p.text}))
        .collect();
    let rendered = template.render_with(minijinja::Value::from_serialize(
        json!({"question": question, "passages": items}),
    ))?;
    let mut out = Vec::new();
    if let Some(system) = rendered.system {
        out.push(ChatMessage::new(Role::System, system));
    }
    out.push(ChatMessage::new(Role::User, rendered.user));
    Ok(out)
}

/// Keeps the best passages whose prompt fits the context with room for the
/// answer, counting tokens exactly. Returns the messages and how many
/// passages were dropped.
pub async fn pack(
    engine: &Engine,
    template: &Template,
    question: &str,
    passages: &mut Vec<Passage>,
    max_tokens: usize,
) -> Result<(Vec<ChatMessage>, usize), TaskError> {
    let budget = engine.info().context_length.saturating_sub(max_tokens);
    let total = passages.len();
    loop {
        let msgs = messages(template, question, passages).map_err(TaskError::Prompt)?;
        let tokens = engine.count_tokens(&msgs).await?;
        if tokens <= budget || passages.is_empty() {
            if passages.is_empty() && tokens > budget {
                return Err(TaskError::Engine(crate::engine::EngineError::TooLarge {
                    prompt: tokens,
                    limit: budget,
                }));
            }
            return Ok((msgs, total - passages.len()));
        }
        passages.pop();
    }
}

/// Passage numbers cited as `[n]`, `[n, m]` or `[n][m]`, in order of first
/// appearance.
pub fn cited_numbers(answer: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inside = &after[..close];
        let numbers: Vec<Option<usize>> = inside
            .split([',', ';'])
            .map(|s| s.trim().parse::<usize>().ok())
            .collect();
        if !inside.is_empty() && numbers.iter().all(Option::is_some) {
            for n in numbers.into_iter().flatten() {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &after[close + 1..];
    }
    out
}

/// Checks the answer's markers against the passages: valid citations, and
/// whether every marker pointed at a passage.
pub fn check_citations(answer: &str, passages: &[Passage]) -> (Vec<Citation>, bool) {
    let numbers = cited_numbers(answer);
    let valid = numbers.iter().all(|n| (1..=passages.len()).contains(n));
    let citations = numbers
        .into_iter()
        .filter_map(|n| passages.get(n.wrapping_sub(1)))
        .map(|p| Citation {
            n: p.n,
            path: p.path.clone(),
            lines: p.lines,
            heading: p.heading.clone(),
            snippet: p.snippet.clone(),
        })
        .collect();
    (citations, valid)
}

/// The footnotes printed after a text answer.
pub fn footnotes(citations: &[Citation], passages: &[Passage]) -> Option<String> {
    if citations.is_empty() {
        return None;
    }
    let lines: Vec<String> = citations
        .iter()
        .filter_map(|c| passages.iter().find(|p| p.n == c.n))
        .map(|p| format!("[{}] {}", p.n, p.label()))
        .collect();
    Some(format!("Sources:\n{}", lines.join("\n")))
}

/// Answers `question` from `passages` (already packed into `messages`).
pub async fn answer(
    engine: &Engine,
    question: &str,
    messages: &[ChatMessage],
    passages: Vec<Passage>,
    dropped: usize,
    params: &GenParams,
    sink: &mut dyn Sink,
) -> Result<AskReport, TaskError> {
    let generation = engine.generate(messages, params).await?;
    let (text, finished) = stream_to_sink(generation, sink).await?;
    let (citations, citations_valid) = check_citations(&text, &passages);
    Ok(AskReport {
        question: question.to_string(),
        answer: text,
        found: true,
        citations,
        citations_valid,
        passages,
        dropped_passages: dropped,
        finished: Some(finished),
    })
}

/// The report when nothing relevant was retrieved: the configured reply,
/// written to the sink, with no model call.
pub fn not_found(question: &str, reply: &str, sink: &mut dyn Sink) -> Result<AskReport, TaskError> {
    sink.text(reply).map_err(TaskError::Output)?;
    Ok(AskReport {
        question: question.to_string(),
        answer: reply.to_string(),
        found: false,
        citations: Vec::new(),
        citations_valid: true,
        passages: Vec::new(),
        dropped_passages: 0,
        finished: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(n: usize) -> Passage {
        Passage {
            n,
            path: format!("p{n}.md"),
            lines: (1, 2),
            heading: "H".into(),
            score: 1.0,
            text: "t".into(),
            snippet: "s".into(),
        }
    }

    #[test]
    fn citation_markers_are_parsed_in_order() {
        assert_eq!(cited_numbers("A [2] and B [1, 3][2]."), [2, 1, 3]);
        assert_eq!(cited_numbers("no markers [x] [] [1a]"), Vec::<usize>::new());
        assert_eq!(cited_numbers("unclosed [1"), Vec::<usize>::new());
    }

    #[test]
    fn invalid_markers_are_flagged_and_dropped() {
        let ps = vec![passage(1), passage(2)];
        let (c, valid) = check_citations("See [2] and [7].", &ps);
        assert!(!valid);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "p2.md");
        let (c, valid) = check_citations("See [1].", &ps);
        assert!(valid);
        assert_eq!(footnotes(&c, &ps).unwrap(), "Sources:\n[1] p1.md:L1-L2 > H");
        assert_eq!(footnotes(&[], &ps), None);
    }
}
