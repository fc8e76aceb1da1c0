//! [`update`]: keys, paste, scrolling, ticks and the worker's messages.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{App, Effect, Event, Message, Overlay, Speaker, WorkerEvent};
use crate::tui::{keys, layout};

impl App {
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

    fn cancel(&mut self) -> Vec<Effect> {
        let Some((_, idx)) = self.generating.take() else {
            return Vec::new();
        };
        if let Some(m) = self.messages.get_mut(idx) {
            m.cancelled = true;
            m.streaming = false;
            m.touch();
        }
        self.agent_run = None;
        self.hint("reply cancelled");
        vec![Effect::Cancel, self.save()]
    }

    /// Total transcript lines and the visible height, for scrolling.
    fn scroll_geometry(&self) -> (usize, usize) {
        let areas = layout::areas(self, self.width, self.height);
        let total = layout::total_lines(self, areas.transcript.width);
        (total, areas.transcript.height as usize)
    }

    fn scroll_by(&mut self, delta: i64) {
        let (total, height) = self.scroll_geometry();
        let max_top = total.saturating_sub(height);
        let top = self.scroll.unwrap_or(max_top).min(max_top) as i64;
        let new = (top + delta).clamp(0, max_top as i64) as usize;
        self.scroll = (new < max_top).then_some(new);
    }

    pub(super) fn scroll_to_selected(&mut self) {
        let Some(idx) = self.selected else {
            self.scroll = None;
            return;
        };
        let width = layout::areas(self, self.width, self.height)
            .transcript
            .width;
        let offset = layout::message_offset(self, idx, width);
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
        if self.approval.is_some() {
            return self.approval_key(key);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let is_ctrl_c = ctrl && key.code == KeyCode::Char('c');
        if !is_ctrl_c && self.quit_armed {
            self.quit_armed = false;
            self.hint = None;
        }
        if is_ctrl_c {
            if self.agent_run.as_ref().is_some_and(|r| !r.interrupting) {
                return self.interrupt();
            }
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
            KeyCode::F(3) => self.toggle_steps(),
            KeyCode::Char('o') if alt => self.toggle_steps(),
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
                m.unsupported = reply.unsupported.clone();
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
                // One hint slot: the later, the more important.
                if !reply.citations_valid {
                    self.hint("the reply cites passages that do not exist; they are not listed");
                }
                if let Some(hint) = support_hint(&reply.unsupported, reply.withheld) {
                    self.hint(hint);
                }
                if let Some(sv) = &reply.support {
                    if let Some(reason) = &sv.handover {
                        self.hint(format!("handed over ({reason}): ticket {}", sv.ticket));
                    }
                }
                if reply.support.is_some() {
                    self.status.support = reply.support.clone();
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
                self.agent_run = None;
                let mut effects = self.close_approval();
                if self.messages[idx].content.is_empty() && self.messages[idx].steps.is_empty() {
                    self.messages.remove(idx);
                } else {
                    let m = &mut self.messages[idx];
                    m.streaming = false;
                    m.cancelled = true;
                    m.touch();
                }
                self.note(Speaker::Error, message);
                effects.push(self.save());
                return effects;
            }
            WorkerEvent::Agent { turn, update } => return self.agent_update(turn, update),
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

/// Columns of an unsupported sentence quoted in a hint.
const HINT_QUOTE_COLS: usize = 40;

/// The status-bar line for a reply the support check found wanting: the
/// first unsupported sentence, cut to fit, and how many more the sources
/// pane lists. None for a reply with nothing to say.
fn support_hint(unsupported: &[String], withheld: bool) -> Option<String> {
    let first = unsupported.first().map(|s| {
        let more = match unsupported.len() - 1 {
            0 => String::new(),
            n => format!(" +{n} more (F2)"),
        };
        format!("\"{}\"{more}", clip(s, HINT_QUOTE_COLS))
    });
    match (withheld, first) {
        (true, Some(q)) => Some(format!(
            "the draft answer was held back as unsupported: {q}"
        )),
        (true, None) => Some("the draft answer was held back as unsupported by the sources".into()),
        (false, Some(q)) => Some(format!("not supported by the sources: {q}")),
        (false, None) => None,
    }
}

/// `text` on one line, cut to `cols` columns with an ellipsis when longer.
fn clip(text: &str, cols: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.width() <= cols {
        return one_line;
    }
    // Room is kept for the ellipsis.
    let mut out = crate::tui::markdown::truncate(&one_line, cols.saturating_sub(1));
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Applies one event to the state; returns what the runtime must do.
pub fn update(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key) => app.key(key),
        Event::Paste(text) => {
            // A paste never answers the approval prompt, nor waits behind it.
            if app.overlay == Overlay::None && app.approval.is_none() {
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
