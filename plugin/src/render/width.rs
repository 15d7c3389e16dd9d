//! How many terminal cells text takes: the one measure every column and padding of the plugin
//! uses, so that colors, CJK characters and emoji never break an alignment.

use unicode_width::UnicodeWidthChar;

/// Terminal cells `text` takes: SGR/CSI escape sequences count zero, wide characters (CJK,
/// most emoji) two, combining marks zero.
pub fn visible_width(text: &str) -> usize {
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
        assert_eq!(visible_width("plain"), 5);
        assert_eq!(visible_width("\x1b[32mCompleted\x1b[0m"), 9);
        assert_eq!(visible_width("日本"), 4);
        assert_eq!(visible_width("🚀 go"), 5);
        // `e` and a combining acute accent: one cell.
        assert_eq!(visible_width("e\u{301}"), 1);
    }
}
