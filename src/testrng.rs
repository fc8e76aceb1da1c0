//! A fixed-seed pseudo-random generator for property tests, shared by the
//! unit tests (`crate::testrng`) and `tests/properties.rs` (through
//! `#[path]`), so that no property-testing crate is needed.
//!
//! xorshift64* (Vigna, 2016): tiny, fast, and good enough to spread test
//! cases; every run draws the same cases, so a failure always reproduces
//! from its case number.
#![allow(dead_code)]

pub struct Rng(u64);

/// Characters that tend to break text handling: odd whitespace, joiners,
/// combining marks, bidi controls, a BOM, replacement and private-use
/// characters, and characters outside the Basic Multilingual Plane.
const ODD: &[char] = &[
    '\u{0}',
    '\u{1}',
    '\u{7}',
    '\u{8}',
    '\u{b}',
    '\u{c}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{ad}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{200e}',
    '\u{200f}',
    '\u{2028}',
    '\u{2029}',
    '\u{202e}',
    '\u{2066}',
    '\u{3000}',
    '\u{feff}',
    '\u{fffd}',
    '\u{fe0f}',
    '\u{301}',
    '\u{308}',
    '\u{e000}',
    '\u{10ffff}',
    '\u{1f600}',
    '\u{1f468}',
    '\u{1f3fd}',
    '\u{20000}',
    '\u{2a6d6}',
];

/// Scripts mixed into generated text: (first, last) code points.
const SCRIPTS: &[(u32, u32)] = &[
    (0x4E00, 0x9FFF),   // CJK unified ideographs
    (0x3040, 0x30FF),   // Hiragana, Katakana
    (0xAC00, 0xD7A3),   // Hangul syllables
    (0x0600, 0x06FF),   // Arabic
    (0x05D0, 0x05EA),   // Hebrew
    (0x0900, 0x097F),   // Devanagari
    (0x0E00, 0x0E7F),   // Thai
    (0x0400, 0x04FF),   // Cyrillic
    (0x00C0, 0x024F),   // Latin with diacritics
    (0x1F300, 0x1FAFF), // emoji and pictographs
    (0x3000, 0x303F),   // CJK punctuation
    (0xFF00, 0xFFEF),   // full-width forms
];

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // The state must never be zero; mixing spreads nearby seeds.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // The high bits are the best of xorshift64*.
        ((self.next_u64() >> 11) % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// One character: mostly ASCII words and spaces, often another script,
    /// sometimes an odd one (see [`ODD`]) or any valid code point.
    pub fn char(&mut self) -> char {
        match self.below(20) {
            0..=7 => (b'a' + self.below(26) as u8) as char,
            8..=9 => *self.pick(&[' ', ' ', '\n', '\t', '.', ',', '#', '-', '\r', '`']),
            10..=15 => {
                let (lo, hi) = *self.pick(SCRIPTS);
                char::from_u32(self.range(lo as usize, hi as usize) as u32).unwrap_or('?')
            }
            16..=17 => *self.pick(ODD),
            18 => (b' ' + self.below(95) as u8) as char,
            _ => loop {
                if let Some(c) = char::from_u32(self.below(0x11_0000) as u32) {
                    break c;
                }
            },
        }
    }

    /// Up to `max_chars` characters from [`Rng::char`].
    pub fn text(&mut self, max_chars: usize) -> String {
        let n = self.below(max_chars + 1);
        (0..n).map(|_| self.char()).collect()
    }

    /// `bytes` changed a few times: bytes flipped, inserted, deleted,
    /// ranges duplicated or dropped, the end cut off, or one of `tokens`
    /// (pieces of the format's syntax) spliced in.
    pub fn mutate(&mut self, bytes: &[u8], tokens: &[&str]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for _ in 0..self.range(1, 8) {
            let at = self.below(out.len() + 1);
            match self.below(7) {
                0 if at < out.len() => out[at] ^= 1 << self.below(8),
                1 => out.insert(at, self.next_u64() as u8),
                2 if at < out.len() => {
                    out.remove(at);
                }
                3 if at < out.len() => {
                    let end = self.range(at, out.len());
                    let piece = out[at..end].to_vec();
                    out.splice(at..at, piece);
                }
                4 if at < out.len() => {
                    let end = self.range(at, out.len());
                    out.drain(at..end);
                }
                5 => out.truncate(at),
                _ if !tokens.is_empty() => {
                    let t = self.pick(tokens).as_bytes().to_vec();
                    out.splice(at..at, t);
                }
                _ => {}
            }
        }
        out
    }
}
