//! The TUI's state and its `update`: every key press, paste, resize, tick
//! and worker message goes through [`update`], which changes the state and
//! returns the [`Effect`]s for the runtime to carry out (send a turn, cancel,
//! save, copy...). Nothing here touches the terminal, the disk or the
//! engine, which is what makes every key path unit-testable.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::text::Line;
use tui_textarea::{TextArea, WrapMode};

use super::keys;
use super::theme::Theme;
use crate::engine::{ChatMessage, Role};
use crate::sessions::{ReplyStats, Session, SessionMessage, SourceRef, Store, Summary};
use crate::tasks::chat::Mode;

/// Who a transcript entry is from. Notes and errors are lore's own and
/// never reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
    Note,
    Error,
}

/// A passage a reply was grounded in.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub n: usize,
    pub path: String,
    pub lines: (u64, u64),
    pub heading: String,
    pub snippet: String,
    /// Byte ranges of the query's terms inside `snippet`.
    pub highlights: Vec<Range<usize>>,
    /// Whether the reply cites it (by marker or attribution).
    pub cited: bool,
}

impl Source {
    pub fn label(&self) -> String {
        format!("{}:L{}-L{}", self.path, self.lines.0, self.lines.1)
    }
}

/// One transcript entry, with its rendered lines cached per width.
#[derive(Debug)]
pub struct Message {
    pub speaker: Speaker,
    pub content: String,
    pub sources: Vec<Source>,
    pub cancelled: bool,
    pub streaming: bool,
    pub stats: Option<ReplyStats>,
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
            cancelled: false,
            streaming: false,
            stats: None,
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
    Delta { turn: u64, text: String },
    Done { turn: u64, reply: ReplyDone },
    Failed { turn: u64, message: String },
    ModelLoading { name: String },
    ModelReady { model: ModelView },
    ModelFailed { message: String },
    IndexReady { name: String },
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

/// A turn for the runtime to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub turn: u64,
    pub mode: Mode,
    pub system: String,
    pub history: Vec<ChatMessage>,
    pub user: String,
    pub attachment: Option<String>,
}

/// Work for the runtime, returned by [`update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Request),
    Cancel,
    Quit,
    Copy(String),
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
                    sources: m
                        .sources
                        .iter()
                        .map(|p| SourceRef {
                            n: p.n,
                            path: p.path.clone(),
                            lines: p.lines,
                            heading: p.heading.clone(),
                            snippet: p.snippet.clone(),
                        })
                        .collect(),
                    cancelled: m.cancelled || m.streaming,
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
                    .map(|s| Source {
                        n: s.n,
                        path: s.path.clone(),
                        lines: s.lines,
                        heading: s.heading.clone(),
                        snippet: s.snippet.clone(),
                        highlights: Vec::new(),
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
        vec![Effect::Send(req), self.save()]
    }

    fn send(&mut self) -> Vec<Effect> {
        let text = self.input_text();
        if text.trim().is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') {
            self.reset_input();
            self.history_pos = None;
            return self.command(text.trim());
        }
        if self.generating.is_some() {
            self.hint("a reply is on its way: wait for it, or Ctrl+C to cancel it");
            return Vec::new();
        }
        if self.prompt_history.last() != Some(&text) {
            self.prompt_history.push(text.clone());
        }
        self.history_pos = None;
        self.reset_input();
        self.messages
            .push(Message::new(Speaker::User, text.clone()));
        self.start_turn(text)
    }

    fn command(&mut self, line: &str) -> Vec<Effect> {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        let busy = self.generating.is_some();
        match name {
            "/help" => self.overlay = Overlay::Help { scroll: 0 },
            "/quit" | "/exit" => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            "/clear" => {
                if busy {
                    self.hint("wait for the reply (or Ctrl+C) before /clear");
                    return Vec::new();
                }
                self.messages.clear();
                self.session = self.store.new_session(
                    &self.session.model,
                    self.status.mode.name(),
                    &self.status.index,
                    &self.session.system,
                );
                self.selected = None;
                self.scroll = None;
                self.status.context_used = 0;
                self.hint("new conversation");
                self.greet();
            }
            "/mode" => match arg.parse::<Mode>() {
                Ok(mode) => {
                    self.status.mode = mode;
                    self.session.mode = mode.name().to_string();
                    let what = match mode {
                        Mode::Chat => "plain conversation, no retrieval".to_string(),
                        Mode::Ask => format!(
                            "each question is answered from index '{}', with sources",
                            self.status.index
                        ),
                        Mode::Support => {
                            format!("customer support over index '{}'", self.status.index)
                        }
                    };
                    if self.messages.is_empty() && mode == Mode::Support {
                        self.greet();
                    } else {
                        self.note(Speaker::Note, format!("mode {mode}: {what}"));
                    }
                }
                Err(e) => self.note(Speaker::Error, e),
            },
            "/index" if arg.is_empty() => self.note(
                Speaker::Note,
                format!("index: {} (/index NAME to switch)", self.status.index),
            ),
            "/index" => return vec![Effect::SwitchIndex(arg.to_string())],
            "/model" if arg.is_empty() => {
                let model = self
                    .status
                    .model
                    .as_ref()
                    .map(|m| format!("{} on {}", m.name, m.device))
                    .unwrap_or_else(|| "none loaded".into());
                self.note(
                    Speaker::Note,
                    format!("model: {model} (/model SPEC to load another)"),
                );
            }
            "/model" if busy => self.hint("wait for the reply (or Ctrl+C) before /model"),
            "/model" => {
                self.status.loading = Some(arg.to_string());
                return vec![Effect::LoadModel(arg.to_string())];
            }
            "/system" if arg.is_empty() => {
                let current = if self.session.system.is_empty() {
                    "(none)".to_string()
                } else {
                    self.session.system.clone()
                };
                self.note(Speaker::Note, format!("system prompt: {current}"));
            }
            "/system" => {
                self.session.system = arg.to_string();
                self.note(Speaker::Note, format!("system prompt set: {arg}"));
                return vec![self.save()];
            }
            "/retry" => return self.retry(),
            "/copy" => {
                let reply = self
                    .selected_reply()
                    .map(|i| self.messages[i].content.clone())
                    .filter(|c| !c.is_empty());
                match reply {
                    Some(text) => {
                        self.hint(format!(
                            "copied {} characters to the clipboard (OSC 52)",
                            text.chars().count()
                        ));
                        return vec![Effect::Copy(text)];
                    }
                    None => self.hint("no reply to copy yet"),
                }
            }
            "/save" if arg.is_empty() => self.note(Speaker::Error, "usage: /save NAME"),
            "/save" => {
                self.session.title = arg.to_string();
                self.hint(format!("saved as '{arg}' ({})", self.session.id));
                return vec![self.save()];
            }
            "/sessions" => return vec![Effect::ListSessions],
            "/load" if arg.is_empty() => {
                self.note(Speaker::Error, "usage: /load ID (/sessions lists them)")
            }
            "/load" if busy => self.hint("wait for the reply (or Ctrl+C) before /load"),
            "/load" => return vec![Effect::LoadSession(arg.to_string())],
            "/tokens" => {
                let req = self.request(0, self.input_text(), self.attachment.clone());
                return vec![Effect::CountTokens(req)];
            }
            _ => self.note(
                Speaker::Error,
                format!("unknown command {name}; /help lists the commands"),
            ),
        }
        Vec::new()
    }

    fn retry(&mut self) -> Vec<Effect> {
        if self.generating.is_some() {
            self.hint("a reply is on its way: Ctrl+C cancels it");
            return Vec::new();
        }
        let Some(last_user) = self
            .messages
            .iter()
            .rposition(|m| m.speaker == Speaker::User)
        else {
            self.hint("nothing to retry yet");
            return Vec::new();
        };
        self.messages.truncate(last_user + 1);
        let user = self.messages[last_user].content.clone();
        self.start_turn(user)
    }

    fn cancel(&mut self) -> Vec<Effect> {
        let Some((_, idx)) = self.generating.take() else {
            return Vec::new();
        };
        if let Some(m) = self.messages.get_mut(idx) {
            m.cancelled = true;
            m.streaming = false;
            m.touch();
        }
        self.hint("reply cancelled");
        vec![Effect::Cancel, self.save()]
    }

    /// Total transcript lines and the visible height, for scrolling.
    fn scroll_geometry(&self) -> (usize, usize) {
        let areas = super::view::areas(self, self.width, self.height);
        let total = super::view::total_lines(self, areas.transcript.width);
        (total, areas.transcript.height as usize)
    }

    fn scroll_by(&mut self, delta: i64) {
        let (total, height) = self.scroll_geometry();
        let max_top = total.saturating_sub(height);
        let top = self.scroll.unwrap_or(max_top).min(max_top) as i64;
        let new = (top + delta).clamp(0, max_top as i64) as usize;
        self.scroll = (new < max_top).then_some(new);
    }

    fn scroll_to_selected(&mut self) {
        let Some(idx) = self.selected else {
            self.scroll = None;
            return;
        };
        let width = super::view::areas(self, self.width, self.height)
            .transcript
            .width;
        let offset = super::view::message_offset(self, idx, width);
        let (total, height) = self.scroll_geometry();
        let max_top = total.saturating_sub(height);
        let top = self.scroll.unwrap_or(max_top);
        if offset < top || offset >= top + height {
            self.scroll = (offset < max_top).then_some(offset);
        }
    }

    fn select_reply(&mut self, step: i64) {
        let replies: Vec<usize> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.speaker == Speaker::Assistant)
            .map(|(i, _)| i)
            .collect();
        if replies.is_empty() {
            return;
        }
        let current = self
            .selected_reply()
            .and_then(|s| replies.iter().position(|&r| r == s))
            .unwrap_or(replies.len() - 1) as i64;
        let next = (current + step).clamp(0, replies.len() as i64 - 1) as usize;
        self.selected = if next == replies.len() - 1 {
            None
        } else {
            Some(replies[next])
        };
        self.scroll_to_selected();
    }

    fn walk_history(&mut self, older: bool) {
        if self.prompt_history.is_empty() {
            return;
        }
        let last = self.prompt_history.len() - 1;
        let pos = match (self.history_pos, older) {
            (None, true) => Some(last),
            (None, false) => return,
            (Some(0), true) => Some(0),
            (Some(p), true) => Some(p - 1),
            (Some(p), false) if p >= last => None,
            (Some(p), false) => Some(p + 1),
        };
        self.history_pos = pos;
        match pos {
            Some(p) => {
                let text = self.prompt_history[p].clone();
                self.set_input(&text);
            }
            None => self.reset_input(),
        }
    }

    fn complete(&mut self) {
        let text = self.input_text();
        let options = keys::completions(&text);
        let completed = match options.len() {
            0 => return,
            1 => {
                let mut c = options[0].clone();
                let takes_arg = keys::COMMANDS
                    .iter()
                    .any(|cmd| cmd.name == c && !cmd.args.is_empty());
                if takes_arg {
                    c.push(' ');
                }
                c
            }
            _ => keys::common_prefix(&options),
        };
        if completed.len() > text.len() {
            self.set_input(&completed);
        }
    }

    fn key_overlay(&mut self, key: KeyEvent) -> Vec<Effect> {
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help { scroll } => match key.code {
                KeyCode::Up => *scroll = scroll.saturating_sub(1),
                KeyCode::Down => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown => *scroll = scroll.saturating_add(10),
                _ => self.overlay = Overlay::None,
            },
            Overlay::Sessions { items, selected } => match key.code {
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => *selected = (*selected + 1).min(items.len().saturating_sub(1)),
                KeyCode::Enter => {
                    let id = items.get(*selected).map(|s| s.id.clone());
                    self.overlay = Overlay::None;
                    if let Some(id) = id {
                        if self.generating.is_some() {
                            self.hint("wait for the reply (or Ctrl+C) before loading");
                        } else {
                            return vec![Effect::LoadSession(id)];
                        }
                    }
                }
                _ => self.overlay = Overlay::None,
            },
        }
        Vec::new()
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let is_ctrl_c = ctrl && key.code == KeyCode::Char('c');
        if !is_ctrl_c && self.quit_armed {
            self.quit_armed = false;
            self.hint = None;
        }
        if is_ctrl_c {
            if self.generating.is_some() {
                return self.cancel();
            }
            if self.overlay != Overlay::None {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            if !self.input_text().is_empty() {
                self.reset_input();
                self.history_pos = None;
                return Vec::new();
            }
            if self.quit_armed {
                self.quit = true;
                return vec![Effect::Quit];
            }
            self.quit_armed = true;
            self.hint = Some(("press Ctrl+C again to quit".into(), u64::MAX));
            return Vec::new();
        }
        if self.overlay != Overlay::None {
            return self.key_overlay(key);
        }
        let empty = self.input_text().is_empty();
        match key.code {
            KeyCode::Char('d') if ctrl && empty => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.input.insert_newline();
            }
            KeyCode::Char('j') if ctrl => self.input.insert_newline(),
            KeyCode::Enter => return self.send(),
            KeyCode::Tab if self.input_text().starts_with('/') => self.complete(),
            KeyCode::F(1) => self.overlay = Overlay::Help { scroll: 0 },
            KeyCode::Char('?') if empty => self.overlay = Overlay::Help { scroll: 0 },
            KeyCode::F(2) => self.show_sources = !self.show_sources,
            KeyCode::Char('s') if alt => self.show_sources = !self.show_sources,
            KeyCode::Esc => {
                if self.show_sources {
                    self.show_sources = false;
                } else if self.selected.is_some() {
                    self.selected = None;
                }
            }
            KeyCode::Up if alt => self.select_reply(-1),
            KeyCode::Down if alt => self.select_reply(1),
            KeyCode::Up if empty || self.history_pos.is_some() => self.walk_history(true),
            KeyCode::Down if self.history_pos.is_some() => self.walk_history(false),
            KeyCode::PageUp => {
                let (_, h) = self.scroll_geometry();
                self.scroll_by(-(h.saturating_sub(2).max(1) as i64));
            }
            KeyCode::PageDown => {
                let (_, h) = self.scroll_geometry();
                self.scroll_by(h.saturating_sub(2).max(1) as i64);
            }
            KeyCode::Home if ctrl || empty => self.scroll_by(i64::MIN / 2),
            KeyCode::End if ctrl || empty => self.scroll = None,
            _ => {
                self.history_pos = None;
                self.input.input(key);
            }
        }
        Vec::new()
    }

    fn worker(&mut self, event: WorkerEvent) -> Vec<Effect> {
        match event {
            WorkerEvent::Delta { turn, text } => {
                if let Some((t, idx)) = self.generating {
                    if t == turn {
                        let m = &mut self.messages[idx];
                        m.content.push_str(&text);
                        m.touch();
                    }
                }
            }
            WorkerEvent::Done { turn, reply } => {
                let Some((t, idx)) = self.generating else {
                    return Vec::new();
                };
                if t != turn {
                    return Vec::new();
                }
                self.generating = None;
                let m = &mut self.messages[idx];
                m.streaming = false;
                m.sources = reply.sources;
                m.stats = reply.stats.clone();
                m.touch();
                self.status.context_used = reply.context_used;
                if reply.stats.is_some() {
                    self.status.last = reply.stats;
                }
                if reply.dropped_messages > 0 {
                    self.hint(format!(
                        "the {} oldest messages no longer fit the context and were left out",
                        reply.dropped_messages
                    ));
                }
                if let Some(sv) = &reply.support {
                    if let Some(reason) = &sv.handover {
                        self.hint(format!("handed over ({reason}): ticket {}", sv.ticket));
                    }
                }
                if reply.support.is_some() {
                    self.status.support = reply.support.clone();
                }
                if !reply.citations_valid {
                    self.hint("the reply cites passages that do not exist; they are not listed");
                }
                return vec![self.save()];
            }
            WorkerEvent::Failed { turn, message } => {
                let Some((t, idx)) = self.generating else {
                    return Vec::new();
                };
                if t != turn {
                    return Vec::new();
                }
                self.generating = None;
                if self.messages[idx].content.is_empty() {
                    self.messages.remove(idx);
                } else {
                    let m = &mut self.messages[idx];
                    m.streaming = false;
                    m.cancelled = true;
                    m.touch();
                }
                self.note(Speaker::Error, message);
                return vec![self.save()];
            }
            WorkerEvent::ModelLoading { name } => self.status.loading = Some(name),
            WorkerEvent::ModelReady { model } => {
                self.status.loading = None;
                self.session.model = model.name.clone();
                self.status.model = Some(model);
            }
            WorkerEvent::ModelFailed { message } => {
                self.status.loading = None;
                self.note(Speaker::Error, message);
            }
            WorkerEvent::IndexReady { name } => {
                self.note(Speaker::Note, format!("searching index '{name}'"));
                self.status.index = name;
            }
            WorkerEvent::Note(text) => self.note(Speaker::Note, text),
            WorkerEvent::Error(text) => self.note(Speaker::Error, text),
            WorkerEvent::Sessions(items) => {
                if items.is_empty() {
                    self.note(Speaker::Note, "no saved conversations yet");
                } else {
                    self.overlay = Overlay::Sessions { items, selected: 0 };
                }
            }
            WorkerEvent::SessionLoaded(session) => {
                let id = session.id.clone();
                self.load_session(*session);
                self.hint(format!("loaded {id}"));
            }
        }
        Vec::new()
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

/// Applies one event to the state; returns what the runtime must do.
pub fn update(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key) => app.key(key),
        Event::Paste(text) => {
            if app.overlay == Overlay::None {
                // Terminals send pasted line ends as CR; the text goes in as is.
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                app.history_pos = None;
                app.input.insert_str(text);
            }
            Vec::new()
        }
        Event::Resize(w, h) => {
            app.width = w;
            app.height = h;
            Vec::new()
        }
        Event::Scroll(lines) => {
            app.scroll_by(i64::from(lines));
            Vec::new()
        }
        Event::Tick => {
            app.tick += 1;
            if app
                .hint
                .as_ref()
                .is_some_and(|(_, until)| *until <= app.tick)
            {
                app.hint = None;
            }
            Vec::new()
        }
        Event::Worker(w) => app.worker(w),
    }
}
