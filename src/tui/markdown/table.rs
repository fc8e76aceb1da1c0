//! Tables: column widths that fit the screen ([`fit_columns`]) and the
//! bordered grid, or one line per row when even a grid does not fit.

use pulldown_cmark::Alignment;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::wrap::{blanks, spans_width, wrap_into};
use super::Renderer;

/// A table cell's inline content.
type Cell = Vec<Span<'static>>;

/// A table being read: its rows of cells, and how many rows head it.
pub(super) struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Cell>>,
    head: usize,
}

impl Table {
    /// The cell being read, where inline content goes.
    pub(super) fn cell(&mut self) -> Option<&mut Cell> {
        self.rows.last_mut().and_then(|r| r.last_mut())
    }
}

/// Column widths that fit `room` (at least one column for each).
/// Each column first gets its longest word, so words are not broken while
/// there is any way around it, then the rest of the room in proportion to
/// how much more the column wants; with too little room even for the
/// words, columns shrink in proportion to their longest words.
pub(super) fn fit_columns(natural: &[usize], words: &[usize], room: usize) -> Vec<usize> {
    if natural.iter().sum::<usize>() <= room {
        return natural.to_vec();
    }
    let min: Vec<usize> = natural
        .iter()
        .zip(words)
        .map(|(&n, &w)| w.min(n).max(1))
        .collect();
    let min_total: usize = min.iter().sum();
    let mut widths: Vec<usize> = if min_total <= room {
        let extra = room - min_total;
        let flex_total: usize = natural.iter().zip(&min).map(|(n, m)| n - m).sum();
        natural
            .iter()
            .zip(&min)
            .map(|(&n, &m)| m + (n - m) * extra / flex_total.max(1))
            .collect()
    } else {
        min.iter().map(|&m| (m * room / min_total).max(1)).collect()
    };
    while widths.iter().sum::<usize>() > room {
        match widths.iter_mut().filter(|w| **w > 1).max() {
            Some(w) => *w -= 1,
            None => break,
        }
    }
    // Rounding leaves a few columns spare: give them to the most cut.
    let mut spare = room.saturating_sub(widths.iter().sum());
    while spare > 0 {
        let most_cut = (0..widths.len())
            .filter(|&i| widths[i] < natural[i])
            .max_by_key(|&i| natural[i] - widths[i]);
        match most_cut {
            Some(i) => widths[i] += 1,
            None => break,
        }
        spare -= 1;
    }
    widths
}

/// The widest run a cell cannot break: its longest word, or one wide
/// character of a CJK run (those break anywhere).
fn longest_word(cell: &[Span<'_>]) -> usize {
    let mut longest = 0;
    for span in cell {
        for word in span.content.split(' ') {
            let w = if word.is_ascii() {
                word.len()
            } else if word.chars().any(|c| c.width().unwrap_or(0) > 1) {
                2
            } else {
                word.width()
            };
            longest = longest.max(w);
        }
    }
    longest
}

/// The lines of one grid row: each cell wrapped to its column, padded by
/// `pad` and aligned, between bars.
fn grid_row(
    row: Vec<Cell>,
    widths: &[usize],
    aligns: &[Alignment],
    pad: usize,
    bar: &Span<'static>,
) -> Vec<Vec<Span<'static>>> {
    let mut cells: Vec<Vec<Line<'static>>> = Vec::with_capacity(widths.len());
    let mut row = row.into_iter();
    for &w in widths {
        let mut lines = Vec::new();
        if let Some(cell) = row.next() {
            wrap_into(&mut lines, Vec::new(), cell, Style::default(), w, &[]);
        }
        cells.push(lines);
    }
    let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut out = Vec::with_capacity(height);
    for y in 0..height {
        let mut spans = vec![bar.clone()];
        for (i, cell) in cells.iter_mut().enumerate() {
            let line = cell.get_mut(y).map(std::mem::take).unwrap_or_default();
            let slack = widths[i].saturating_sub(line.width());
            let left = match aligns.get(i) {
                Some(Alignment::Right) => slack,
                Some(Alignment::Center) => slack / 2,
                _ => 0,
            };
            spans.push(blanks(pad + left));
            spans.extend(line.spans);
            spans.push(blanks(slack - left + pad));
            spans.push(bar.clone());
        }
        out.push(spans);
    }
    out
}

impl Renderer<'_> {
    pub(super) fn start_table(&mut self, aligns: Vec<Alignment>) {
        self.flush();
        self.block_start();
        self.table = Some(Table {
            aligns,
            rows: Vec::new(),
            head: 0,
        });
    }

    pub(super) fn start_table_row(&mut self) {
        if let Some(tb) = &mut self.table {
            tb.rows.push(Vec::new());
        }
    }

    pub(super) fn start_table_cell(&mut self) {
        if let Some(row) = self.table.as_mut().and_then(|tb| tb.rows.last_mut()) {
            row.push(Vec::new());
        }
    }

    /// The rows read so far are the head.
    pub(super) fn end_table_head(&mut self) {
        if let Some(tb) = &mut self.table {
            tb.head = tb.rows.len();
        }
    }

    /// Closes the table and lays it out.
    pub(super) fn end_table(&mut self) {
        if let Some(tb) = self.table.take() {
            self.table_block(tb);
        }
        self.need_blank = true;
    }

    fn table_block(&mut self, mut tb: Table) {
        let cols = tb.rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let (first, rest) = self.block_prefixes();
        let avail = self.width - spans_width(&rest);
        let strong = self.theme.strong;
        for row in tb.rows.iter_mut().take(tb.head) {
            for span in row.iter_mut().flatten() {
                span.style = span.style.patch(strong);
            }
        }
        if avail < 2 * cols + 1 {
            self.table_as_lines(tb.rows, first, &rest);
        } else {
            self.table_grid(tb, cols, avail, first, &rest);
        }
    }

    /// Too narrow for a grid: one wrapped line per row.
    fn table_as_lines(
        &mut self,
        rows: Vec<Vec<Cell>>,
        first: Vec<Span<'static>>,
        rest: &[Span<'static>],
    ) {
        let t = self.theme;
        let mut lead = Some(first);
        for row in rows {
            let mut spans = Vec::new();
            for (i, cell) in row.into_iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(" │ ", t.table_border));
                }
                spans.extend(cell);
            }
            let f = lead.take().unwrap_or_else(|| rest.to_vec());
            wrap_into(&mut self.out, f, spans, Style::default(), self.width, rest);
        }
    }

    /// The bordered grid, `avail` columns wide at most.
    fn table_grid(
        &mut self,
        tb: Table,
        cols: usize,
        avail: usize,
        first: Vec<Span<'static>>,
        rest: &[Span<'static>],
    ) {
        let t = self.theme;
        let column = |i: usize, measure: fn(&[Span<'static>]) -> usize| {
            tb.rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| measure(c))
                .max()
                .unwrap_or(0)
                .max(1)
        };
        let natural: Vec<usize> = (0..cols).map(|i| column(i, spans_width)).collect();
        let words: Vec<usize> = (0..cols).map(|i| column(i, longest_word)).collect();
        let natural_total: usize = natural.iter().sum();
        let words_total: usize = words.iter().sum();
        // Cell padding only while it costs no broken words.
        let pad = usize::from(natural_total.min(words_total) + 3 * cols < avail);
        let room = avail - (cols + 1) - 2 * pad * cols;
        let widths = fit_columns(&natural, &words, room);

        let border = |l: &str, m: &str, r: &str| {
            let mut s = String::from(l);
            for (i, w) in widths.iter().enumerate() {
                s.push_str(&"─".repeat(w + 2 * pad));
                s.push_str(if i + 1 == widths.len() { r } else { m });
            }
            Span::styled(s, t.table_border)
        };
        let mut lead = Some(first);
        let mut push = |out: &mut Vec<Line<'static>>, spans: Vec<Span<'static>>| {
            let mut line = lead.take().unwrap_or_else(|| rest.to_vec());
            line.extend(spans);
            out.push(Line::from(line));
        };
        push(&mut self.out, vec![border("┌", "┬", "┐")]);
        let bar = Span::styled("│", t.table_border);
        let (head, row_count) = (tb.head, tb.rows.len());
        for (ri, row) in tb.rows.into_iter().enumerate() {
            for spans in grid_row(row, &widths, &tb.aligns, pad, &bar) {
                push(&mut self.out, spans);
            }
            if ri + 1 == head && ri + 1 < row_count {
                push(&mut self.out, vec![border("├", "┼", "┤")]);
            }
        }
        push(&mut self.out, vec![border("└", "┴", "┘")]);
    }
}
