//! Column alignment that measures what the terminal shows: ANSI escape sequences take no
//! room and wide characters take two cells, so colors never break the columns.

use unicode_width::UnicodeWidthChar;

/// Space between two columns, as kubectl prints it.
const GAP: usize = 3;

/// Rows of cells; every cell but the last of its row is padded to its column's width.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table::default()
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows, aligned, each line starting with `indent` and without trailing spaces.
    pub(crate) fn render(&self, indent: &str) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.rows {
            // The last cell of a row is never padded, so it does not widen its column.
            for (column, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                let width = visible_width(cell);
                match widths.get_mut(column) {
                    Some(w) => *w = (*w).max(width),
                    None => widths.push(width),
                }
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from(indent);
            let last = row.len().saturating_sub(1);
            for (column, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if column < last {
                    let pad = widths[column] - visible_width(cell) + GAP;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end_matches(' '));
            out.push('\n');
        }
        out
    }
}

/// Terminal cells `text` takes: SGR/CSI escape sequences count zero, wide characters two.
pub(crate) fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            width += c.width().unwrap_or(0);
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_take_no_room_and_wide_chars_two() {
        assert_eq!(visible_width("\x1b[32m✔\x1b[0m ok"), 4);
        assert_eq!(visible_width("\x1b[2m\x1b[0m"), 0);
        assert_eq!(visible_width("日本"), 4);
    }

    #[test]
    fn colored_and_plain_cells_align_alike() {
        let mut table = Table::new();
        table.row(vec!["\x1b[31mab\x1b[0m".into(), "x".into(), "last".into()]);
        table.row(vec!["abcd".into(), "yy".into(), "".into()]);
        let out = table.render("  ");
        let plain: Vec<String> = out
            .lines()
            .map(|l| l.replace("\x1b[31m", "").replace("\x1b[0m", ""))
            .collect();
        assert_eq!(plain, ["  ab     x    last", "  abcd   yy"]);
    }
}
