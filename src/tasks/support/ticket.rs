//! The hand-over summary of a dialogue, and the tickets on disk.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::classifier::Sentiment;
use super::dialogue::Dialogue;
use super::query::wants_human;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// The dialogue is still running.
    Open,
    /// A person takes over.
    HandedOver,
    /// The dialogue ended without a hand-over.
    Closed,
}

impl TicketStatus {
    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::HandedOver => "handed_over",
            TicketStatus::Closed => "closed",
        }
    }
}

impl std::fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad` so that width flags line tickets up in listings.
        f.pad(self.name())
    }
}

/// The hand-over summary of a dialogue, written as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub time: String,
    pub updated: String,
    pub status: TicketStatus,
    pub intent: String,
    pub sentiment_trend: Vec<Sentiment>,
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
    pub fn from_dialogue(d: &Dialogue, status: TicketStatus, greeting: &str) -> Ticket {
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
            status,
            intent,
            sentiment_trend: d.turns.iter().map(|t| t.sentiment).collect(),
            summary,
            customer_needs: needs,
            answered,
            open_questions,
            handover_reason: d.handover.clone(),
            transcript,
        }
    }
}

impl Dialogue {
    /// The ticket at this point: `Open` while the dialogue runs, else as
    /// given.
    pub fn ticket(&self, status: TicketStatus, greeting: &str) -> Ticket {
        Ticket::from_dialogue(self, status, greeting)
    }

    /// How the dialogue ends: handed over, or closed.
    pub fn final_status(&self) -> TicketStatus {
        if self.handover.is_some() {
            TicketStatus::HandedOver
        } else {
            TicketStatus::Closed
        }
    }

    /// The status while it runs.
    pub fn running_status(&self) -> TicketStatus {
        if self.handover.is_some() {
            TicketStatus::HandedOver
        } else {
            TicketStatus::Open
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
        crate::fs::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// All tickets, newest first; unreadable files are reported, not
    /// fatal: one "skipped PATH: reason" line each. A missing directory is
    /// an empty list (nothing written yet); one that cannot be read is a
    /// warning too, so `lore support tickets` never fails silently.
    pub fn list(&self) -> (Vec<Ticket>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (out, warnings),
            Err(e) => {
                warnings.push(format!(
                    "cannot read the tickets directory {}: {e}",
                    self.dir.display()
                ));
                return (out, warnings);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                // Hidden files are the temporary files of a save in
                // progress (or of one killed mid-way); never tickets.
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".json") && !name.starts_with('.') && p.is_file()
            })
            .collect();
        paths.sort();
        for p in paths {
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Ticket>(&b).map_err(|e| e.to_string()))
            {
                Ok(t) => out.push(t),
                Err(e) => warnings.push(format!("skipped {}: {e}", p.display())),
            }
        }
        // RFC 3339 times with different offsets do not sort as text, so
        // compare instants; unparseable times go last.
        let instant = |t: &Ticket| chrono::DateTime::parse_from_rfc3339(&t.updated).ok();
        out.sort_by(|a, b| {
            instant(b)
                .cmp(&instant(a))
                .then_with(|| b.updated.cmp(&a.updated))
                .then_with(|| b.id.cmp(&a.id))
        });
        (out, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::{Citation, Via};
    use crate::tasks::support::dialogue::TurnRecord;

    #[test]
    fn tickets_summarise_without_inventing() {
        let mut d = Dialogue::new();
        let turn = |c: &str, found: bool, intent: &str| TurnRecord {
            customer: c.into(),
            query: c.into(),
            intent: intent.into(),
            sentiment: Sentiment::Neutral,
            reply: "r".into(),
            found,
            passages: vec![],
            citations: vec![Citation {
                n: 1,
                via: Via::Overlap,
                path: "returns/return-policy.md".into(),
                lines: (1, 9),
                heading: String::new(),
                snippet: String::new(),
            }],
            citations_valid: true,
            supported: true,
            support: vec![],
            withheld: None,
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
        let t = Ticket::from_dialogue(&d, TicketStatus::HandedOver, "Hi!");
        assert_eq!(t.intent, "returns");
        assert_eq!(t.answered.len(), 1);
        assert_eq!(t.answered[0].sources, ["returns/return-policy.md"]);
        assert_eq!(t.open_questions, ["What is the weather on Mars?"]);
        assert_eq!(t.transcript.len(), 5);
        assert!(t.summary.contains("handed over"));
    }

    #[test]
    fn list_skips_damaged_and_temporary_files_and_sorts_by_instant() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TicketStore {
            dir: tmp.path().join("tickets"),
        };
        assert_eq!(store.list().0.len(), 0, "a missing dir is empty");
        let mut t = Ticket::from_dialogue(&Dialogue::new(), TicketStatus::Open, "Hi!");
        for (id, updated) in [
            ("T-a", "2026-11-23T10:00:00+00:00"),
            // Later as an instant, earlier as text.
            ("T-b", "2026-11-23T09:30:00-02:00"),
        ] {
            t.id = id.into();
            t.updated = updated.into();
            store.save(&t).unwrap();
        }
        let good = std::fs::read(store.path("T-a")).unwrap();
        std::fs::write(store.path("T-torn"), &good[..good.len() / 2]).unwrap();
        std::fs::write(store.path("T-bin"), b"\xff\x00").unwrap();
        std::fs::write(store.dir.join(".T-a.json.tmp"), &good[..10]).unwrap();
        std::fs::write(store.dir.join(".T-c.json"), &good[..10]).unwrap();
        let (list, warnings) = store.list();
        let ids: Vec<&str> = list.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T-b", "T-a"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        for bad in ["T-torn.json", "T-bin.json"] {
            assert_eq!(warnings.iter().filter(|w| w.contains(bad)).count(), 1);
        }
        assert!(warnings.iter().all(|w| !w.contains('\n')), "{warnings:?}");
        // A file where the directory should be: one warning, no tickets.
        let blocked = TicketStore {
            dir: store.path("T-a"),
        };
        let (list, warnings) = blocked.list();
        assert!(list.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("tickets directory"), "{warnings:?}");
    }

    #[test]
    fn ticket_status_is_written_as_before() {
        let s = serde_json::to_string(&TicketStatus::HandedOver).unwrap();
        assert_eq!(s, "\"handed_over\"");
        let back: TicketStatus = serde_json::from_str("\"open\"").unwrap();
        assert_eq!(back, TicketStatus::Open);
        assert_eq!(format!("{:<8}|", TicketStatus::Closed), "closed  |");
    }
}
