//! `lore ask`: a question answered from the index and/or a document given
//! with it, citing the passages it used. The steps are the shared grounded
//! turn ([`super::grounded`]); this file says what `ask` feeds it.

use std::future::Future;

use serde::Serialize;

use super::grounded::{self, GroundedReply, GroundedTurn, Retrieval, TemplatePrompt};
use super::policy::TurnPolicy;
use super::TaskError;
use crate::model::{GenParams, Model};
use crate::output::Sink;

/// Everything `ask` needs besides the question and the model.
#[derive(Clone)]
pub struct Ask {
    pub retrieval: Retrieval,
    /// The `qa` template.
    pub prompt: TemplatePrompt,
    /// The reply when nothing relevant is found (`retrieval.not_found`).
    pub not_found: String,
    pub params: GenParams,
}

/// One question.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub text: &'a str,
    /// Text given with the question (piped stdin): answered from first.
    pub document: Option<&'a str>,
    /// False with `--no-index`: the document only.
    pub search_index: bool,
}

/// The structured result of `lore ask` (`--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct AskReport {
    pub question: String,
    #[serde(flatten)]
    pub reply: GroundedReply,
}

/// Answers `question`, streaming into `sink`. `model` is awaited only when
/// something relevant was found.
pub async fn run<F, S>(
    ask: &Ask,
    question: &Question<'_>,
    model: F,
    sink: &mut S,
) -> Result<AskReport, TaskError>
where
    F: Future<Output = Result<Model, TaskError>>,
    S: Sink + ?Sized,
{
    let turn = GroundedTurn {
        question: question.text,
        query: question.text,
        history: &[],
        attachment: question.document,
        search_index: question.search_index,
        not_found: &ask.not_found,
        params: &ask.params,
        policy: TurnPolicy::grounded(ask.retrieval.checks),
    };
    let reply = grounded::run(&ask.retrieval, &ask.prompt, &turn, model, sink).await?;
    Ok(AskReport {
        question: question.text.to_string(),
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::{Via, STDIN};
    use crate::model::scripted::ScriptedModel;
    use crate::model::{ModelError, Role};
    use crate::tasks::grounded::GroundedReply;
    use crate::tasks::testkit::{self, Collect};

    fn ask(max_tokens: usize, temperature: f64) -> Ask {
        Ask {
            retrieval: testkit::retrieval(),
            prompt: testkit::qa(),
            not_found: "Not in the knowledge base.".into(),
            params: GenParams {
                max_tokens,
                temperature,
                ..GenParams::default()
            },
        }
    }

    fn question(text: &str) -> Question<'_> {
        Question {
            text,
            document: None,
            search_index: true,
        }
    }

    /// Runs `q` on `model`, returning the reply.
    async fn answer(ask: &Ask, q: &Question<'_>, model: Model) -> Result<GroundedReply, TaskError> {
        let r = run(ask, q, async { Ok(model) }, &mut Collect::default()).await?;
        Ok(r.reply)
    }

    #[tokio::test]
    async fn nothing_found_answers_without_loading_a_model() {
        let mut sink = Collect::default();
        let never = async { Err::<Model, _>(TaskError::Input("must not load".into())) };
        let r = run(&ask(16, 0.0), &question("zebra quantum"), never, &mut sink)
            .await
            .unwrap();
        assert!(!r.reply.found);
        assert_eq!(sink.0, "Not in the knowledge base.");
        assert!(r.reply.finished.is_none() && r.reply.model.is_none());
    }

    #[tokio::test]
    async fn a_marked_answer_cites_its_passage_and_the_temperature_is_capped() {
        let (m, model) = testkit::model(ScriptedModel::new(4096).reply("Within 30 days [1]."));
        let mut sink = Collect::default();
        let q = question("How many days do I have to return an item?");
        let r = run(&ask(16, 1.5), &q, async { Ok(model) }, &mut sink)
            .await
            .unwrap()
            .reply;
        assert!(r.found && r.citations_valid);
        assert_eq!(sink.0, "Within 30 days [1].");
        assert_eq!(r.citations.len(), 1);
        assert_eq!(
            (r.citations[0].via, r.citations[0].path.as_str()),
            (Via::Marker, "returns.md")
        );
        let sent = &m.requests()[0];
        assert_eq!(sent.params.temperature, 0.3, "grounded answers are capped");
        assert_eq!(sent.messages[0].role, Role::System);
        assert!(sent.messages[1].content.contains("30 days of delivery"));
    }

    #[tokio::test]
    async fn a_marker_past_the_passages_is_invalid_and_dropped() {
        let (_, model) = testkit::model(ScriptedModel::new(4096).reply("See [1] and [9]."));
        let q = question("return an item refund");
        let r = answer(&ask(16, 0.0), &q, model).await.unwrap();
        assert!(!r.citations_valid);
        assert_eq!(r.citations.iter().map(|c| c.n).collect::<Vec<_>>(), [1]);
    }

    #[tokio::test]
    async fn an_unmarked_answer_is_attributed_by_overlap() {
        let (_, model) = testkit::model(
            ScriptedModel::new(4096).reply("Parcels arrive in 3 to 5 working days."),
        );
        let q = question("When do parcels arrive with shipping?");
        let r = answer(&ask(16, 0.0), &q, model).await.unwrap();
        assert_eq!(r.citations.len(), 1);
        assert_eq!(
            (r.citations[0].via, r.citations[0].path.as_str()),
            (Via::Overlap, "shipping.md")
        );
    }

    #[tokio::test]
    async fn passages_that_do_not_fit_are_dropped_weakest_first() {
        // The system prompt is 70 word-tokens, each passage about 18 with
        // its label and the question 7: with 40 of 165 kept for the
        // answer, two of the three passages fit.
        let (m, model) = testkit::model(ScriptedModel::new(165));
        let q = question("return refund shipping parcels billing cards");
        let r = answer(&ask(40, 0.0), &q, model).await.unwrap();
        assert!(!r.passages.is_empty());
        assert!(r.dropped_passages >= 1, "{r:?}");
        assert_eq!(r.passages.len() + r.dropped_passages, 3);
        let prompt: usize = m.requests()[0]
            .messages
            .iter()
            .map(|x| x.content.split_whitespace().count() + 2)
            .sum::<usize>()
            + 2;
        assert!(
            prompt <= 165 - 40,
            "prompt {prompt} leaves room for the answer"
        );
    }

    fn checked(strict: bool, step: bool) -> Ask {
        use crate::tasks::policy::Citations;
        let mut a = ask(32, 0.0);
        a.retrieval.checks = crate::tasks::policy::Checks {
            strict,
            citations: if step {
                Citations::Step
            } else {
                Citations::Off
            },
        };
        a
    }

    #[tokio::test]
    async fn a_correct_cited_answer_is_supported() {
        let (_, model) = testkit::model(
            ScriptedModel::new(4096).reply("You can return an item within 30 days [1]."),
        );
        let q = question("How many days do I have to return an item?");
        let r = answer(&checked(true, false), &q, model).await.unwrap();
        assert!(r.found && r.supported, "{r:?}");
        assert_eq!(r.support[0].passage, Some(1));
        assert_eq!(r.answer, "You can return an item within 30 days [1].");
    }

    #[tokio::test]
    async fn an_answer_quoting_a_price_no_passage_holds_is_unsupported() {
        let said = "You get a full refund of 45 euros within 30 days [1].";
        let (_, model) = testkit::model(ScriptedModel::new(4096).reply(said));
        let q = question("How many days do I have to return an item?");
        let mut sink = Collect::default();
        let r = run(&checked(false, false), &q, async { Ok(model) }, &mut sink)
            .await
            .unwrap()
            .reply;
        assert!(!r.found && !r.supported, "{r:?}");
        assert_eq!(r.support[0].missing, ["45"]);
        assert_eq!(sink.0, said, "without strict checks the answer streams");

        // Strict: held back, replaced by the not-found reply.
        let (_, model) = testkit::model(ScriptedModel::new(4096).reply(said));
        let mut sink = Collect::default();
        let r = run(&checked(true, false), &q, async { Ok(model) }, &mut sink)
            .await
            .unwrap()
            .reply;
        assert!(!r.found && !r.supported);
        assert_eq!(sink.0, "Not in the knowledge base.");
        assert_eq!(r.answer, "Not in the knowledge base.");
        assert_eq!(r.withheld.as_deref(), Some(said));
        assert!(r.citations.is_empty());
    }

    #[tokio::test]
    async fn an_uncited_unsupported_answer_is_never_found() {
        let (_, model) = testkit::model(
            ScriptedModel::new(4096).reply("Boiling tungsten needs roughly 5,900 kelvin."),
        );
        let q = question("return an item refund");
        let r = answer(&checked(false, false), &q, model).await.unwrap();
        assert!(r.citations.is_empty());
        assert!(!r.found && !r.supported, "{r:?}");
    }

    #[tokio::test]
    async fn the_citation_step_lets_the_model_choose_under_a_constraint() {
        let (m, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply("Parcels arrive in 3 to 5 working days.")
                .reply("[2]"),
        );
        let q = question("When do parcels arrive with shipping, and can I return them?");
        let r = answer(&checked(false, true), &q, model).await.unwrap();
        let requests = m.requests();
        assert_eq!(requests.len(), 2);
        let step = &requests[1];
        let last = step.messages.len() - 1;
        assert_eq!(step.messages[last - 1].role, Role::Assistant);
        assert_eq!(
            step.messages[last - 1].content,
            "Parcels arrive in 3 to 5 working days."
        );
        assert_eq!(&step.messages[..last - 1], &requests[0].messages[..]);
        let n = r.passages.len();
        let alternatives: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        assert_eq!(
            step.params.constraint,
            Some(crate::model::Constraint::Regex(format!(
                r"none|(\[({})\]){{1,{n}}}",
                alternatives.join("|")
            )))
        );
        assert_eq!(r.citations.len(), 1);
        assert_eq!((r.citations[0].n, r.citations[0].via), (2, Via::Chosen));

        // "none" leaves the overlap attribution to stand in.
        let (_, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply("Parcels arrive in 3 to 5 working days.")
                .reply("none"),
        );
        let r = answer(&checked(false, true), &q, model).await.unwrap();
        assert_eq!(r.citations.len(), 1);
        assert_eq!(r.citations[0].via, Via::Overlap);
    }

    #[tokio::test]
    async fn inline_citations_constrain_the_answer_itself() {
        use crate::tasks::policy::{Checks, Citations};
        let (m, model) = testkit::model(
            ScriptedModel::new(4096).reply("You can return an item within 30 days [1]."),
        );
        let mut a = ask(32, 0.0);
        a.retrieval.checks = Checks {
            strict: false,
            citations: Citations::Inline,
        };
        let q = question("How many days do I have to return an item?");
        let r = answer(&a, &q, model).await.unwrap();
        let requests = m.requests();
        assert_eq!(requests.len(), 1, "no second step");
        let Some(crate::model::Constraint::Regex(re)) = &requests[0].params.constraint else {
            panic!("the answer is constrained: {:?}", requests[0].params);
        };
        let n = r.passages.len();
        let numbers: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        assert!(
            re.contains(&format!(r"\[({})\]", numbers.join("|"))),
            "{re}"
        );
        assert_eq!((r.citations[0].n, r.citations[0].via), (1, Via::Marker));
    }

    #[tokio::test]
    async fn a_question_too_large_for_one_passage_is_too_large() {
        let (_, model) = testkit::model(ScriptedModel::new(40));
        let q = question("return refund item days delivery");
        let err = answer(&ask(16, 0.0), &q, model).await.unwrap_err();
        assert!(
            matches!(err, TaskError::Engine(ModelError::TooLarge { .. })),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_document_that_fits_goes_whole_and_a_long_one_is_chunked() {
        let (_, model) = testkit::model(ScriptedModel::new(4096));
        let mut q = question("What is the door code?");
        q.document = Some("The door code is 4711.");
        q.search_index = false;
        let r = answer(&ask(16, 0.0), &q, model).await.unwrap();
        assert_eq!(r.passages.len(), 1);
        assert_eq!(r.passages[0].path, STDIN);
        assert_eq!(r.passages[0].text, "The door code is 4711.");

        let mut long = String::new();
        for i in 0..300 {
            long.push_str(&format!(
                "Line {i} is about the weather and nothing more.\n\n"
            ));
        }
        long.push_str("The warehouse door code is 4711.\n");
        let (_, model) = testkit::model(ScriptedModel::new(600));
        q.document = Some(&long);
        let r = answer(&ask(16, 0.0), &q, model).await.unwrap();
        assert!(
            !r.passages.is_empty() && r.passages.len() <= 3,
            "{}",
            r.passages.len()
        );
        assert!(r.passages.iter().all(|p| p.path == STDIN));
        assert!(r.passages.iter().any(|p| p.text.contains("4711")));
    }
}
