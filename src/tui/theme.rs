//! Colours and text styles of the TUI, in three depths: truecolor when the
//! terminal says so, the 256-colour palette otherwise, and a monochrome
//! theme (bold, reverse, underline only) when `NO_COLOR` is set.

use ratatui::style::{Color, Modifier, Style};

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    TrueColor,
    Ansi256,
    Mono,
}

impl ColorMode {
    /// Decides from the environment: `NO_COLOR` (any non-empty value) wins,
    /// then `COLORTERM=truecolor|24bit`, else 256 colours.
    pub fn detect() -> ColorMode {
        ColorMode::from_env(
            std::env::var("NO_COLOR").ok().as_deref(),
            std::env::var("COLORTERM").ok().as_deref(),
        )
    }

    pub fn from_env(no_color: Option<&str>, colorterm: Option<&str>) -> ColorMode {
        if no_color.is_some_and(|v| !v.is_empty()) {
            ColorMode::Mono
        } else if colorterm
            .is_some_and(|v| v.eq_ignore_ascii_case("truecolor") || v.eq_ignore_ascii_case("24bit"))
        {
            ColorMode::TrueColor
        } else {
            ColorMode::Ansi256
        }
    }
}

/// Every style the TUI draws with. Widgets take styles from here only, so
/// the monochrome theme is complete by construction.
#[derive(Debug, Clone)]
pub struct Theme {
    pub mode: ColorMode,
    pub text: Style,
    pub dim: Style,
    pub user_label: Style,
    pub assistant_label: Style,
    pub system_note: Style,
    pub error: Style,
    pub heading: Style,
    pub emphasis: Style,
    pub strong: Style,
    pub strike: Style,
    pub inline_code: Style,
    /// Code blocks without highlighting (unknown language, mono theme).
    pub code_block: Style,
    pub quote: Style,
    pub link: Style,
    pub list_marker: Style,
    pub table_border: Style,
    pub rule: Style,
    pub border: Style,
    pub title: Style,
    pub status: Style,
    pub status_busy: Style,
    /// The selected reply's marker and the selected row of a list.
    pub selected: Style,
    /// Matched query terms in a source snippet.
    pub highlight: Style,
    pub key: Style,
    /// An approved call's line in the transcript.
    pub approved: Style,
    /// The approval prompt's frame and title: it wants an answer.
    pub attention: Style,
    pub diff_add: Style,
    pub diff_del: Style,
    pub diff_hunk: Style,
    /// A warning inside the status bar (commands not sandboxed).
    pub status_alert: Style,
}

impl Theme {
    pub fn new(mode: ColorMode) -> Theme {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let italic = Style::new().add_modifier(Modifier::ITALIC);
        if mode == ColorMode::Mono {
            let plain = Style::new();
            let reverse = Style::new().add_modifier(Modifier::REVERSED);
            return Theme {
                mode,
                text: plain,
                dim: plain,
                user_label: bold,
                assistant_label: bold,
                system_note: italic,
                error: bold,
                heading: bold.add_modifier(Modifier::UNDERLINED),
                emphasis: italic,
                strong: bold,
                strike: Style::new().add_modifier(Modifier::CROSSED_OUT),
                inline_code: bold,
                code_block: plain,
                quote: italic,
                link: Style::new().add_modifier(Modifier::UNDERLINED),
                list_marker: bold,
                table_border: plain,
                rule: plain,
                border: plain,
                title: bold,
                status: reverse,
                status_busy: reverse.add_modifier(Modifier::BOLD),
                selected: reverse,
                highlight: bold.add_modifier(Modifier::UNDERLINED),
                key: bold,
                approved: bold,
                attention: bold,
                diff_add: bold,
                diff_del: plain,
                diff_hunk: Style::new().add_modifier(Modifier::UNDERLINED),
                status_alert: reverse.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            };
        }
        let c = |r: u8, g: u8, b: u8| rgb(mode, r, g, b);
        let fg = |r, g, b| Style::new().fg(c(r, g, b));
        Theme {
            mode,
            text: Style::new(),
            dim: fg(0x8a, 0x8f, 0x98),
            user_label: fg(0x5f, 0xaf, 0xff).add_modifier(Modifier::BOLD),
            assistant_label: fg(0x87, 0xd7, 0x87).add_modifier(Modifier::BOLD),
            system_note: fg(0x8a, 0x8f, 0x98).add_modifier(Modifier::ITALIC),
            error: fg(0xff, 0x5f, 0x5f).add_modifier(Modifier::BOLD),
            heading: fg(0xff, 0xaf, 0x5f).add_modifier(Modifier::BOLD),
            emphasis: italic,
            strong: bold,
            strike: Style::new().add_modifier(Modifier::CROSSED_OUT),
            inline_code: fg(0xff, 0xd7, 0x87),
            code_block: fg(0xd0, 0xd0, 0xd0),
            quote: fg(0xa8, 0xa8, 0xa8).add_modifier(Modifier::ITALIC),
            link: fg(0x5f, 0xd7, 0xff).add_modifier(Modifier::UNDERLINED),
            list_marker: fg(0xff, 0xaf, 0x5f),
            table_border: fg(0x6c, 0x6c, 0x6c),
            rule: fg(0x6c, 0x6c, 0x6c),
            border: fg(0x6c, 0x6c, 0x6c),
            title: fg(0xd0, 0xd0, 0xd0).add_modifier(Modifier::BOLD),
            status: Style::new().fg(c(0xe4, 0xe4, 0xe4)).bg(c(0x30, 0x30, 0x30)),
            status_busy: Style::new().fg(c(0x1c, 0x1c, 0x1c)).bg(c(0x87, 0xd7, 0x87)),
            selected: Style::new().bg(c(0x3a, 0x3a, 0x3a)),
            highlight: fg(0xff, 0xd7, 0x00).add_modifier(Modifier::BOLD),
            key: fg(0x5f, 0xaf, 0xff).add_modifier(Modifier::BOLD),
            approved: fg(0x87, 0xd7, 0x87),
            attention: fg(0xff, 0xaf, 0x5f).add_modifier(Modifier::BOLD),
            diff_add: fg(0x87, 0xd7, 0x87),
            diff_del: fg(0xff, 0x5f, 0x5f),
            diff_hunk: fg(0x5f, 0xd7, 0xff),
            status_alert: Style::new()
                .fg(c(0xff, 0xff, 0xff))
                .bg(c(0xd7, 0x00, 0x00))
                .add_modifier(Modifier::BOLD),
        }
    }

    /// A colour for this theme's depth: exact in truecolor, the nearest
    /// palette entry in 256 colours, and no colour in monochrome.
    pub fn color(&self, r: u8, g: u8, b: u8) -> Option<Color> {
        (self.mode != ColorMode::Mono).then(|| rgb(self.mode, r, g, b))
    }
}

fn rgb(mode: ColorMode, r: u8, g: u8, b: u8) -> Color {
    match mode {
        ColorMode::TrueColor => Color::Rgb(r, g, b),
        _ => Color::Indexed(nearest_256(r, g, b)),
    }
}

/// The nearest entry of the xterm 256-colour palette: the 6x6x6 cube or
/// the 24-step grey ramp, whichever is closer.
pub fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let level = |v: u8| -> usize {
        STEPS
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (i32::from(**s) - i32::from(v)).abs())
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = (STEPS[ri], STEPS[gi], STEPS[bi]);
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let grey_i = (avg.saturating_sub(8) / 10).min(23) as u8;
    let grey = 8 + 10 * grey_i;
    let dist = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    if dist((grey, grey, grey)) < dist(cube) {
        232 + grey_i
    } else {
        16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_mode_follows_the_environment() {
        assert_eq!(
            ColorMode::from_env(Some("1"), Some("truecolor")),
            ColorMode::Mono
        );
        assert_eq!(
            ColorMode::from_env(Some(""), Some("24bit")),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::from_env(None, None), ColorMode::Ansi256);
    }

    #[test]
    fn palette_mapping_picks_cube_and_grey_entries() {
        assert_eq!(nearest_256(255, 0, 0), 196);
        assert_eq!(nearest_256(0, 0, 0), 16);
        assert_eq!(nearest_256(0x30, 0x30, 0x30), 236);
    }

    #[test]
    fn mono_theme_has_no_colours() {
        let t = Theme::new(ColorMode::Mono);
        assert_eq!(t.color(1, 2, 3), None);
        for s in [
            t.text,
            t.heading,
            t.status,
            t.selected,
            t.inline_code,
            t.link,
        ] {
            assert_eq!((s.fg, s.bg), (None, None));
        }
    }
}
