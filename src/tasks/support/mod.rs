//! `lore support`: a customer-service agent over the knowledge base. Each
//! customer turn is classified (intent, sentiment), retrieved for with a
//! query rewritten from the dialogue, answered through the shared grounded
//! turn (with citations) or plainly not answered, and checked for
//! hand-over. Drivers write the ticket after every turn, so a crash loses
//! nothing.

mod classifier;
mod dialogue;
mod query;
mod script;
mod ticket;

use serde_json::json;

pub use classifier::{Sentiment, TurnClassifier, INTENT_EXAMPLES, SENTIMENT_EXAMPLES};
pub use dialogue::{Dialogue, HandoverRules, TurnRecord};
pub use query::{rewrite_query, wants_human};
pub use script::read_script;
pub use ticket::{Answered, Ticket, TicketStatus, TicketStore, TranscriptLine};

use super::grounded::{self, GroundedTurn, Retrieval, System, TemplatePrompt};
use super::policy::{Checks, TurnPolicy};
use super::TaskError;
use crate::model::{GenParams, Model};
use crate::output::Sink;
use crate::prompts::Template;

/// Who the agent is and what it may say: rendered into the support
/// template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Persona {
    pub company: String,
    pub tone: String,
    pub may_promise: String,
    pub must_not_promise: String,
    pub languages: String,
}

/// Persona, fixed replies and hand-over rules (built from the `[support]`
/// settings by the application).
#[derive(Debug, Clone, PartialEq)]
pub struct SupportPolicy {
    pub persona: Persona,
    pub greeting: String,
    /// The reply when nothing relevant is found.
    pub not_found: String,
    /// The hand-over message; `{ticket}` becomes the ticket id.
    pub handover_message: String,
    pub handover: HandoverRules,
    /// Reply not found (and count the turn toward hand-over) rather than
    /// send an answer its sources do not support (`support.strict`).
    pub strict: bool,
}

impl SupportPolicy {
    /// The support template with this persona.
    pub fn prompt(&self, template: Template) -> TemplatePrompt {
        let p = &self.persona;
        TemplatePrompt {
            template,
            vars: json!({
                "company": p.company,
                "tone": p.tone,
                "may_promise": p.may_promise,
                "must_not_promise": p.must_not_promise,
                "languages": p.languages,
            }),
            system: System::FromTemplate {
                fallback: String::new(),
            },
        }
    }
}

/// Everything a support turn needs.
#[derive(Clone)]
pub struct Agent {
    pub model: Model,
    pub retrieval: Retrieval,
    /// The support template, with the persona.
    pub prompt: TemplatePrompt,
    pub policy: SupportPolicy,
    pub classifier: std::sync::Arc<TurnClassifier>,
    pub params: GenParams,
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
    let query = rewrite_query(&dialogue.customer_turns(), customer);
    let mut record = TurnRecord::new(customer, query, intent, sentiment);

    if wants_human(customer) || record.intent == "human" {
        record.found = true;
        return hand_over(
            agent,
            dialogue,
            record,
            "the customer asked for a person",
            sink,
        );
    }

    let history = dialogue.history();
    let turn = GroundedTurn {
        question: customer,
        query: &record.query,
        history: &history,
        attachment: None,
        search_index: true,
        not_found: &agent.policy.not_found,
        params: &agent.params,
        policy: TurnPolicy::grounded(Checks {
            strict: agent.policy.strict,
            ..agent.retrieval.checks
        }),
    };
    let model = agent.model.clone();
    let reply = grounded::run(
        &agent.retrieval,
        &agent.prompt,
        &turn,
        async move { Ok(model) },
        sink,
    )
    .await?;
    record.answered(reply);
    if let Some(reason) = dialogue.handover_reason(&record, agent.policy.handover) {
        sink.text("\n\n").map_err(TaskError::Output)?;
        return hand_over(agent, dialogue, record, &reason, sink);
    }
    dialogue.turns.push(record.clone());
    Ok(record)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scripted::ScriptedModel;
    use crate::tasks::testkit::{self, Collect};

    fn agent(model: Model) -> Agent {
        let intents = crate::tasks::classify::labels_from_list(
            "account,billing,shipping,returns,troubleshooting,privacy,contact,human,other",
        )
        .unwrap();
        let classifier = TurnClassifier::new(
            intents,
            (INTENT_EXAMPLES, "intents"),
            (SENTIMENT_EXAMPLES, "sentiment"),
            testkit::template("classify"),
        )
        .unwrap();
        let policy = SupportPolicy {
            persona: Persona {
                company: "Tallybird".into(),
                ..Persona::default()
            },
            greeting: "Hi!".into(),
            not_found: "I could not find that.".into(),
            handover_message: "A colleague takes over ticket {ticket}.".into(),
            handover: HandoverRules {
                negative_turns: 2,
                not_found_turns: 2,
            },
            strict: false,
        };
        Agent {
            model,
            retrieval: testkit::retrieval(),
            prompt: policy.prompt(testkit::template("support")),
            policy,
            classifier: std::sync::Arc::new(classifier),
            params: GenParams {
                max_tokens: 16,
                temperature: 1.0,
                ..GenParams::default()
            },
        }
    }

    async fn say(a: &Agent, d: &mut Dialogue, text: &str) -> (TurnRecord, String) {
        let mut sink = Collect::default();
        let r = respond(a, d, text, &mut sink).await.unwrap();
        (r, sink.0)
    }

    #[tokio::test]
    async fn an_answered_turn_is_cited_and_capped_and_the_dialogue_goes_on() {
        let (m, model) = testkit::model(ScriptedModel::new(4096).reply("Within 30 days [1]."));
        let a = agent(model);
        let mut d = Dialogue::new();
        let (r, text) = say(
            &a,
            &mut d,
            "How long do I have to return an item for a refund?",
        )
        .await;
        assert!(r.found && r.handover.is_none());
        assert_eq!(text, "Within 30 days [1].");
        assert_eq!(r.citations[0].path, "returns.md");
        assert_eq!(m.requests()[0].params.temperature, 0.3);
        assert!(m.requests()[0].messages[0].content.contains("Tallybird"));
        assert_eq!(d.turns.len(), 1);
        assert_eq!(d.running_status(), TicketStatus::Open);
        assert_eq!(d.final_status(), TicketStatus::Closed);
    }

    #[tokio::test]
    async fn strict_support_withholds_unsupported_answers_and_counts_them_toward_hand_over() {
        let promise = "You get a refund of 99 euros within 30 days [1].";
        let (m, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply(promise)
                .reply("You can return an item within 30 days [1]."),
        );
        let mut a = agent(model);
        a.policy.strict = true;
        let mut d = Dialogue::new();
        let (r, text) = say(&a, &mut d, "How long do I have to return an item?").await;
        assert_eq!(
            text, "I could not find that.",
            "the promise never reaches the customer"
        );
        assert!(!r.found && r.handover.is_none());
        assert_eq!(m.requests().len(), 1);
        // A supported answer goes out and breaks the streak.
        let (r, text) = say(&a, &mut d, "And can I return an item for a refund?").await;
        assert!(r.found, "{r:?}");
        assert_eq!(text, "You can return an item within 30 days [1].");

        let (_, model) = testkit::model(ScriptedModel::new(4096).default_reply(promise));
        let mut a = agent(model);
        a.policy.strict = true;
        let mut d = Dialogue::new();
        say(&a, &mut d, "How long do I have to return an item?").await;
        let (r, _) = say(&a, &mut d, "How do I return an item for a refund?").await;
        assert_eq!(
            r.handover.as_deref(),
            Some("2 turns in a row found nothing in the knowledge base")
        );
    }

    #[tokio::test]
    async fn two_turns_that_find_nothing_hand_over_without_the_model() {
        let (m, model) = testkit::model(ScriptedModel::new(4096));
        let a = agent(model);
        let mut d = Dialogue::new();
        let (r, text) = say(&a, &mut d, "zebra quantum").await;
        assert!(!r.found && r.handover.is_none());
        assert_eq!(text, "I could not find that.");
        let (r, text) = say(&a, &mut d, "xylophone nebula").await;
        assert_eq!(
            r.handover.as_deref(),
            Some("2 turns in a row found nothing in the knowledge base")
        );
        assert!(text.ends_with(&format!("A colleague takes over ticket {}.", d.ticket)));
        assert!(
            m.requests().is_empty(),
            "not-found turns never call the model"
        );
        assert_eq!(d.final_status(), TicketStatus::HandedOver);
    }

    #[tokio::test]
    async fn two_unhappy_turns_in_a_row_hand_over() {
        let (_, model) = testkit::model(ScriptedModel::new(4096).default_reply("Sorry [1]."));
        let a = agent(model);
        let mut d = Dialogue::new();
        let (r, _) = say(
            &a,
            &mut d,
            "This is ridiculous, my parcel shipping is terrible and late",
        )
        .await;
        assert_eq!(r.sentiment, Sentiment::Negative);
        assert!(r.handover.is_none());
        let (r, _) = say(
            &a,
            &mut d,
            "Terrible service, the tracking for my parcel is useless",
        )
        .await;
        assert_eq!(
            r.handover.as_deref(),
            Some("the customer was unhappy 2 turns in a row")
        );
    }

    #[tokio::test]
    async fn asking_for_a_person_hands_over_at_once() {
        let (m, model) = testkit::model(ScriptedModel::new(4096));
        let a = agent(model);
        let mut d = Dialogue::new();
        let (r, text) = say(&a, &mut d, "I want to talk to a human").await;
        assert_eq!(
            r.handover.as_deref(),
            Some("the customer asked for a person")
        );
        assert!(text.contains(&d.ticket));
        assert!(m.requests().is_empty());
        let t = d.ticket(d.final_status(), "Hi!");
        assert_eq!(t.status, TicketStatus::HandedOver);
        assert_eq!(t.transcript.len(), 3);
    }

    #[tokio::test]
    async fn a_follow_up_is_searched_with_the_earlier_topic() {
        let (m, model) = testkit::model(ScriptedModel::new(4096).default_reply("Yes [1]."));
        let a = agent(model);
        let mut d = Dialogue::new();
        say(&a, &mut d, "How do I return an item for a refund?").await;
        let (r, _) = say(&a, &mut d, "and how long does that take?").await;
        assert!(r.query.contains("return"), "{}", r.query);
        assert_eq!(r.passages[0].path, "returns.md");
        // The second prompt carries the first exchange, without passages.
        let second = &m.requests()[1].messages;
        assert_eq!(second[1].content, "How do I return an item for a refund?");
        assert_eq!(second[2].content, "Yes [1].");
    }
}
