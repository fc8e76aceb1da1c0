//! One grounded turn: the pipeline behind `lore ask`, the chat's ask mode,
//! every support turn and `lore eval qa`.
//!
//! retrieve → not found (no model call) → passages from an attached
//! document → fit into the context → render → generate → cite.
//!
//! The steps are the same for every front end; what differs (which
//! template writes the prompt, what may be dropped, the temperature cap)
//! comes in as a [`TurnPrompt`] and a [`TurnPolicy`].

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::policy::{answer_room, Checks, Citations, TurnPolicy, TEMPLATE_ALLOWANCE_TOKENS};
use super::{stream_to_sink, TaskError};
use crate::grounding::support::{self, SentenceSupport, Support};
use crate::grounding::{self, Citation, Passage, Via};
use crate::index::chunk::ChunkOptions;
use crate::index::KnowledgeIndex;
use crate::model::{conversation, ChatMessage, Constraint, Finished, GenParams, LanguageModel};
use crate::model::{Model, Role};
use crate::model::{ModelError, ModelInfo};
use crate::output::Sink;
use crate::prompts::Template;

/// Where passages come from.
#[derive(Clone)]
pub struct Retrieval {
    /// None when no index could be opened: grounded turns find nothing.
    pub index: Option<Arc<KnowledgeIndex>>,
    pub top_k: usize,
    pub relevance: grounding::Relevance,
    /// How answers from these passages are checked.
    pub checks: Checks,
    /// How an attached document too large to send whole is cut.
    pub chunking: ChunkOptions,
}

impl Retrieval {
    /// The index's passages for `query` (none without an index).
    pub fn search(&self, query: &str) -> Result<Vec<Passage>, TaskError> {
        match &self.index {
            Some(index) => Ok(grounding::retrieve(
                index,
                query,
                self.top_k,
                self.relevance,
            )?),
            None => Ok(Vec::new()),
        }
    }
}

/// Writes a turn's newest message: the system prompt and the user message
/// for a question and its passages.
pub trait TurnPrompt: Send + Sync {
    fn render(
        &self,
        question: &str,
        passages: &[Passage],
    ) -> Result<(Option<String>, String), TaskError>;
}

/// Which system prompt a template turn sends.
#[derive(Debug, Clone, PartialEq)]
pub enum System {
    /// The template's own, or this one when the template has none.
    FromTemplate { fallback: String },
    /// This one, whatever the template says (the chat's own system prompt
    /// when a document is attached to a plain chat turn).
    Fixed(String),
}

/// A prompt template rendered with `question`, `passages` (each `n`,
/// `label`, `text`) and any extra variables.
#[derive(Clone)]
pub struct TemplatePrompt {
    pub template: Template,
    /// A JSON object of further variables (support's persona and policy).
    pub vars: serde_json::Value,
    pub system: System,
}

impl TemplatePrompt {
    /// The `qa` template with its own system prompt.
    pub fn qa(template: Template) -> TemplatePrompt {
        TemplatePrompt {
            template,
            vars: json!({}),
            system: System::FromTemplate {
                fallback: String::new(),
            },
        }
    }
}

impl TurnPrompt for TemplatePrompt {
    fn render(
        &self,
        question: &str,
        passages: &[Passage],
    ) -> Result<(Option<String>, String), TaskError> {
        let items: Vec<serde_json::Value> = passages
            .iter()
            .map(|p| json!({"n": p.n, "label": p.label(), "text": p.text}))
            .collect();
        let mut context = match &self.vars {
            serde_json::Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        context.insert("question".into(), json!(question));
        context.insert("passages".into(), json!(items));
        let rendered = self
            .template
            .render_with(minijinja::Value::from_serialize(context))
            .map_err(TaskError::Prompt)?;
        let system = match &self.system {
            System::Fixed(s) => Some(s.clone()),
            System::FromTemplate { fallback } => rendered.system.or_else(|| Some(fallback.clone())),
        };
        Ok((system.filter(|s| !s.trim().is_empty()), rendered.user))
    }
}

/// The message as typed, under a fixed system prompt: a plain chat turn.
pub struct PlainPrompt {
    pub system: String,
}

impl TurnPrompt for PlainPrompt {
    fn render(&self, question: &str, _: &[Passage]) -> Result<(Option<String>, String), TaskError> {
        Ok((Some(self.system.clone()), question.to_string()))
    }
}

/// One grounded turn's input.
#[derive(Debug, Clone)]
pub struct GroundedTurn<'a> {
    /// The newest user message, as the model sees it.
    pub question: &'a str,
    /// What to search the index for (support rewrites follow-ups).
    pub query: &'a str,
    /// Earlier user and assistant messages, oldest first, without passages.
    pub history: &'a [ChatMessage],
    /// A document given with the turn (stdin, or text piped into the chat).
    pub attachment: Option<&'a str>,
    /// False for `--no-index` and for plain chat turns with a document.
    pub search_index: bool,
    /// The reply when nothing relevant is found.
    pub not_found: &'a str,
    pub params: &'a GenParams,
    pub policy: TurnPolicy,
}

/// What a grounded turn produced (`lore ask --format json` flattens it).
#[derive(Debug, Clone, Serialize)]
pub struct GroundedReply {
    pub answer: String,
    /// False when nothing relevant was retrieved (no model call was made).
    pub found: bool,
    pub citations: Vec<Citation>,
    /// False when the answer cites a passage number that does not exist.
    pub citations_valid: bool,
    /// True when the passages back what the answer says (every sentence
    /// with content is supported, at least one is); see
    /// [`crate::grounding::support`]. True for plain chat, which is not
    /// checked.
    pub supported: bool,
    /// Each sentence of the answer and the passage supporting it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub support: Vec<SentenceSupport>,
    /// An answer held back as unsupported (strict checks); `answer` is
    /// then the not-found reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
    pub passages: Vec<Passage>,
    /// Retrieved passages left out because they did not fit the context.
    pub dropped_passages: usize,
    /// Earliest messages left out because the conversation outgrew the
    /// context.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_messages: usize,
    #[serde(flatten)]
    pub finished: Option<Finished>,
    /// The model that answered (none when nothing was found).
    #[serde(skip)]
    pub model: Option<ModelInfo>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl GroundedReply {
    /// The reply when nothing relevant was found: `reply`, with no model
    /// call.
    pub fn not_found(reply: &str) -> GroundedReply {
        GroundedReply {
            answer: reply.to_string(),
            found: false,
            citations: Vec::new(),
            citations_valid: true,
            supported: true,
            support: Vec::new(),
            withheld: None,
            passages: Vec::new(),
            dropped_passages: 0,
            dropped_messages: 0,
            finished: None,
            model: None,
        }
    }
}

/// A prompt that fits the context, with what had to go.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub messages: Vec<ChatMessage>,
    pub passages: Vec<Passage>,
    pub dropped_messages: usize,
    pub dropped_passages: usize,
}

/// Runs one grounded turn, streaming the answer into `sink`. `model` is
/// awaited only when something was found, so a not-found answer never
/// loads a model.
pub async fn run<F, S>(
    retrieval: &Retrieval,
    prompt: &dyn TurnPrompt,
    turn: &GroundedTurn<'_>,
    model: F,
    sink: &mut S,
) -> Result<GroundedReply, TaskError>
where
    F: Future<Output = Result<Model, TaskError>>,
    S: Sink + ?Sized,
{
    let kb = if turn.search_index {
        retrieval.search(turn.query)?
    } else {
        Vec::new()
    };
    if kb.is_empty() && turn.attachment.is_none() {
        sink.text(turn.not_found).map_err(TaskError::Output)?;
        return Ok(GroundedReply::not_found(turn.not_found));
    }
    let model = model.await?;
    let fitted = gather(model.as_ref(), retrieval, prompt, turn, kb).await?;
    answer(model.as_ref(), fitted, turn, sink).await
}

/// Generates from a fitted prompt, cites the answer and, under grounded
/// policies, checks it against its passages.
pub async fn answer<S: Sink + ?Sized>(
    model: &dyn LanguageModel,
    fitted: Fitted,
    turn: &GroundedTurn<'_>,
    sink: &mut S,
) -> Result<GroundedReply, TaskError> {
    let checks = turn.policy.checks;
    let strict = checks.is_some_and(|c| c.strict);
    let cite = checks.map_or(Citations::Off, |c| c.citations);
    let mut params = turn.policy.params(turn.params);
    if cite == Citations::Inline && !fitted.passages.is_empty() && params.constraint.is_none() {
        params.constraint = Some(inline_citations(fitted.passages.len()));
    }
    let generation = model.generate(&fitted.messages, &params).await?;
    // Strict checks hold the answer back: text already streamed cannot be
    // taken back when the check refuses it.
    let (answer, finished) = if strict {
        stream_to_sink(generation, &mut super::NullSink).await?
    } else {
        stream_to_sink(generation, sink).await?
    };
    let (mut citations, citations_valid) = grounding::check_citations(&answer, &fitted.passages);
    if citations.is_empty() && cite == Citations::Step {
        citations = choose_citations(model, &fitted, &answer).await?;
    }
    if citations.is_empty() {
        citations.extend(grounding::attribute(&answer, &fitted.passages));
    }
    let support = match checks {
        Some(_) => support::check(
            &answer,
            &fitted.passages,
            finished.finish_reason == "length",
        ),
        None => Support {
            supported: true,
            sentences: Vec::new(),
        },
    };
    // Found means the sources back the answer, at least in part: some
    // sentence is supported, or nothing in it is unsupported and it cites
    // a passage. A citation alone (the step always picks one) does not
    // make an answer whose every claim is unsupported found.
    let backed = support.any_supported()
        || (!citations.is_empty() && support.unsupported().next().is_none());
    let mut reply = GroundedReply {
        found: checks.is_none() || backed,
        answer,
        citations,
        citations_valid,
        supported: support.supported,
        support: support.sentences,
        withheld: None,
        passages: fitted.passages,
        dropped_passages: fitted.dropped_passages,
        dropped_messages: fitted.dropped_messages,
        finished: Some(finished),
        model: Some(model.info().clone()),
    };
    if strict {
        if !reply.supported {
            reply.withheld = Some(std::mem::replace(&mut reply.answer, turn.not_found.into()));
            reply.found = false;
            reply.citations.clear();
        }
        sink.text(&reply.answer).map_err(TaskError::Output)?;
    }
    Ok(reply)
}

/// `[1]`..`[k]` as a regex alternation: `\[(1|2|3)\]`.
fn marker_regex(k: usize) -> String {
    let numbers: Vec<String> = (1..=k).map(|n| n.to_string()).collect();
    format!(r"\[({})\]", numbers.join("|"))
}

/// Inline citations: every sentence (a run of text without brackets or
/// line breaks) ends with one or more markers, then a space, a line break
/// or the end. The model still chooses the words and where each sentence
/// ends; it cannot end one without citing.
fn inline_citations(k: usize) -> Constraint {
    let marker = marker_regex(k);
    Constraint::Regex(format!(r"([^\[\]\n]+({marker})+[.!?。]?(\n| )*)+"))
}

/// What the citation step asks, after the answer.
const CITATION_QUESTION: &str = "Which of the numbered passages support your answer? Reply with their numbers in brackets, like [1] or [1][2], or with none.";

/// The citation step: the model, shown its own answer, picks the passages
/// that support it under a constraint that admits only `[1]`..`[k]` or
/// `none`, so what it writes always parses. The prompt so far is the one
/// just answered, so the engine's prefix cache makes this a few tokens of
/// work. A prompt that no longer fits leaves the answer uncited.
async fn choose_citations(
    model: &dyn LanguageModel,
    fitted: &Fitted,
    answer: &str,
) -> Result<Vec<Citation>, TaskError> {
    let k = fitted.passages.len();
    if k == 0 || answer.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut messages = fitted.messages.clone();
    messages.push(ChatMessage::new(Role::Assistant, answer));
    messages.push(ChatMessage::new(Role::User, CITATION_QUESTION));
    let params = GenParams {
        max_tokens: 4 * k + 4,
        temperature: 0.0,
        constraint: Some(Constraint::Regex(format!(
            "none|({}){{1,{k}}}",
            marker_regex(k)
        ))),
        ..GenParams::default()
    };
    let generation = match model.generate(&messages, &params).await {
        Ok(g) => g,
        Err(ModelError::TooLarge { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let (chosen, _) = stream_to_sink(generation, &mut super::NullSink).await?;
    Ok(grounding::cited_numbers(&chosen)
        .into_iter()
        .filter_map(|n| fitted.passages.get(n.wrapping_sub(1)))
        .map(|p| Citation::of(p, Via::Chosen))
        .collect())
}

/// The attached document's passages (first) and the index's, fitted into
/// the context. A document that fits whole is one passage; when it does
/// not fit after all, the second round chunks it and keeps the chunks
/// nearest the question.
async fn gather(
    model: &dyn LanguageModel,
    retrieval: &Retrieval,
    prompt: &dyn TurnPrompt,
    turn: &GroundedTurn<'_>,
    kb: Vec<Passage>,
) -> Result<Fitted, TaskError> {
    let context = model.info().context_length;
    let budget = context.saturating_sub(answer_room(context, turn.params.max_tokens));
    let fit_with = |mut passages: Vec<Passage>| {
        passages.extend(kb.iter().cloned());
        grounding::renumber(&mut passages);
        fit(
            model,
            prompt,
            turn.history,
            turn.question,
            passages,
            turn.policy,
            budget,
        )
    };
    let Some(doc) = turn.attachment else {
        return fit_with(Vec::new()).await;
    };
    let question_tokens = model.count_text_tokens(turn.question).await?;
    let whole = budget.saturating_sub(TEMPLATE_ALLOWANCE_TOKENS + question_tokens);
    let attached = |room: usize| {
        grounding::stdin_passages(
            doc,
            turn.question,
            retrieval.top_k,
            room,
            retrieval.chunking,
        )
    };
    if whole > 0 {
        match fit_with(attached(whole)?).await {
            Ok(f) if f.passages.iter().any(|p| p.path == grounding::STDIN) => return Ok(f),
            Ok(_) | Err(TaskError::Engine(ModelError::TooLarge { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    fit_with(attached(0)?).await
}

/// Renders the turn and drops what `policy` allows until the prompt fits
/// `budget` tokens: the oldest whole exchanges first, then the weakest
/// (last) passages down to `policy.min_passages`. Counts exactly.
pub async fn fit(
    model: &dyn LanguageModel,
    prompt: &dyn TurnPrompt,
    history: &[ChatMessage],
    question: &str,
    mut passages: Vec<Passage>,
    policy: TurnPolicy,
    budget: usize,
) -> Result<Fitted, TaskError> {
    let total = passages.len();
    let mut skip = 0;
    loop {
        let (system, user) = prompt.render(question, &passages)?;
        let messages = conversation(system.as_deref(), &history[skip..], user);
        let tokens = model.count_tokens(&messages).await?;
        if tokens <= budget {
            return Ok(Fitted {
                messages,
                dropped_messages: skip,
                dropped_passages: total - passages.len(),
                passages,
            });
        }
        if skip < history.len() {
            // Whole exchanges go, so the history never starts with a reply.
            skip = (skip + 2).min(history.len());
        } else if passages.len() > policy.min_passages {
            passages.pop();
        } else {
            return Err(TaskError::Engine(ModelError::TooLarge {
                prompt: tokens,
                limit: budget,
            }));
        }
    }
}
