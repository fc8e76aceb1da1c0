//! Reading a customer turn: the standalone search query of a follow-up,
//! and whether the customer asks for a person.

/// Words that carry no topic: left out of rewritten queries.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "get", "got", "had", "has", "have", "hi", "hello", "how", "i", "if", "in", "is",
    "it", "its", "me", "my", "of", "on", "or", "please", "so", "that", "the", "them", "then",
    "there", "they", "this", "those", "to", "us", "was", "we", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your", "ok", "okay", "thanks", "thank", "also",
    "about", "long", "much", "many", "take", "takes", "need", "want", "know",
];

/// Words that point back at an earlier topic.
const ANAPHORA: &[&str] = &[
    "it", "that", "this", "those", "these", "them", "they", "there", "then", "one", "ones",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub(crate) fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// A standalone search query for `current`, rewritten from the dialogue:
/// a follow-up ("and how long does that take?") has few topic words or
/// points back with "that"/"it", so the topic words of the earlier
/// customer turns (newest first) are added to it. A self-contained
/// question is searched as it is.
pub fn rewrite_query(earlier: &[String], current: &str) -> String {
    let own = content_words(current);
    let refers_back = words(current)
        .iter()
        .any(|w| ANAPHORA.contains(&w.as_str()));
    if earlier.is_empty() || (own.len() >= 4 && !refers_back) {
        return current.to_string();
    }
    let mut query = current.to_string();
    let mut added = 0;
    for turn in earlier.iter().rev().take(2) {
        for w in content_words(turn) {
            if !own.contains(&w) && !query.to_lowercase().split(' ').any(|q| q == w) {
                query.push(' ');
                query.push_str(&w);
                added += 1;
            }
        }
        if added >= 3 {
            break;
        }
    }
    query
}

/// Whether the customer asks for a person.
pub fn wants_human(text: &str) -> bool {
    let t = text.to_lowercase();
    const PHRASES: &[&str] = &[
        "human",
        "real person",
        "a person",
        "an agent",
        "live agent",
        "representative",
        "speak to someone",
        "talk to someone",
        "speak with someone",
        "talk with someone",
        "a manager",
        "operator",
        "your staff",
        "a colleague",
        "real people",
    ];
    PHRASES.iter().any(|p| t.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_borrow_the_topic_of_earlier_turns() {
        let earlier = vec!["How do I return my tent?".to_string()];
        let q = rewrite_query(&earlier, "and how long does that take?");
        assert!(q.contains("return") && q.contains("tent"), "{q}");
        let q = rewrite_query(
            &earlier,
            "Which payment methods do you accept for gift cards?",
        );
        assert_eq!(q, "Which payment methods do you accept for gift cards?");
        assert_eq!(rewrite_query(&[], "and that?"), "and that?");
    }

    #[test]
    fn requests_for_a_person_are_recognised() {
        assert!(wants_human("I want to talk to a human"));
        assert!(wants_human("Can I speak to someone, please?"));
        assert!(wants_human("get me a real person"));
        assert!(!wants_human("How do I return an item?"));
    }
}
