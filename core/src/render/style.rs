//! Colour decisions, made once per stream.

use owo_colors::OwoColorize;
use std::io::IsTerminal;

/// What a piece of text means, so it can be coloured when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Fine.
    Good,
    /// Worth a look.
    Warn,
    /// Broken.
    Bad,
    /// Secondary detail.
    Dim,
    /// A heading.
    Bold,
}

/// Whether a stream gets colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour on a terminal, unless `NO_COLOR` is set (to anything) or `TERM=dumb`.
    pub fn detect(is_terminal: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Style {
            color: is_terminal && !no_color && !dumb,
        }
    }

    /// Colour for stdout.
    pub fn for_stdout() -> Self {
        Self::detect(std::io::stdout().is_terminal())
    }

    /// Colour for stderr.
    pub fn for_stderr() -> Self {
        Self::detect(std::io::stderr().is_terminal())
    }

    /// Never colour (tests, files).
    pub fn plain() -> Self {
        Style { color: false }
    }

    /// True when colour is on.
    pub fn color(self) -> bool {
        self.color
    }

    /// `text` in the colour of `tone`, or unchanged when colour is off.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        match tone {
            Tone::Good => text.green().to_string(),
            Tone::Warn => text.yellow().to_string(),
            Tone::Bad => text.red().to_string(),
            Tone::Dim => text.dimmed().to_string(),
            Tone::Bold => text.bold().to_string(),
        }
    }
}
