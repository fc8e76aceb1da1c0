//! `lore support`: a customer-service agent over the knowledge base. Each
//! customer turn is classified (intent, sentiment), retrieved for with a
//! query rewritten from the dialogue, answered with citations or plainly
//! not answered, and checked for hand-over. The ticket is written after
//! every turn, so a crash loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ask::{self, Citation, Passage};
use super::chat::ChatContext;
use super::classify::{self, Classifier, Examples, Item, Label, Method};
use super::{stream_to_sink, TaskError};
use crate::engine::{ChatMessage, Finished, GenParams, Role};
use crate::output::Sink;
use crate::prompts::Template;

/// The built-in labelled examples behind the turn classifiers.
pub const INTENT_EXAMPLES: &str = include_str!("../../config/support-intents.tsv");
pub const SENTIMENT_EXAMPLES: &str = include_str!("../../config/support-sentiment.tsv");

/// Persona, policy and hand-over rules: the `[support]` settings.
pub type Policy = crate::settings::SupportSettings;

/// Labels customer turns with the classify machinery (nearest labelled
/// examples; no model call, so it adds microseconds, not seconds).
pub struct TurnClassifier {
    intents: Vec<Label>,
    intent_examples: Examples,
    sentiments: Vec<Label>,
    sentiment_examples: Examples,
    template: Template,
}

impl TurnClassifier {
    pub fn new(
        intents: Vec<Label>,
        intent_examples: (&str, &str),
        sentiment_examples: (&str, &str),
        template: Template,
    ) -> Result<TurnClassifier, TaskError> {
        let sentiments = classify::labels_from_list("negative,neutral,positive")
            .map_err(|e| TaskError::Input(e.to_string()))?;
        Ok(TurnClassifier {
            intents,
            intent_examples: Examples::from_tsv(intent_examples.0, intent_examples.1)?,
            sentiments,
            sentiment_examples: Examples::from_tsv(sentiment_examples.0, sentiment_examples.1)?,
            template,
        })
    }

    async fn label(
        &self,
        labels: &[Label],
        examples: &Examples,
        text: &str,
    ) -> Result<String, TaskError> {
        let c = Classifier {
            engine: None,
            template: &self.template,
            labels,
            examples: Some(examples),
            k: 5,
            method: Method::Knn,
            max_item_tokens: 1024,
            calibration: None,
        };
        let item = Item {
            id: String::new(),
            text: text.to_string(),
            gold: None,
        };
        Ok(c.classify(&item).await?.label)
    }

    pub async fn intent(&self, text: &str) -> Result<String, TaskError> {
        self.label(&self.intents, &self.intent_examples, text).await
    }

    pub async fn sentiment(&self, text: &str) -> Result<String, TaskError> {
        self.label(&self.sentiments, &self.sentiment_examples, text)
            .await
    }
}

/// Everything a support turn needs.
pub struct Agent {
    pub ctx: ChatContext,
    pub template: Template,
    pub policy: Policy,
    pub classifier: std::sync::Arc<TurnClassifier>,
    pub params: GenParams,
}

/// Words that carry no topic: left out of rewritten queries.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "get", "got", "had", "has", "have", "hi", "hello", "how", "i", "if", "in", "is",
    "it", "its", "me", "my", "of", "on", "or", "please", "so", "that", "the", "them", "then",
    "there", "they", "this", "those", "to", "us", "was", "we", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your", "ok", "okay", "thanks", "thank", "also",
    "about", "long", "much", "many", "take", "takes", "need", "want", "know",
];

/// Words that point back at an earlier topic.
const ANAPHORA: &[&str] = &[
    "it", "that", "this", "those", "these", "them", "they", "there", "then", "one", "ones",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// A standalone search query for `current`, rewritten from the dialogue:
/// a follow-up ("and how long does that take?") has few topic words or
/// points back with "that"/"it", so the topic words of the earlier
/// customer turns (newest first) are added to it. A self-contained
/// question is searched as it is.
pub fn rewrite_query(earlier: &[String], current: &str) -> String {
    let own = content_words(current);
    let refers_back = words(current)
        .iter()
        .any(|w| ANAPHORA.contains(&w.as_str()));
    if earlier.is_empty() || (own.len() >= 4 && !refers_back) {
        return current.to_string();
    }
    let mut query = current.to_string();
    let mut added = 0;
    for turn in earlier.iter().rev().take(2) {
        for w in content_words(turn) {
            if !own.contains(&w) && !query.to_lowercase().split(' ').any(|q| q == w) {
                query.push(' ');
                query.push_str(&w);
                added += 1;
            }
        }
        if added >= 3 {
            break;
        }
    }
    query
}

/// Whether the customer asks for a person.
pub fn wants_human(text: &str) -> bool {
    let t = text.to_lowercase();
    const PHRASES: &[&str] = &[
        "human",
        "real person",
        "a person",
        "an agent",
        "live agent",
        "representative",
        "speak to someone",
        "talk to someone",
        "speak with someone",
        "talk with someone",
        "a manager",
        "operator",
        "your staff",
        "a colleague",
        "real people",
    ];
    PHRASES.iter().any(|p| t.contains(p))
}

/// One customer turn and the agent's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnRecord {
    pub customer: String,
    /// The search query, rewritten from the dialogue.
    pub query: String,
    pub intent: String,
    pub sentiment: String,
    pub reply: String,
    /// False when the knowledge base held nothing relevant.
    pub found: bool,
    pub passages: Vec<PassageRef>,
    pub citations: Vec<CitationRef>,
    pub citations_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_s: Option<f64>,
    /// Generated tokens per second after the first (generated replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Prompt plus reply tokens (generated replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassageRef {
    pub n: usize,
    pub path: String,
    pub lines: (u64, u64),
    pub heading: String,
    pub score: f32,
    pub snippet: String,
    #[serde(skip)]
    pub highlights: Vec<std::ops::Range<usize>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CitationRef {
    pub n: usize,
    pub via: String,
    pub path: String,
}

impl PassageRef {
    pub fn from(p: &Passage) -> PassageRef {
        PassageRef {
            n: p.n,
            path: p.path.clone(),
            lines: p.lines,
            heading: p.heading.clone(),
            score: p.score,
            snippet: p.snippet.clone(),
            highlights: p.highlights.clone(),
        }
    }
}

/// A dialogue in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dialogue {
    pub ticket: String,
    pub started: String,
    pub turns: Vec<TurnRecord>,
    /// Why and at which turn the agent handed over.
    pub handover: Option<String>,
}

impl Dialogue {
    pub fn new() -> Dialogue {
        Dialogue {
            ticket: format!("T-{}", crate::sessions::new_id()),
            started: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            turns: Vec::new(),
            handover: None,
        }
    }

    /// The conversation as chat history, without retrieved passages.
    fn history(&self) -> Vec<ChatMessage> {
        self.turns
            .iter()
            .flat_map(|t| {
                [
                    ChatMessage::new(Role::User, t.customer.clone()),
                    ChatMessage::new(Role::Assistant, t.reply.clone()),
                ]
            })
            .collect()
    }

    fn streak(&self, pred: impl Fn(&TurnRecord) -> bool) -> usize {
        self.turns.iter().rev().take_while(|t| pred(t)).count()
    }
}

impl Default for Dialogue {
    fn default() -> Dialogue {
        Dialogue::new()
    }
}

/// The hand-over summary of a dialogue, written as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub time: String,
    pub updated: String,
    /// "open" while the dialogue runs, "handed_over" or "closed" at the end.
    pub status: String,
    pub intent: String,
    pub sentiment_trend: Vec<String>,
    pub summary: String,
    pub customer_needs: String,
    pub answered: Vec<Answered>,
    pub open_questions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover_reason: Option<String>,
    pub transcript: Vec<TranscriptLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answered {
    pub question: String,
    pub answer: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub role: String,
    pub text: String,
}

impl Ticket {
    /// Summarises `d`: extractive, so it never states what was not said.
    pub fn from_dialogue(d: &Dialogue, status: &str, greeting: &str) -> Ticket {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &d.turns {
            if t.intent != "other" && t.intent != "human" {
                *counts.entry(&t.intent).or_insert(0) += 1;
            }
        }
        let intent = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(i, _)| i.to_string())
            .or_else(|| d.turns.first().map(|t| t.intent.clone()))
            .unwrap_or_else(|| "other".into());
        let answered: Vec<Answered> = d
            .turns
            .iter()
            .filter(|t| t.found && t.handover.is_none())
            .map(|t| Answered {
                question: t.customer.clone(),
                answer: t.reply.clone(),
                sources: t.citations.iter().map(|c| c.path.clone()).collect(),
            })
            .collect();
        let open_questions: Vec<String> = d
            .turns
            .iter()
            .filter(|t| !t.found && !wants_human(&t.customer))
            .map(|t| t.customer.clone())
            .collect();
        let needs = d
            .turns
            .iter()
            .rev()
            .find(|t| !wants_human(&t.customer) && t.intent != "other")
            .or(d.turns.first())
            .map(|t| t.customer.clone())
            .unwrap_or_default();
        let summary = format!(
            "{} customer turn(s) about {intent}; {} answered from the help centre, {} not found{}.",
            d.turns.len(),
            answered.len(),
            open_questions.len(),
            match &d.handover {
                Some(r) => format!("; handed over: {r}"),
                None => String::new(),
            }
        );
        let mut transcript = vec![TranscriptLine {
            role: "agent".into(),
            text: greeting.to_string(),
        }];
        for t in &d.turns {
            transcript.push(TranscriptLine {
                role: "customer".into(),
                text: t.customer.clone(),
            });
            transcript.push(TranscriptLine {
                role: "agent".into(),
                text: t.reply.clone(),
            });
        }
        Ticket {
            id: d.ticket.clone(),
            time: d.started.clone(),
            updated: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: status.to_string(),
            intent,
            sentiment_trend: d.turns.iter().map(|t| t.sentiment.clone()).collect(),
            summary,
            customer_needs: needs,
            answered,
            open_questions,
            handover_reason: d.handover.clone(),
            transcript,
        }
    }
}

/// Tickets on disk, one JSON file each.
#[derive(Debug, Clone)]
pub struct TicketStore {
    pub dir: PathBuf,
}

impl TicketStore {
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes atomically (temporary file, then rename).
    pub fn save(&self, t: &Ticket) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&t.id);
        let mut json = serde_json::to_vec_pretty(t).map_err(std::io::Error::other)?;
        json.push(b'\n');
        crate::sessions::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// All tickets, newest first; unreadable files are reported, not fatal.
    pub fn list(&self) -> (Vec<Ticket>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (out, warnings);
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Ticket>(&b).map_err(|e| e.to_string()))
            {
                Ok(t) => out.push(t),
                Err(e) => warnings.push(format!("skipped {}: {e}", p.display())),
            }
        }
        out.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.id.cmp(&a.id)));
        (out, warnings)
    }
}

/// Answers one customer turn, streaming the reply into `sink`, and records
/// it in `dialogue`.
pub async fn respond<S: Sink + ?Sized>(
    agent: &Agent,
    dialogue: &mut Dialogue,
    customer: &str,
    sink: &mut S,
) -> Result<TurnRecord, TaskError> {
    let customer = customer.trim();
    let intent = agent.classifier.intent(customer).await?;
    let sentiment = agent.classifier.sentiment(customer).await?;
    let earlier: Vec<String> = dialogue.turns.iter().map(|t| t.customer.clone()).collect();
    let query = rewrite_query(&earlier, customer);
    let mut record = TurnRecord {
        customer: customer.to_string(),
        query: query.clone(),
        intent: intent.clone(),
        sentiment: sentiment.clone(),
        reply: String::new(),
        found: false,
        passages: Vec::new(),
        citations: Vec::new(),
        citations_valid: true,
        handover: None,
        time_to_first_token_s: None,
        tokens_per_s: None,
        context_tokens: None,
    };

    if wants_human(customer) || intent == "human" {
        record.found = true;
        return hand_over(
            agent,
            dialogue,
            record,
            "the customer asked for a person",
            sink,
        );
    }

    let passages = match &agent.ctx.index {
        Some(index) => ask::retrieve(index, &query, agent.ctx.top_k, agent.ctx.min_score)?,
        None => Vec::new(),
    };
    record.passages = passages.iter().map(PassageRef::from).collect();
    if passages.is_empty() {
        sink.text(&agent.policy.not_found)
            .map_err(TaskError::Output)?;
        record.reply = agent.policy.not_found.clone();
        let misses = 1 + dialogue.streak(|t| !t.found);
        if misses >= (agent.policy.handover_not_found_turns as usize).max(1) {
            sink.text("\n\n").map_err(TaskError::Output)?;
            let reason = format!("{misses} turns in a row found nothing in the knowledge base");
            return hand_over(agent, dialogue, record, &reason, sink);
        }
        dialogue.turns.push(record.clone());
        return Ok(record);
    }

    let messages = support_messages(agent, dialogue, customer, &passages)?;
    let (messages, passages) = fit(agent, messages, passages, dialogue, customer).await?;
    let generation = agent.ctx.engine.generate(&messages, &agent.params).await?;
    let (reply, finished): (String, Finished) = stream_to_sink(generation, sink).await?;
    let (citations, valid) = ask::cite(&reply, &passages);
    record.reply = reply;
    record.found = true;
    record.citations = citations.iter().map(citation_ref).collect();
    record.citations_valid = valid;
    record.time_to_first_token_s = Some(finished.timings.time_to_first_token_s);
    record.tokens_per_s = Some(finished.timings.generated_tokens_per_s);
    record.context_tokens = Some(finished.usage.prompt_tokens + finished.usage.completion_tokens);
    record.passages = passages.iter().map(PassageRef::from).collect();

    let negative = if sentiment == "negative" {
        1 + dialogue.streak(|t| t.sentiment == "negative")
    } else {
        0
    };
    if negative >= (agent.policy.handover_negative_turns as usize).max(1) {
        sink.text("\n\n").map_err(TaskError::Output)?;
        let reason = format!("the customer was unhappy {negative} turns in a row");
        return hand_over(agent, dialogue, record, &reason, sink);
    }
    dialogue.turns.push(record.clone());
    Ok(record)
}

fn citation_ref(c: &Citation) -> CitationRef {
    CitationRef {
        n: c.n,
        via: c.via.to_string(),
        path: c.path.clone(),
    }
}

fn hand_over<S: Sink + ?Sized>(
    agent: &Agent,
    dialogue: &mut Dialogue,
    mut record: TurnRecord,
    reason: &str,
    sink: &mut S,
) -> Result<TurnRecord, TaskError> {
    let message = agent
        .policy
        .handover_message
        .replace("{ticket}", &dialogue.ticket);
    sink.text(&message).map_err(TaskError::Output)?;
    if record.reply.is_empty() {
        record.reply = message;
    } else {
        record.reply = format!("{}\n\n{message}", record.reply);
    }
    record.handover = Some(reason.to_string());
    dialogue.handover = Some(reason.to_string());
    dialogue.turns.push(record.clone());
    Ok(record)
}

fn support_messages(
    agent: &Agent,
    dialogue: &Dialogue,
    customer: &str,
    passages: &[Passage],
) -> Result<Vec<ChatMessage>, TaskError> {
    let p = &agent.policy;
    let items: Vec<serde_json::Value> = passages
        .iter()
        .map(|x| serde_json::json!({"n": x.n, "label": x.label(), "text": x.text}))
        .collect();
    let rendered = agent
        .template
        .render_with(minijinja::Value::from_serialize(serde_json::json!({
            "company": p.company,
            "tone": p.tone,
            "may_promise": p.may_promise,
            "must_not_promise": p.must_not_promise,
            "languages": p.languages,
            "passages": items,
            "question": customer,
        })))
        .map_err(TaskError::Prompt)?;
    let mut out = Vec::new();
    if let Some(system) = rendered.system {
        out.push(ChatMessage::new(Role::System, system));
    }
    out.extend(dialogue.history());
    out.push(ChatMessage::new(Role::User, rendered.user));
    Ok(out)
}

/// Drops the oldest exchanges, then the weakest passages, until the prompt
/// leaves room for the reply.
async fn fit(
    agent: &Agent,
    mut messages: Vec<ChatMessage>,
    mut passages: Vec<Passage>,
    dialogue: &Dialogue,
    customer: &str,
) -> Result<(Vec<ChatMessage>, Vec<Passage>), TaskError> {
    let engine = &agent.ctx.engine;
    let budget = engine
        .info()
        .context_length
        .saturating_sub(agent.params.max_tokens);
    let mut trimmed = dialogue.clone();
    loop {
        let tokens = engine.count_tokens(&messages).await?;
        if tokens <= budget {
            return Ok((messages, passages));
        }
        if !trimmed.turns.is_empty() {
            trimmed.turns.remove(0);
        } else if passages.len() > 1 {
            passages.pop();
        } else {
            return Err(TaskError::Engine(crate::engine::EngineError::TooLarge {
                prompt: tokens,
                limit: budget,
            }));
        }
        messages = support_messages(agent, &trimmed, customer, &passages)?;
    }
}

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
    fn follow_ups_borrow_the_topic_of_earlier_turns() {
        let earlier = vec!["How do I return my tent?".to_string()];
        let q = rewrite_query(&earlier, "and how long does that take?");
        assert!(q.contains("return") && q.contains("tent"), "{q}");
        let q = rewrite_query(
            &earlier,
            "Which payment methods do you accept for gift cards?",
        );
        assert_eq!(q, "Which payment methods do you accept for gift cards?");
        assert_eq!(rewrite_query(&[], "and that?"), "and that?");
    }

    #[test]
    fn requests_for_a_person_are_recognised() {
        assert!(wants_human("I want to talk to a human"));
        assert!(wants_human("Can I speak to someone, please?"));
        assert!(wants_human("get me a real person"));
        assert!(!wants_human("How do I return an item?"));
    }

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

    #[tokio::test]
    async fn turns_are_classified_from_examples() {
        let lib = crate::prompts::Library::new(Path::new("/nonexistent"));
        let intents = classify::labels_from_list(
            "account,billing,shipping,returns,troubleshooting,privacy,contact,human,other",
        )
        .unwrap();
        let c = TurnClassifier::new(
            intents,
            (INTENT_EXAMPLES, "intents"),
            (SENTIMENT_EXAMPLES, "sentiment"),
            lib.get("classify").unwrap(),
        )
        .unwrap();
        assert_eq!(
            c.intent("I want to return these boots").await.unwrap(),
            "returns"
        );
        assert_eq!(c.intent("where is my parcel").await.unwrap(), "shipping");
        assert_eq!(c.intent("let me talk to a human").await.unwrap(), "human");
        assert_eq!(
            c.sentiment("This is ridiculous, terrible service")
                .await
                .unwrap(),
            "negative"
        );
        assert_eq!(
            c.sentiment("Great, thanks a lot!").await.unwrap(),
            "positive"
        );
    }

    #[test]
    fn tickets_summarise_without_inventing() {
        let mut d = Dialogue::new();
        let turn = |c: &str, found: bool, intent: &str| TurnRecord {
            customer: c.into(),
            query: c.into(),
            intent: intent.into(),
            sentiment: "neutral".into(),
            reply: "r".into(),
            found,
            passages: vec![],
            citations: vec![CitationRef {
                n: 1,
                via: "overlap".into(),
                path: "returns/return-policy.md".into(),
            }],
            citations_valid: true,
            handover: None,
            time_to_first_token_s: None,
            tokens_per_s: None,
            context_tokens: None,
        };
        d.turns
            .push(turn("How long can I return?", true, "returns"));
        d.turns
            .push(turn("What is the weather on Mars?", false, "other"));
        d.handover = Some("the customer asked for a person".into());
        let t = Ticket::from_dialogue(&d, "handed_over", "Hi!");
        assert_eq!(t.intent, "returns");
        assert_eq!(t.answered.len(), 1);
        assert_eq!(t.answered[0].sources, ["returns/return-policy.md"]);
        assert_eq!(t.open_questions, ["What is the weather on Mars?"]);
        assert_eq!(t.transcript.len(), 5);
        assert!(t.summary.contains("handed over"));
    }
}
