//! Wraps styled spans into lines of a given width, so the chat can lay out
//! only the messages that fit on screen instead of the whole scrollback.

use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Breaks `spans` into lines at most `width` columns wide, preferring to
/// break after a space; continuation lines are indented by `indent`.
pub fn wrap<'a>(spans: &[Span<'a>], width: usize, indent: usize) -> Vec<Line<'a>> {
    let width = width.max(indent + 2);
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut cur: Vec<Span<'a>> = Vec::new();
    let mut cur_w = 0usize;
    // (char, style) stream; messages are short, so this is cheap.
    let mut word: Vec<(char, ratatui::style::Style)> = Vec::new();
    let mut word_w = 0usize;

    // Each char joins the line's last span when it has the same style, so a
    // line is a few spans rather than one per word (each span costs ratatui
    // a pass of its own when the frame is drawn).
    let flush_word = |word: &mut Vec<(char, ratatui::style::Style)>, cur: &mut Vec<Span<'a>>| {
        for (c, style) in word.drain(..) {
            match cur.last_mut() {
                Some(last) if last.style == style => last.content.to_mut().push(c),
                _ => cur.push(Span::styled(c.to_string(), style)),
            }
        }
    };

    for span in spans {
        for c in span.content.chars() {
            let cw = c.width().unwrap_or(0);
            if cur_w + word_w + cw > width {
                if cur_w > indent_of(&lines, indent) && word_w + cw <= width - indent {
                    // The word moves to the next line whole.
                    lines.push(Line::from(std::mem::take(&mut cur)));
                    cur.push(Span::raw(" ".repeat(indent)));
                    cur_w = indent;
                } else {
                    // A word longer than the line is cut.
                    flush_word(&mut word, &mut cur);
                    lines.push(Line::from(std::mem::take(&mut cur)));
                    cur.push(Span::raw(" ".repeat(indent)));
                    cur_w = indent;
                    word_w = 0;
                }
            }
            word.push((c, span.style));
            word_w += cw;
            if c == ' ' {
                flush_word(&mut word, &mut cur);
                cur_w += word_w;
                word_w = 0;
            }
        }
    }
    flush_word(&mut word, &mut cur);
    if !cur.is_empty() {
        lines.push(Line::from(cur));
    }
    lines
}

fn indent_of(lines: &[Line], indent: usize) -> usize {
    if lines.is_empty() { 0 } else { indent }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        let spans = [
            Span::raw("alice: "),
            Span::raw("hello there general kenobi"),
        ];
        let out = text(&wrap(&spans, 14, 2));
        assert_eq!(
            out,
            vec!["alice: hello ", "  there ", "  general ", "  kenobi"]
        );
        let out = text(&wrap(&[Span::raw("aaaaaaaaaaaaaaaaaaaa")], 8, 2));
        assert_eq!(out, vec!["aaaaaaaa", "  aaaaaa", "  aaaaaa"]);
        for l in &out {
            assert!(l.chars().count() <= 8);
        }
    }

    #[test]
    fn short_text_stays_one_line() {
        let out = text(&wrap(&[Span::raw("hi")], 40, 2));
        assert_eq!(out, vec!["hi"]);
    }
}
