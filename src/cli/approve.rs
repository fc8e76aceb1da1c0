//! Approvals for `lore agent` in a pipe: asked on the controlling terminal
//! (`/dev/tty`), never on stdin, which belongs to the pipe. Where there is
//! no terminal, nobody is asked (the policy denies and the turn ends).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use crate::agent::protocol::{ApprovalRequest, Approver, Decision};

/// Keys pressed sooner than this after the prompt shows are dropped, so
/// type-ahead or a paste cannot approve anything.
pub const KEY_GUARD: Duration = Duration::from_millis(250);

pub struct TtyApprover {
    tty: File,
    color: bool,
}

impl TtyApprover {
    /// The controlling terminal, when there is one.
    pub fn open() -> Option<TtyApprover> {
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        Some(TtyApprover {
            tty,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        })
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn show(&mut self, r: &ApprovalRequest) -> std::io::Result<()> {
        let mut s = format!(
            "\x07\n{} {}\n",
            self.paint("1;33", "lore: approval needed:"),
            r.tool
        );
        if r.tool == "shell" {
            s.push_str(&format!(
                "  {}\n",
                self.paint("1", &format!("$ {}", r.subject))
            ));
        } else {
            s.push_str(&format!("  {}\n", self.paint("1", &r.subject)));
        }
        s.push_str(&format!("  in {}\n  {}\n", r.cwd, r.sandbox));
        if let Some(why) = &r.reason {
            s.push_str(&format!("  why: {why}\n"));
        }
        if let Some(d) = &r.diff {
            s.push_str(&format!("  +{} -{}\n", d.added, d.removed));
            for line in d.unified.lines() {
                let code = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => "32",
                    Some('-') if !line.starts_with("---") => "31",
                    Some('@') => "36",
                    _ => "0",
                };
                s.push_str(&format!("  {}\n", self.paint(code, line)));
            }
        }
        let grant = match &r.grant {
            Some(g) => format!("a: allow {g} · "),
            None => String::new(),
        };
        s.push_str(&format!(
            "  y: once · {grant}n: decline · Esc: decline and stop\n"
        ));
        self.tty.write_all(s.as_bytes())?;
        self.tty.flush()
    }

    fn read_key(&mut self, grantable: bool) -> std::io::Result<Decision> {
        crossterm::terminal::enable_raw_mode()?;
        let result = (|| {
            // Type-ahead, and keys within the guard, are dropped.
            std::thread::sleep(KEY_GUARD);
            while event::poll(Duration::ZERO)? {
                event::read()?;
            }
            loop {
                let Event::Key(k) = event::read()? else {
                    continue;
                };
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    _ if ctrl_c => return Ok(Decision::Abort),
                    KeyCode::Esc => return Ok(Decision::Abort),
                    KeyCode::Char('y' | 'Y') => return Ok(Decision::Once),
                    KeyCode::Char('a' | 'A') if grantable => return Ok(Decision::Session),
                    KeyCode::Char('n' | 'N') => return Ok(Decision::Deny),
                    _ => {}
                }
            }
        })();
        let _ = crossterm::terminal::disable_raw_mode();
        result
    }
}

impl Approver for TtyApprover {
    fn decide(&mut self, request: &ApprovalRequest) -> Decision {
        if self.show(request).is_err() {
            return Decision::Abort;
        }
        let decision = self
            .read_key(request.grant.is_some())
            .unwrap_or(Decision::Abort);
        let said = match decision {
            Decision::Once => "approved once".to_string(),
            Decision::Session => format!(
                "approved: {}",
                request.grant.as_deref().unwrap_or("this session")
            ),
            Decision::Deny => "declined".into(),
            Decision::Abort => "declined; stopping".into(),
        };
        let _ = writeln!(self.tty, "  {said}");
        decision
    }
}
