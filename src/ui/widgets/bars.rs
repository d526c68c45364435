//! Horizontal factor bars ("content ███████░░░ .72") and the attention
//! timeline strip, drawn as text so they survive any terminal.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// `label` padded to `label_w`, a bar of `width` cells filled to `value`
/// (0..=1) in eighths, then the value.
pub fn factor_bar<'a>(
    label: &'a str,
    label_w: usize,
    value: f64,
    width: usize,
    fill: Style,
    dim: Style,
) -> Line<'a> {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let v = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (v * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let part = eighths % 8;
    let mut bar = "█".repeat(full.min(width));
    let mut rest = width.saturating_sub(full);
    if part > 0 && rest > 0 {
        bar.push(EIGHTHS[part]);
        rest -= 1;
    }
    Line::from(vec![
        Span::styled(format!("{label:<label_w$}"), dim),
        Span::styled(bar, fill),
        Span::styled("·".repeat(rest), dim),
        Span::styled(format!(" {v:.2}"), dim),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion_and_keep_their_width() {
        let s = Style::new();
        let half = factor_bar("c", 2, 0.5, 10, s, s).to_string();
        assert_eq!(half, "c █████····· 0.50");
        let full = factor_bar("c", 2, 1.5, 10, s, s).to_string();
        assert_eq!(full, "c ██████████ 1.00");
        let none = factor_bar("c", 2, f64::NAN, 4, s, s).to_string();
        assert_eq!(none, "c ···· 0.00");
    }
}
