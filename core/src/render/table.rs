//! kubectl-style tables: upper-case headers, columns separated by spaces, no borders.

use super::style::{Style, Tone};
use comfy_table::{Cell, Color, ContentArrangement, Table};

/// A table with kubectl's look.
#[derive(Debug)]
pub struct KubeTable {
    table: Table,
    style: Style,
}

impl KubeTable {
    /// A table with these headers.
    pub fn new(headers: &[&str], style: Style) -> Self {
        let mut table = Table::new();
        table
            .load_style(comfy_table::presets::NOTHING)
            .force_no_tty()
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(headers.to_vec());
        for i in 0..headers.len() {
            if let Some(col) = table.column_mut(i) {
                col.set_padding((0, 3));
            }
        }
        KubeTable { table, style }
    }

    /// Adds a row of plain cells.
    pub fn row<S: ToString>(&mut self, cells: &[S]) {
        self.table.add_row(
            cells
                .iter()
                .map(|c| Cell::new(c.to_string()))
                .collect::<Vec<_>>(),
        );
    }

    /// Adds a row where each cell may carry a tone (coloured only when colour is on).
    pub fn toned_row(&mut self, cells: Vec<(String, Option<Tone>)>) {
        let style = self.style;
        self.table.add_row(
            cells
                .into_iter()
                .map(|(text, tone)| {
                    let cell = Cell::new(text);
                    match (style.color(), tone) {
                        (true, Some(Tone::Good)) => cell.fg(Color::Green),
                        (true, Some(Tone::Warn)) => cell.fg(Color::Yellow),
                        (true, Some(Tone::Bad)) => cell.fg(Color::Red),
                        _ => cell,
                    }
                })
                .collect::<Vec<_>>(),
        );
    }

    /// The rendered table, trailing spaces trimmed, one line per row.
    pub fn render(&self) -> String {
        let mut out: String = self
            .table
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        out.push('\n');
        out
    }
}
