//! The sample knowledge base in `index/` answers its own questions: each
//! question retrieves the article that holds the answer first.

mod common;

use common::{stderr_of, TestEnv};

#[test]
fn questions_retrieve_the_article_with_the_answer() {
    let env = TestEnv::new();
    let kb = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("index");
    let out = env.bare().args(["index", "add"]).arg(&kb).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let cases = [
        (
            "How long do I have to return an item?",
            "returns/return-policy.md",
        ),
        (
            "How long does a refund to my credit card take?",
            "billing/refunds.md",
        ),
        (
            "What are your opening hours on Saturday?",
            "contact/contact-us-and-opening-hours.md",
        ),
        (
            "What does error TB-204 mean?",
            "troubleshooting/checkout-errors.md",
        ),
        (
            "How much does Tallybird Plus cost per year?",
            "billing/tallybird-plus-membership.md",
        ),
        (
            "Can I return socks?",
            "returns/items-that-cannot-be-returned.md",
        ),
        (
            "Do you ship to Norway?",
            "shipping/international-shipping.md",
        ),
        (
            "How long is the warranty on a Ridgeline tent?",
            "troubleshooting/product-warranty.md",
        ),
        (
            "How long is the password reset link valid?",
            "account/resetting-your-password.md",
        ),
        (
            "Until when can I cancel my order?",
            "troubleshooting/cancelling-or-changing-an-order.md",
        ),
    ];
    for (question, article) in cases {
        let out = env
            .bare()
            .args(["index", "search", "-k", "1", "--format", "json", question])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let path = v["hits"][0]["path"].as_str().unwrap_or_default();
        assert!(
            path.ends_with(article),
            "{question} -> {path}, expected {article}"
        );
    }
    let files = std::fs::read_dir(kb.join("help-centre"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert!(
        files >= 25,
        "the sample knowledge base has {files} articles"
    );
}
