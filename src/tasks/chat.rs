//! `lore chat`: one turn of a multi-turn conversation, in one of three
//! modes (a fourth, [`Mode::Agent`], is run by the agent, not here). The TUI drives it; it streams into a [`Sink`] like every task and
//! knows nothing of the screen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::grounded::{
    self, GroundedReply, GroundedTurn, PlainPrompt, Retrieval, System, TemplatePrompt, TurnPrompt,
};
use super::policy::{answer_room, TurnPolicy};
use super::TaskError;
use crate::grounding::Passage;
use crate::model::{conversation, ChatMessage, GenParams, Model};
use crate::output::Sink;
use crate::prompts::Template;

/// How a turn uses the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plain conversation; no retrieval.
    #[default]
    Chat,
    /// Every question is answered from retrieved passages, with citations.
    Ask,
    /// Customer-service dialogue over the knowledge base.
    Support,
    /// The read-only agent: the model reads the workspace's files with
    /// tools until it answers (see [`crate::agent`]).
    Agent,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Chat, Mode::Ask, Mode::Support, Mode::Agent];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Ask => "ask",
            Mode::Support => "support",
            Mode::Agent => "agent",
        }
    }

    /// Whether turns in this mode retrieve from the index.
    pub fn grounded(self) -> bool {
        matches!(self, Mode::Ask | Mode::Support)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown mode '{s}': use chat, ask, support or agent"))
    }
}

/// What a turn needs besides the conversation: the model, where passages
/// come from, and the `qa` template of grounded answers.
#[derive(Clone)]
pub struct ChatContext {
    pub model: Model,
    pub retrieval: Retrieval,
    /// The `qa` template: renders the newest question with its passages.
    pub qa: Template,
    pub not_found: String,
}

/// One user turn.
#[derive(Debug, Clone)]
pub struct Turn {
    pub mode: Mode,
    /// System prompt of chat mode (grounded modes use their template's).
    pub system: String,
    /// Earlier user and assistant messages, oldest first. Passages are never
    /// stored in them: they go into the newest turn only, which keeps the
    /// prompt's prefix stable from turn to turn.
    pub history: Vec<ChatMessage>,
    pub user: String,
    /// A document given with this turn (text piped into `lore chat`).
    pub attachment: Option<String>,
    pub params: GenParams,
}

/// The result of one turn: the grounded reply (plain chat turns have no
/// passages and are always found).
pub type TurnReport = GroundedReply;

/// How a turn writes its prompt and what it may drop.
fn plan(ctx: &ChatContext, turn: &Turn) -> (Box<dyn TurnPrompt>, TurnPolicy) {
    match (turn.mode, &turn.attachment) {
        // An agent turn's prompt is the agent's own; a plain prompt stands
        // in for it where one is counted (`/tokens`).
        (Mode::Chat | Mode::Agent, None) => (
            Box::new(PlainPrompt {
                system: turn.system.clone(),
            }),
            TurnPolicy::CHAT,
        ),
        // A document in plain chat goes through the qa template, under the
        // chat's own system prompt.
        (Mode::Chat | Mode::Agent, Some(_)) => (
            Box::new(TemplatePrompt {
                system: System::Fixed(turn.system.clone()),
                ..TemplatePrompt::qa(ctx.qa.clone())
            }),
            TurnPolicy::CHAT,
        ),
        (Mode::Ask | Mode::Support, _) => (
            Box::new(TemplatePrompt {
                system: System::FromTemplate {
                    fallback: turn.system.clone(),
                },
                ..TemplatePrompt::qa(ctx.qa.clone())
            }),
            TurnPolicy::grounded(ctx.retrieval.checks),
        ),
    }
}

/// Runs one turn: grounded modes are the shared grounded turn (the same
/// steps as `lore ask`, with the conversation before it); a plain turn
/// fits the conversation into the context, dropping the oldest exchanges
/// first. The reply streams into `sink`.
pub async fn turn<S: Sink + ?Sized>(
    ctx: &ChatContext,
    turn: &Turn,
    sink: &mut S,
) -> Result<TurnReport, TaskError> {
    let (prompt, policy) = plan(ctx, turn);
    let grounded_turn = GroundedTurn {
        question: &turn.user,
        query: &turn.user,
        history: &turn.history,
        attachment: turn.attachment.as_deref(),
        search_index: turn.mode.grounded(),
        not_found: &ctx.not_found,
        params: &turn.params,
        policy,
    };
    if !turn.mode.grounded() && turn.attachment.is_none() {
        let context = ctx.model.info().context_length;
        let budget = context.saturating_sub(answer_room(context, turn.params.max_tokens));
        let fitted = grounded::fit(
            ctx.model.as_ref(),
            prompt.as_ref(),
            &turn.history,
            &turn.user,
            Vec::new(),
            policy,
            budget,
        )
        .await?;
        return grounded::answer(ctx.model.as_ref(), fitted, &grounded_turn, sink).await;
    }
    let model = ctx.model.clone();
    grounded::run(
        &ctx.retrieval,
        prompt.as_ref(),
        &grounded_turn,
        async move { Ok(model) },
        sink,
    )
    .await
}

/// The messages of a turn as they would be sent, without retrieval: what
/// `/tokens` counts.
pub fn messages(
    ctx: &ChatContext,
    turn: &Turn,
    passages: &[Passage],
) -> Result<Vec<ChatMessage>, TaskError> {
    let (prompt, _) = plan(ctx, turn);
    let (system, user) = prompt.render(&turn.user, passages)?;
    Ok(conversation(system.as_deref(), &turn.history, user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scripted::ScriptedModel;
    use crate::model::Role;
    use crate::tasks::ask::{self, Ask, Question};
    use crate::tasks::testkit::{self, Collect};

    fn ctx(model: Model) -> ChatContext {
        ChatContext {
            model,
            retrieval: testkit::retrieval(),
            qa: testkit::template("qa"),
            not_found: "Not in the knowledge base.".into(),
        }
    }

    fn turn(mode: Mode, history: Vec<ChatMessage>, user: &str, max_tokens: usize) -> Turn {
        Turn {
            mode,
            system: "You are terse.".into(),
            history,
            user: user.into(),
            attachment: None,
            params: GenParams {
                max_tokens,
                temperature: 0.9,
                ..GenParams::default()
            },
        }
    }

    #[tokio::test]
    async fn ask_mode_sends_what_lore_ask_sends_and_answers_alike() {
        let question = "How many days do I have to return an item?";
        let (cli, cli_model) = testkit::model(ScriptedModel::new(4096).reply("30 days [1]."));
        let ask = Ask {
            retrieval: testkit::retrieval(),
            prompt: testkit::qa(),
            not_found: "Not in the knowledge base.".into(),
            params: turn(Mode::Ask, vec![], question, 24).params,
        };
        let q = Question {
            text: question,
            document: None,
            search_index: true,
        };
        let a = ask::run(&ask, &q, async { Ok(cli_model) }, &mut Collect::default())
            .await
            .unwrap()
            .reply;
        let (tui, tui_model) = testkit::model(ScriptedModel::new(4096).reply("30 days [1]."));
        let mut sink = Collect::default();
        let t = super::turn(
            &ctx(tui_model),
            &turn(Mode::Ask, vec![], question, 24),
            &mut sink,
        )
        .await
        .unwrap();
        let (c, u) = (&cli.requests()[0], &tui.requests()[0]);
        assert_eq!(c.messages, u.messages);
        assert_eq!(c.params, u.params);
        assert_eq!(a.answer, t.answer);
        assert_eq!(a.citations, t.citations);
        assert_eq!(a.passages, t.passages);
    }

    #[tokio::test]
    async fn ask_mode_with_nothing_found_says_so_without_the_model() {
        let (m, model) = testkit::model(ScriptedModel::new(4096));
        let mut sink = Collect::default();
        let r = super::turn(
            &ctx(model),
            &turn(Mode::Ask, vec![], "zebra quantum", 8),
            &mut sink,
        )
        .await
        .unwrap();
        assert!(!r.found);
        assert_eq!(sink.0, "Not in the knowledge base.");
        assert!(m.requests().is_empty());
    }

    #[tokio::test]
    async fn a_long_conversation_drops_whole_old_exchanges_and_keeps_the_system_prompt() {
        let long = "word ".repeat(30);
        let history = vec![
            ChatMessage::new(Role::User, long.clone()),
            ChatMessage::new(Role::Assistant, long.clone()),
            ChatMessage::new(Role::User, "short question".to_string()),
            ChatMessage::new(Role::Assistant, "short answer".to_string()),
        ];
        let (m, model) = testkit::model(ScriptedModel::new(80));
        let r = super::turn(
            &ctx(model),
            &turn(Mode::Chat, history, "and now?", 16),
            &mut Collect::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.dropped_messages, 2);
        let sent = &m.requests()[0];
        assert_eq!(
            sent.messages[0],
            ChatMessage::new(Role::System, "You are terse.")
        );
        assert_eq!(sent.messages[1].content, "short question");
        assert_eq!(sent.messages.last().unwrap().content, "and now?");
        assert_eq!(sent.params.temperature, 0.9, "plain chat is not capped");
    }

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("ASK".parse::<Mode>(), Ok(Mode::Ask));
        assert_eq!(" support ".parse::<Mode>(), Ok(Mode::Support));
        assert!("voice"
            .parse::<Mode>()
            .unwrap_err()
            .contains("chat, ask, support or agent"));
        assert_eq!("agent".parse::<Mode>(), Ok(Mode::Agent));
        assert_eq!(Mode::Chat.to_string(), "chat");
        assert!(!Mode::Chat.grounded() && Mode::Ask.grounded());
        assert!(!Mode::Agent.grounded() && Mode::Support.grounded());
    }
}
