//! Column alignment that measures what the terminal shows: ANSI escape sequences take no
//! room and wide characters take two cells, so colors never break the columns.

use super::width::visible_width;

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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn cjk_and_emoji_cells_align_like_ascii_ones() {
        let mut table = Table::new();
        table.row(vec!["NAME".into(), "PHASE".into(), "AGE".into()]);
        table.row(vec!["数据管道".into(), "Failed".into(), "5m".into()]);
        table.row(vec!["🚀-launch".into(), "Completed".into(), "1h".into()]);
        table.row(vec![
            "plain".into(),
            "\x1b[32mStarted\x1b[0m".into(),
            "2d".into(),
        ]);
        let out = table.render("");
        assert_eq!(
            out,
            "NAME        PHASE       AGE\n\
             数据管道    Failed      5m\n\
             🚀-launch   Completed   1h\n\
             plain       \x1b[32mStarted\x1b[0m     2d\n"
        );
        // PHASE and AGE start in the same terminal cell on every line.
        let starts = |cells: [&str; 4]| -> Vec<usize> {
            out.lines()
                .zip(cells)
                .map(|(line, cell)| visible_width(&line[..line.find(cell).unwrap()]))
                .collect()
        };
        assert_eq!(
            starts(["PHASE", "Failed", "Completed", "\x1b[32m"]),
            [12; 4]
        );
        assert_eq!(starts(["AGE", "5m", "1h", "2d"]), [24; 4]);
    }
}
