//! The TUI's state and its `update`: every key press, paste, resize, tick
//! and worker message goes through [`update`], which changes the state and
//! returns the [`Effect`]s for the runtime to carry out (send a turn, cancel,
//! save, copy...). Nothing here touches the terminal, the disk or the
//! engine, which is what makes every key path unit-testable.
//!
//! This module holds the state and the types the runtime and the view
//! share; `update` (keys, scrolling, worker messages) and the slash
//! commands live in their own files.

mod agent;
mod approval;
mod commands;
mod update;

pub use self::commands::SlashCommand;
pub use self::update::update;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use crossterm::event::KeyEvent;
use ratatui::text::Line;
use tui_textarea::{TextArea, WrapMode};

use super::steps::ToolStep;
use super::theme::Theme;
use crate::agent::policy::{Isolation, Mode as AgentMode};
use crate::agent::protocol::{ApprovalRequest, Decision};
use crate::grounding::Passage;
use crate::model::{ChatMessage, Role};
use crate::sessions::{ReplyStats, Session, SessionMessage, Store, Summary};
use crate::tasks::chat::Mode;
use crate::tasks::conversation::AgentUpdate;

/// Who a transcript entry is from. Notes and errors are lore's own and
/// never reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
    Note,
    Error,
}

/// A passage a reply was grounded in, and whether the reply cites it.
/// Reads as the [`Passage`] it holds (`source.path`, `source.snippet`).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub passage: Passage,
    /// Whether the reply cites it (by marker or attribution).
    pub cited: bool,
}

impl Source {
    /// `path:Lstart-Lend`, the pane's title line (the heading has its own).
    pub fn label(&self) -> String {
        format!("{}:L{}-L{}", self.path, self.lines.0, self.lines.1)
    }
}

impl std::ops::Deref for Source {
    type Target = Passage;
    fn deref(&self) -> &Passage {
        &self.passage
    }
}

/// One transcript entry, with its rendered lines cached per width.
#[derive(Debug)]
pub struct Message {
    pub speaker: Speaker,
    pub content: String,
    pub sources: Vec<Source>,
    /// The reply's sentences its passages do not support, for the sources
    /// pane (not saved with the session).
    pub unsupported: Vec<String>,
    pub cancelled: bool,
    pub streaming: bool,
    pub stats: Option<ReplyStats>,
    /// An agent reply's tool steps, in order (not saved with the session:
    /// the agent's own log keeps them).
    pub steps: Vec<ToolStep>,
    /// Whether the steps show one by one with their full output (F3).
    pub expanded: bool,
    /// Why an agent turn ended without an answer (`StopReason::explain`).
    pub stopped: Option<String>,
    rev: u64,
    cache: RefCell<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    width: u16,
    rev: u64,
    lines: Rc<Vec<Line<'static>>>,
}

impl Message {
    pub fn new(speaker: Speaker, content: impl Into<String>) -> Message {
        Message {
            speaker,
            content: content.into(),
            sources: Vec::new(),
            unsupported: Vec::new(),
            cancelled: false,
            streaming: false,
            stats: None,
            steps: Vec::new(),
            expanded: false,
            stopped: None,
            rev: 0,
            cache: RefCell::new(None),
        }
    }

    /// Marks the content changed, so the next frame renders it again.
    pub fn touch(&mut self) {
        self.rev += 1;
    }

    /// The message's lines at `width`, rendered by `render` only when the
    /// content or the width changed since the last call. This is what keeps
    /// a frame's cost independent of the transcript's length.
    pub fn lines(
        &self,
        width: u16,
        render: impl FnOnce(&Message) -> Vec<Line<'static>>,
    ) -> Rc<Vec<Line<'static>>> {
        if let Some(c) = self.cache.borrow().as_ref() {
            if c.width == width && c.rev == self.rev {
                return c.lines.clone();
            }
        }
        let lines = Rc::new(render(self));
        *self.cache.borrow_mut() = Some(Cached {
            width,
            rev: self.rev,
            lines: lines.clone(),
        });
        lines
    }
}

/// Model facts shown in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelView {
    pub name: String,
    pub device: String,
    pub context_length: usize,
}

/// What the status bar shows besides the model.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub model: Option<ModelView>,
    /// The model being loaded, while it loads.
    pub loading: Option<String>,
    pub mode: Mode,
    pub index: String,
    /// Tokens of the last prompt plus its reply.
    pub context_used: usize,
    pub last: Option<ReplyStats>,
    pub support: Option<SupportView>,
    /// Agent mode's workspace root as shown (`~/src/lore`); `None` when
    /// there is none.
    pub workspace: Option<String>,
    /// What the agent may do unasked, and how its commands are isolated;
    /// `None` without agent mode.
    pub policy: Option<PolicyView>,
}

/// The agent's approval mode and sandbox, as the status bar shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    pub mode: AgentMode,
    pub isolation: Isolation,
}

impl PolicyView {
    /// Whether commands run without the sandbox's protection, which the
    /// status bar shows in red.
    pub fn exposed(&self) -> bool {
        self.isolation != Isolation::Isolated
    }
}

/// A call waiting at the approval prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub request: ApprovalRequest,
    /// When it appeared: keys are ignored for [`APPROVAL_GUARD`] after.
    pub shown_at: Instant,
    /// The first line of the command or diff shown.
    pub scroll: usize,
}

/// How long the prompt ignores keys, so that typing already under way
/// cannot answer a question the user has not seen.
pub const APPROVAL_GUARD: std::time::Duration = std::time::Duration::from_millis(250);

/// What the title says while a call waits for the user.
pub const APPROVAL_TITLE: &str = "lore: approval needed";

/// The agent turn in progress: its step limit (known once it starts),
/// the steps finished, and whether an interrupt was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentRun {
    /// The workspace root the agent reports (prompts name it as shown in
    /// the status bar).
    pub root: std::path::PathBuf,
    pub max_steps: usize,
    pub done: usize,
    pub interrupting: bool,
}

impl AgentRun {
    /// The step under way, counting from 1 (the answer is a step too).
    pub fn step(&self) -> usize {
        (self.done + 1).min(self.max_steps.max(1))
    }
}

/// A full-screen panel over the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help {
        scroll: u16,
    },
    Sessions {
        items: Vec<Summary>,
        selected: usize,
    },
}

/// Input to [`update`].
#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Paste(String),
    Resize(u16, u16),
    /// Mouse wheel: lines, negative up.
    Scroll(i32),
    Tick,
    Worker(WorkerEvent),
}

/// What the runtime reports back.
#[derive(Debug)]
pub enum WorkerEvent {
    Delta {
        turn: u64,
        text: String,
    },
    Done {
        turn: u64,
        reply: ReplyDone,
    },
    Failed {
        turn: u64,
        message: String,
    },
    /// An agent turn's progress (see [`AgentUpdate`]).
    Agent {
        turn: u64,
        update: AgentUpdate,
    },
    ModelLoading {
        name: String,
    },
    ModelReady {
        model: ModelView,
    },
    ModelFailed {
        message: String,
    },
    IndexReady {
        name: String,
    },
    Note(String),
    Error(String),
    Sessions(Vec<Summary>),
    SessionLoaded(Box<Session>),
}

/// The end of a reply.
#[derive(Debug, Clone, Default)]
pub struct ReplyDone {
    pub sources: Vec<Source>,
    pub stats: Option<ReplyStats>,
    /// Prompt plus reply tokens.
    pub context_used: usize,
    /// Oldest messages left out of the prompt to fit the context.
    pub dropped_messages: usize,
    pub citations_valid: bool,
    /// The text of the sentences the support check found no passage for
    /// (see [`crate::grounding::support`]).
    pub unsupported: Vec<String>,
    /// The draft answer was held back as unsupported (strict checks); the
    /// reply shown is the not-found one.
    pub withheld: bool,
    /// Support mode: how the customer's turn was read.
    pub support: Option<SupportView>,
}

/// Support mode's reading of the last customer turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SupportView {
    pub intent: String,
    pub sentiment: String,
    /// Why the agent handed over, when it did.
    pub handover: Option<String>,
    pub ticket: String,
}

/// A turn for the runtime to run: the conversation service's request.
pub use crate::tasks::conversation::TurnRequest as Request;

/// Work for the runtime, returned by [`update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Request),
    Cancel,
    /// Stop the running agent turn; it ends as aborted.
    Interrupt,
    /// The next agent turn starts a new agent session.
    ResetAgent,
    Quit,
    Copy(String),
    /// The user's answer to the agent's approval request `call_id`.
    Decide {
        call_id: String,
        decision: Decision,
    },
    /// Ring the terminal bell.
    Bell,
    /// Set the terminal's title (the old one is kept), or put the old one
    /// back (`None`).
    Title(Option<String>),
    /// Throw away the input not yet handled: keys typed before the
    /// approval prompt appeared must not answer it.
    DrainInput,
    /// Revert the agent's last edit.
    Undo,
    /// The agent's approval mode from now on.
    SetAgentMode(AgentMode),
    Save(Box<Session>),
    LoadModel(String),
    SwitchIndex(String),
    ListSessions,
    LoadSession(String),
    CountTokens(Request),
}

/// The whole state of the TUI.
pub struct App {
    pub theme: Theme,
    pub messages: Vec<Message>,
    pub input: TextArea<'static>,
    pub prompt_history: Vec<String>,
    history_pos: Option<usize>,
    /// Top line of the transcript when scrolled; `None` follows the end.
    pub scroll: Option<usize>,
    pub overlay: Overlay,
    pub show_sources: bool,
    /// The selected reply (message index); `None` is the latest reply.
    pub selected: Option<usize>,
    /// The running turn and the message it streams into.
    pub generating: Option<(u64, usize)>,
    /// When the running turn is an agent turn: how far it is.
    pub agent_run: Option<AgentRun>,
    /// The next agent turn starts a new agent (a new conversation).
    agent_fresh: bool,
    /// The call waiting for the user's consent; the prompt replaces the
    /// input while it waits.
    pub approval: Option<PendingApproval>,
    /// The time, injected so the approval guard is testable.
    pub clock: Rc<dyn Fn() -> Instant>,
    pub quit_armed: bool,
    pub status: Status,
    /// Metadata of the conversation being saved (its messages are built
    /// from `messages` at each save).
    pub session: Session,
    store: Store,
    /// Text piped into `lore chat`, sent with the first message.
    pub attachment: Option<String>,
    pub width: u16,
    pub height: u16,
    pub tick: u64,
    /// A transient line for the status bar and the tick it expires at.
    pub hint: Option<(String, u64)>,
    pub quit: bool,
    next_turn: u64,
    /// What the support agent says first.
    pub greeting: String,
}

/// Ticks (of 100 ms) a hint stays on screen.
const HINT_TICKS: u64 = 40;

impl App {
    pub fn new(theme: Theme, store: Store, session: Session, status: Status) -> App {
        let mut app = App {
            theme,
            messages: Vec::new(),
            input: TextArea::default(),
            prompt_history: Vec::new(),
            history_pos: None,
            scroll: None,
            overlay: Overlay::None,
            show_sources: false,
            selected: None,
            generating: None,
            agent_run: None,
            agent_fresh: true,
            approval: None,
            clock: Rc::new(Instant::now),
            quit_armed: false,
            status,
            session: Session::clone(&session),
            store,
            attachment: None,
            width: 80,
            height: 24,
            tick: 0,
            hint: None,
            quit: false,
            next_turn: 1,
            greeting: String::new(),
        };
        app.reset_input();
        app.load_session(session);
        app
    }

    /// Sets support mode's greeting and says it when a support
    /// conversation starts empty.
    pub fn set_greeting(&mut self, greeting: &str) {
        self.greeting = greeting.to_string();
        self.greet();
    }

    fn greet(&mut self) {
        if self.status.mode == Mode::Support
            && self.messages.is_empty()
            && !self.greeting.is_empty()
        {
            self.messages
                .push(Message::new(Speaker::Assistant, self.greeting.clone()));
        }
    }

    fn reset_input(&mut self) {
        let mut input = TextArea::default();
        input.set_wrap_mode(WrapMode::Word);
        input.set_placeholder_text("Type a message; Enter sends, F1 for help");
        input.set_placeholder_style(self.theme.dim);
        input.set_cursor_line_style(ratatui::style::Style::new());
        input.set_cursor_style(
            self.theme
                .selected
                .add_modifier(ratatui::style::Modifier::REVERSED),
        );
        self.input = input;
    }

    pub fn input_text(&self) -> String {
        self.input.lines().join("\n")
    }

    fn set_input(&mut self, text: &str) {
        self.reset_input();
        self.input.insert_str(text);
    }

    fn hint(&mut self, text: impl Into<String>) {
        self.hint = Some((text.into(), self.tick + HINT_TICKS));
    }

    fn note(&mut self, speaker: Speaker, text: impl Into<String>) {
        self.messages.push(Message::new(speaker, text));
        self.scroll = None;
    }

    /// The reply the sources pane and /copy act on.
    pub fn selected_reply(&self) -> Option<usize> {
        self.selected.or_else(|| {
            self.messages
                .iter()
                .rposition(|m| m.speaker == Speaker::Assistant)
        })
    }

    /// The session as saved now.
    pub fn snapshot(&self) -> Session {
        let mut s = self.session.clone();
        s.mode = self.status.mode.name().to_string();
        s.index = self.status.index.clone();
        s.messages = self
            .messages
            .iter()
            .filter_map(|m| {
                let role = match m.speaker {
                    Speaker::User => Role::User,
                    Speaker::Assistant => Role::Assistant,
                    Speaker::Note | Speaker::Error => return None,
                };
                Some(SessionMessage {
                    role,
                    content: m.content.clone(),
                    sources: m.sources.iter().map(|s| s.passage.clone()).collect(),
                    cancelled: m.cancelled || m.streaming || m.stopped.is_some(),
                    stats: m.stats.clone(),
                })
            })
            .collect();
        s
    }

    fn save(&self) -> Effect {
        Effect::Save(Box::new(self.snapshot()))
    }

    /// Replaces the transcript with a saved session.
    pub fn load_session(&mut self, session: Session) {
        self.messages = session
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| {
                let speaker = if m.role == Role::User {
                    Speaker::User
                } else {
                    Speaker::Assistant
                };
                let mut msg = Message::new(speaker, m.content.clone());
                msg.cancelled = m.cancelled;
                msg.stats = m.stats.clone();
                msg.sources = m
                    .sources
                    .iter()
                    .map(|p| Source {
                        passage: p.clone(),
                        cited: true,
                    })
                    .collect();
                msg
            })
            .collect();
        if let Ok(mode) = session.mode.parse() {
            self.status.mode = mode;
        }
        self.prompt_history = self
            .messages
            .iter()
            .filter(|m| m.speaker == Speaker::User)
            .map(|m| m.content.clone())
            .collect();
        self.session = session;
        self.selected = None;
        self.scroll = None;
        self.agent_fresh = true;
    }

    fn request(&self, turn: u64, user: String, attachment: Option<String>) -> Request {
        Request {
            turn,
            mode: self.status.mode,
            system: self.session.system.clone(),
            history: history_of(&self.messages),
            user,
            attachment,
        }
    }

    /// Starts a turn for `user`, whose message is already in the transcript.
    fn start_turn(&mut self, user: String) -> Vec<Effect> {
        let attachment = self.attachment.take();
        let turn = self.next_turn;
        self.next_turn += 1;
        // The new user message has no reply yet, so it is not history.
        let req = self.request(turn, user, attachment);
        let mut reply = Message::new(Speaker::Assistant, "");
        reply.streaming = true;
        self.messages.push(reply);
        self.generating = Some((turn, self.messages.len() - 1));
        self.selected = None;
        self.scroll = None;
        let mut effects = Vec::new();
        if self.status.mode == Mode::Agent {
            self.agent_run = Some(AgentRun::default());
            if std::mem::take(&mut self.agent_fresh) {
                effects.push(Effect::ResetAgent);
            }
        }
        effects.extend([Effect::Send(req), self.save()]);
        effects
    }
}

/// The conversation as the model sees it: complete exchanges only, so a
/// cancelled or failed reply (or a message still waiting for its reply)
/// leaves no unanswered question behind.
fn history_of(messages: &[Message]) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let mut pending: Option<&Message> = None;
    for m in messages {
        match m.speaker {
            Speaker::User => pending = Some(m),
            Speaker::Assistant if !m.cancelled && !m.streaming && !m.content.is_empty() => {
                if let Some(u) = pending.take() {
                    out.push(ChatMessage::new(Role::User, u.content.clone()));
                    out.push(ChatMessage::new(Role::Assistant, m.content.clone()));
                }
            }
            _ => {}
        }
    }
    out
}
