//! The renderer's and the wrapper's properties: every line fits its
//! width, streaming keeps the unfinished tail raw, and each block kind
//! lays out as shown.

use ratatui::style::{Color, Modifier};

use super::table::fit_columns;
use super::*;
use crate::tui::theme::ColorMode;

fn texts(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

fn true_color() -> Theme {
    Theme::new(ColorMode::TrueColor)
}

const RICH: &str = "# Title\n\nSome *emphasis*, **strong**, ~~gone~~, `code` and a [link](https://x.example).\n\n- one\n- two with a long line that needs wrapping across several lines of output\n  1. nested\n  2. items with a wrapped continuation line of text\n     - deeper still\n\n> quoted text that is long enough to wrap at small widths\n> > and a nested quote\n\n```rust\nfn main() {\n\tlet x = \"s\"; // a long comment that runs past the edge of a narrow screen\n}\n```\n\n    indented code\n\n| Method | Time | Notes |\n|:---|---:|:-:|\n| PayPal | within 24 hours | `fast` |\n| 信用卡 | 3 to 10 business days | **slow** and a long note that wraps |\n\n---\n\n中文字符测试，这是一段很长的中文文本。 averyveryverylongwordwithoutanyspacesatall\n\n<div>html</div>\n\nA line with a hard  \nbreak and emoji 👨‍👩‍👧 e\u{301}.";

#[test]
fn no_line_is_wider_than_the_width() {
    let inputs = [
        RICH,
        "",
        "\n\n\n",
        "plain",
        "你好世界你好世界你好世界",
        "- a\n  - b\n    - c\n      - d\n        - e with words",
        "> > > > deep quote with words",
        "1. ```\n   code in a list\n   ```",
        "| a |\n|---|\n| 你好你好 |",
        "| a | b | c | d | e | f | g | h |\n|-|-|-|-|-|-|-|-|\n|1|2|3|4|5|6|7|8|",
        "```\n\t\ttabs\there\n```",
        "```rust\nfn main() {\n```",
        "x\ty\u{1b}[31mz",
    ];
    for theme in [true_color(), Theme::new(ColorMode::Mono)] {
        for input in inputs {
            for width in [1u16, 2, 3, 5, 7, 20, 40, 80] {
                for streaming in [false, true] {
                    for line in render(input, width, &theme, streaming) {
                        assert!(
                            line.width() <= usize::from(width),
                            "width {width}, {input:?}: {:?} is {} wide",
                            texts(std::slice::from_ref(&line)),
                            line.width()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn wrapped_fragments_of_every_prefix_fit() {
    // Every prefix of a rich reply is a plausible streaming state.
    let theme = true_color();
    let cuts: Vec<usize> = RICH.char_indices().map(|(i, _)| i).step_by(7).collect();
    for &cut in &cuts {
        for width in [1u16, 5, 20, 40] {
            for line in render(&RICH[..cut], width, &theme, true) {
                assert!(
                    line.width() <= usize::from(width),
                    "cut {cut} width {width}"
                );
            }
        }
    }
}

#[test]
fn random_documents_fit_and_do_not_panic() {
    const PIECES: [&str; 24] = [
        "word ",
        "longerwordthanmostlines",
        "你好",
        "，",
        "\n",
        "\n\n",
        "- ",
        "1. ",
        "  ",
        "> ",
        "**",
        "*",
        "`",
        "```rust\n",
        "```\n",
        "| a | b |\n|---|---|\n",
        "| 信 | x |\n",
        "[l](http://u) ",
        "\t",
        "# ",
        "---\n",
        "<b>",
        "👍🏽",
        "e\u{301}",
    ];
    let theme = true_color();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300 {
        let mut doc = String::new();
        for _ in 0..40 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            doc.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
        }
        for width in [1u16, 4, 13, 40] {
            for streaming in [false, true] {
                for line in render(&doc, width, &theme, streaming) {
                    assert!(line.width() <= usize::from(width), "{doc:?} at {width}");
                }
            }
        }
    }
}

#[test]
fn cjk_wraps_by_display_width() {
    let lines = wrap(Line::from("你好世界"), 4, &[]);
    assert_eq!(texts(&lines), ["你好", "世界"]);
    let lines = wrap(Line::from("ab你好"), 3, &[]);
    assert_eq!(texts(&lines), ["ab", "你", "好"]);
    // Closing punctuation stays with the character before it.
    let lines = wrap(Line::from("你好。"), 4, &[]);
    assert_eq!(texts(&lines), ["你", "好。"]);
}

#[test]
fn wrap_breaks_at_spaces_splits_long_words_and_indents() {
    let lines = wrap(Line::from("hello wide world"), 10, &[Span::raw("  ")]);
    assert_eq!(texts(&lines), ["hello wide", "  world"]);
    let lines = wrap(Line::from("hello world"), 8, &[]);
    assert_eq!(texts(&lines), ["hello", "world"], "no trailing space");
    let lines = wrap(Line::from("abcdefghij"), 4, &[]);
    assert_eq!(texts(&lines), ["abcd", "efgh", "ij"]);
    let lines = wrap(Line::from("  lead"), 4, &[]);
    assert_eq!(texts(&lines), ["  le", "ad"]);
    let lines = wrap(Line::from(""), 10, &[Span::raw("  ")]);
    assert_eq!(texts(&lines), [""]);
    // An indent as wide as the line is dropped, not overflowed.
    let lines = wrap(Line::from("aa bb"), 2, &[Span::raw("    ")]);
    assert_eq!(texts(&lines), ["aa", "bb"]);
}

#[test]
fn wrap_keeps_span_styles_and_line_style() {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let dim = Style::new().add_modifier(Modifier::DIM);
    let line = Line::from(vec![Span::styled("bold words ", bold), Span::raw("plain")]).style(dim);
    let lines = wrap(line.clone(), 7, &[Span::styled("> ", dim)]);
    assert_eq!(texts(&lines), ["bold", "> words", "> plain"]);
    assert_eq!(lines[0].spans[0].style, bold);
    assert_eq!(lines[1].spans[0].style, dim);
    assert_eq!(lines[1].spans[1].style, bold);
    assert_eq!(lines[2].spans[1].style, Style::default());
    assert!(lines.iter().all(|l| l.style == dim));
    // A word too long for any line starts where there is room left.
    let lines = wrap(line, 6, &[Span::styled("> ", dim)]);
    assert_eq!(texts(&lines), ["bold w", "> ords", "> plai", "> n"]);
}

#[test]
fn an_open_fence_stays_raw_while_streaming() {
    let theme = true_color();
    let text = "Intro.\n\n```rust\nfn main() {";
    let live = texts(&render(text, 40, &theme, true));
    assert_eq!(live, ["Intro.", "", "```rust", "fn main() {"]);
    let done = texts(&render(&format!("{text}\n}}\n```"), 40, &theme, false));
    assert!(!done.iter().any(|l| l.contains("```")), "{done:?}");
    assert_eq!(done, ["Intro.", "", "─ rust ─", "fn main() {", "}"]);
}

#[test]
fn an_unfinished_paragraph_stays_raw_while_streaming() {
    let theme = true_color();
    let lines = render("# Title\n\nsome *unfinished", 40, &theme, true);
    let all = texts(&lines);
    assert_eq!(all, ["# Title", "", "some *unfinished"]);
    assert_eq!(lines[0].spans[0].style, theme.heading);
    // Once the block closes it renders.
    let all = texts(&render("# Title\n\nsome *done*\n\n", 40, &theme, true));
    assert_eq!(all, ["# Title", "", "some done"]);
}

#[test]
fn the_stable_part_ends_at_blank_lines_and_closed_fences() {
    assert_eq!(stable_end("a\n\nb"), 3);
    assert_eq!(stable_end("a\nb"), 0);
    assert_eq!(stable_end("a\n\n```\nx\n\ny"), 3, "blank inside a fence");
    assert_eq!(stable_end("```\nx\n```\ny"), 10, "closed fence");
    assert_eq!(
        stable_end("````\nx\n```\n"),
        0,
        "shorter fence does not close"
    );
    assert_eq!(stable_end("~~~\nx\n~~~~\n"), 11, "tildes");
    assert_eq!(stable_end("```\nx\n```"), 0, "closing line may still grow");
    assert_eq!(stable_end("```x```\n\n"), 9, "inline code is no fence");
    assert_eq!(stable_end("    ```\n\nz"), 9, "indented code is no fence");
}

#[test]
fn lists_have_markers_and_aligned_continuations() {
    let theme = true_color();
    let text = "- one\n- two words that wrap\n  1. nested\n  2. more\n\n3. three\n4. four";
    let lines = render(text, 14, &theme, false);
    assert_eq!(
        texts(&lines),
        [
            "• one",
            "• two words",
            "  that wrap",
            "  1. nested",
            "  2. more",
            "",
            "3. three",
            "4. four",
        ]
    );
    let marker = &lines[0].spans[0];
    assert_eq!(
        (marker.content.as_ref(), marker.style),
        ("• ", theme.list_marker)
    );
    let nested = &lines[3].spans[1];
    assert_eq!(
        (nested.content.as_ref(), nested.style),
        ("1. ", theme.list_marker)
    );
}

#[test]
fn loose_lists_keep_their_blank_lines() {
    let theme = true_color();
    let all = texts(&render("- a\n\n- b\n\n  more b\n- c", 20, &theme, false));
    assert_eq!(all, ["• a", "", "• b", "", "  more b", "", "• c"]);
}

#[test]
fn quotes_prefix_every_wrapped_line() {
    let theme = true_color();
    let lines = render("> quoted words that wrap\n>\n> again", 10, &theme, false);
    let all = texts(&lines);
    assert_eq!(
        all,
        ["│ quoted", "│ words", "│ that", "│ wrap", "│ ", "│ again"]
    );
    for line in &lines {
        assert!(
            line.spans.iter().all(|s| s.style == theme.quote),
            "{line:?}"
        );
    }
}

#[test]
fn blocks_are_separated_by_one_blank_line_and_none_trails() {
    let theme = true_color();
    let text = "# H\n\npara\n\n- a\n- b\n\n---\n\n```\nx\n```\n\n";
    let all = texts(&render(text, 8, &theme, false));
    assert_eq!(
        all,
        [
            "# H",
            "",
            "para",
            "",
            "• a",
            "• b",
            "",
            "────────",
            "",
            "─ code ─",
            "x"
        ]
    );
}

#[test]
fn inline_styles_and_links() {
    let theme = true_color();
    let text = "*em* **st** ~~del~~ `co` [site](https://a.b) <https://c.d> <x@y.z>";
    let lines = render(text, 80, &theme, false);
    assert_eq!(
        texts(&lines),
        ["em st del co site (https://a.b) https://c.d x@y.z"]
    );
    let style_of = |word: &str| {
        lines[0]
            .spans
            .iter()
            .find(|s| s.content == word)
            .map(|s| s.style)
    };
    assert_eq!(style_of("em"), Some(theme.emphasis));
    assert_eq!(style_of("st"), Some(theme.strong));
    assert_eq!(style_of("del"), Some(theme.strike));
    assert_eq!(style_of("co"), Some(theme.inline_code));
    assert_eq!(style_of("site"), Some(theme.link));
    assert_eq!(style_of(" (https://a.b)"), Some(theme.dim));
}

#[test]
fn tables_have_borders_and_fit_the_width() {
    let theme = true_color();
    let text = "| Method | Time |\n|---|--:|\n| PayPal | 1 day |\n| Card | 3 to 10 business days |";
    let lines = render(text, 80, &theme, false);
    assert_eq!(
        texts(&lines),
        [
            "┌────────┬───────────────────────┐",
            "│ Method │                  Time │",
            "├────────┼───────────────────────┤",
            "│ PayPal │                 1 day │",
            "│ Card   │ 3 to 10 business days │",
            "└────────┴───────────────────────┘",
        ]
    );
    let header = lines[1].spans.iter().find(|s| s.content == "Method");
    assert_eq!(header.map(|s| s.style), Some(theme.strong));
    assert_eq!(lines[0].spans[0].style, theme.table_border);

    let narrow = render(text, 22, &theme, false);
    assert!(narrow.iter().all(|l| l.width() <= 22));
    let all = texts(&narrow).join("\n");
    assert!(all.contains("│ PayPal │"), "{all}");
    assert!(all.contains("business"), "cells wrap: {all}");
}

#[test]
fn tables_too_narrow_for_a_grid_become_lines() {
    let theme = true_color();
    let text = "| a | b | c |\n|-|-|-|\n| 1 | 2 | 3 |";
    let lines = render(text, 6, &theme, false);
    assert_eq!(texts(&lines), ["a │ b", "│ c", "1 │ 2", "│ 3"]);
    // Wide enough for a grid but not for padding.
    let all = texts(&render(text, 7, &theme, false));
    assert_eq!(all, ["┌─┬─┬─┐", "│a│b│c│", "├─┼─┼─┤", "│1│2│3│", "└─┴─┴─┘"]);
}

#[test]
fn column_widths_keep_words_whole_while_they_can() {
    assert_eq!(fit_columns(&[6, 21, 31], &[6, 8, 5], 100), [6, 21, 31]);
    let w = fit_columns(&[6, 21, 31], &[6, 8, 5], 30);
    assert_eq!(w.iter().sum::<usize>(), 30);
    assert!(w[0] == 6 && w[1] >= 8 && w[2] >= 5, "{w:?}");
    let w = fit_columns(&[6, 21, 31], &[6, 8, 5], 12);
    assert_eq!(w.iter().sum::<usize>(), 12);
    assert!(w.iter().all(|&c| c >= 3), "{w:?}");
    assert_eq!(fit_columns(&[9, 9, 9], &[9, 9, 9], 3), [1, 1, 1]);
}

#[test]
fn rules_span_the_width_and_html_is_dim() {
    let theme = true_color();
    let lines = render("a\n\n***\n\n<br>", 12, &theme, false);
    assert_eq!(
        texts(&lines),
        ["a", "", "─".repeat(12).as_str(), "", "<br>"]
    );
    assert_eq!(lines[2].spans[0].style, theme.rule);
    assert_eq!(lines[4].spans[0].style, theme.dim);
}

#[test]
fn the_mono_theme_uses_no_colour() {
    let theme = Theme::new(ColorMode::Mono);
    let lines = render(RICH, 50, &theme, false);
    assert!(lines.len() > 30);
    for line in &lines {
        assert_eq!((line.style.fg, line.style.bg), (None, None));
        for s in &line.spans {
            assert_eq!((s.style.fg, s.style.bg), (None, None), "{:?}", s.content);
        }
    }
}

#[test]
fn code_is_highlighted_in_colour() {
    let theme = true_color();
    let lines = render(
        "```rust\nfn main() { let x = \"s\"; }\n```",
        60,
        &theme,
        false,
    );
    let colours: std::collections::BTreeSet<String> = lines
        .iter()
        .flat_map(|l| l.spans.iter())
        .filter_map(|s| match s.style.fg {
            Some(Color::Rgb(r, g, b)) => Some(format!("{r},{g},{b}")),
            _ => None,
        })
        .collect();
    assert!(colours.len() >= 2, "{colours:?}");
    // 256 colours get palette entries.
    let lines = render(
        "```rust\nfn main() {}\n```",
        60,
        &Theme::new(ColorMode::Ansi256),
        false,
    );
    assert!(lines[1]
        .spans
        .iter()
        .all(|s| matches!(s.style.fg, Some(Color::Indexed(_)))));
}

#[test]
fn highlighting_is_cached_and_bounded() {
    let theme = true_color();
    let text = "```python\ndef f(x):\n    return x + 1\n```";
    let first = render(text, 30, &theme, false);
    assert_eq!(render(text, 30, &theme, false), first);
    // Narrower: the cached styles are wrapped again, not re-parsed.
    let narrow = render(text, 10, &theme, false);
    assert_eq!(texts(&narrow)[1..], ["def f(x):", "    return", " x + 1"]);
    // A minified line is not worth stalling the screen for.
    let long = format!("```js\nvar a = 1;\n{}\nvar b = 2;\n```", "x+".repeat(600));
    let lines = render(&long, 2000, &theme, false);
    assert_ne!(lines[1].spans[0].style, theme.code_block);
    for line in &lines[2..] {
        assert!(line.spans.iter().all(|s| s.style == theme.code_block));
    }
}

#[test]
fn unknown_code_is_plain_hard_wrapped_and_keeps_indentation() {
    let theme = true_color();
    let text = "```nosuchlang\n\tab cd ef\n        deep\n```";
    let lines = render(text, 8, &theme, false);
    assert_eq!(
        texts(&lines),
        ["─ nosuch", "    ab c", "d ef", "        ", "deep"]
    );
    for line in &lines[1..] {
        assert!(line.spans.iter().all(|s| s.style == theme.code_block));
    }
    assert_eq!(lines[0].spans[0].style, theme.dim);
}

#[test]
fn code_in_a_list_item_is_indented_under_it() {
    let theme = true_color();
    let lines = render("1. run:\n\n   ```sh\n   ls -l\n   ```", 40, &theme, false);
    assert_eq!(texts(&lines), ["1. run:", "", "   ─ sh ─", "   ls -l"]);
}
