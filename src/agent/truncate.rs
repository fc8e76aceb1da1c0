//! How much tool output the model sees: a budget from its context, and a
//! head and tail cut that keeps errors (which sit at the end) in view.

/// Characters of one tool result the model may see for a context of
/// `context` tokens: about 15% of it at ~4 characters a token, at most
/// 10,000, and at most 3,200 where the context is 4k or less.
pub fn budget(context: usize) -> usize {
    let share = context * 15 / 100 * 4;
    let cap = if context <= 4096 { 3_200 } else { 10_000 };
    share.clamp(400, cap)
}

/// `text` within `budget` characters: about a third from the head and two
/// thirds from the tail, whole lines, with a `…N lines truncated…` marker
/// and the total line count. Text within budget comes back unchanged.
pub fn head_tail(text: &str, budget: usize) -> String {
    if text.chars().count() <= budget {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let head_budget = budget / 3;
    let tail_budget = budget - head_budget;
    let mut head = Vec::new();
    let mut used = 0;
    for line in &lines {
        let n = line.chars().count() + 1;
        if used + n > head_budget {
            break;
        }
        used += n;
        head.push(*line);
    }
    let mut tail = Vec::new();
    used = 0;
    for line in lines[head.len()..].iter().rev() {
        let n = line.chars().count() + 1;
        if used + n > tail_budget {
            break;
        }
        used += n;
        tail.push(*line);
    }
    tail.reverse();
    // One huge line: keep its ends rather than nothing.
    if head.is_empty() && tail.is_empty() {
        let chars: Vec<char> = text.chars().collect();
        let h: String = chars[..head_budget].iter().collect();
        let t: String = chars[chars.len() - tail_budget..].iter().collect();
        return format!(
            "{h}\n…{} characters truncated…\n{t}\n[total lines: {total}]",
            chars.len() - head_budget - tail_budget
        );
    }
    let cut = total - head.len() - tail.len();
    format!(
        "{}\n…{cut} lines truncated…\n{}\n[total lines: {total}]",
        head.join("\n"),
        tail.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_follow_the_context() {
        assert_eq!(budget(2048), 1228);
        assert_eq!(budget(4096), 2456);
        assert_eq!(budget(8192), 4912);
        assert_eq!(budget(32768), 10_000);
        assert_eq!(budget(128), 400);
    }

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(head_tail("a\nb\n", 100), "a\nb\n");
    }

    #[test]
    fn long_text_keeps_head_and_tail_with_the_marker() {
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let out = head_tail(&text, 600);
        assert!(out.len() <= 700, "{}", out.len());
        assert!(out.starts_with("line 1\nline 2\n"));
        assert!(out.contains("line 1000\n[total lines: 1000]"));
        let marker = out.lines().find(|l| l.contains("lines truncated")).unwrap();
        let cut: usize = marker
            .trim_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap();
        let kept = out.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(kept + cut, 1000);
        // Two thirds of the room goes to the tail, where errors are.
        let head = out.lines().take_while(|l| l.starts_with("line ")).count();
        assert!(kept - head > head, "head {head}, tail {}", kept - head);
    }

    #[test]
    fn one_long_line_keeps_both_ends() {
        let text = format!("start{}end", "x".repeat(10_000));
        let out = head_tail(&text, 300);
        assert!(out.starts_with("start") && out.contains("end\n[total lines: 1]"));
        assert!(out.contains("characters truncated"));
    }
}
