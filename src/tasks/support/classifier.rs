//! Intent and sentiment of customer turns, by the classify machinery's
//! nearest-example vote (no model call).

use crate::prompts::Template;
use crate::tasks::classify::{self, Classifier, Examples, Item, Label, Method};
use crate::tasks::TaskError;

/// The built-in labelled examples behind the turn classifiers.
pub const INTENT_EXAMPLES: &str = include_str!("../../../config/support-intents.tsv");
pub const SENTIMENT_EXAMPLES: &str = include_str!("../../../config/support-sentiment.tsv");

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
        let sentiments = classify::labels_from_list(Sentiment::LABELS)
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
            model: None,
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

    pub async fn sentiment(&self, text: &str) -> Result<Sentiment, TaskError> {
        let label = self
            .label(&self.sentiments, &self.sentiment_examples, text)
            .await?;
        Ok(Sentiment::parse(&label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
            Sentiment::Negative
        );
        assert_eq!(
            c.sentiment("Great, thanks a lot!").await.unwrap(),
            Sentiment::Positive
        );
    }
}

/// How a customer turn sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    /// The label set the sentiment classifier picks from.
    pub const LABELS: &'static str = "negative,neutral,positive";

    /// A label of [`Sentiment::LABELS`]; anything else is neutral.
    pub fn parse(label: &str) -> Sentiment {
        match label {
            "negative" => Sentiment::Negative,
            "positive" => Sentiment::Positive,
            _ => Sentiment::Neutral,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }
}

impl std::fmt::Display for Sentiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
