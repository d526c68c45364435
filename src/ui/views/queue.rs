//! The salience queue, ranked by priority then score under the console's
//! weights, with the selected message's factor bars and reasons below it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{ellipsize, list_offset, pane};
use crate::model::Priority;
use crate::ui::app::{App, Focus};
use crate::ui::theme::platform_tag;
use crate::ui::widgets::bars::factor_bar;

/// Rows of the breakdown under the list: four bars and the reasons.
const DETAIL_ROWS: u16 = 6;

fn split(inner: Rect) -> (Rect, Rect) {
    let detail = if inner.height >= DETAIL_ROWS + 3 {
        DETAIL_ROWS
    } else {
        0
    };
    let [list, detail] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(detail)]).areas(inner);
    (list, detail)
}

/// Rows available to the list inside the queue pane `area`.
pub fn list_height(area: Rect) -> u16 {
    let inner = Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    );
    split(inner).0.height
}

fn short(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "CRIT",
        Priority::High => "HIGH",
        Priority::Medium => "MED ",
        Priority::Low => "LOW ",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let total = app.snapshot.as_ref().map(|s| s.queue_len).unwrap_or(0);
    let block = pane(app, Focus::Queue, format!(" queue ({total}) "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    if app.ranked().is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("queue is empty", t.dim)), inner);
        return;
    }
    let (list_area, detail_area) = split(inner);
    let selected = app.queue_selected().unwrap_or(0);
    let height = usize::from(list_area.height);
    let offset = list_offset(selected, height);
    let width = usize::from(list_area.width);
    let lines: Vec<Line> = app
        .ranked()
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, item)| {
            let (m, r) = (&item.message, &item.salience);
            // A marker as well as a colour, so the selection reads without colour.
            let mark = if i == selected { "›" } else { " " };
            let head = format!("{mark}{} {:.2} ", short(r.priority), r.score);
            let rest_w = width.saturating_sub(head.chars().count() + 3);
            let body = ellipsize(&format!("{}: {}", m.author.name, m.text), rest_w);
            let mut line = Line::from(vec![
                Span::styled(head, t.priority(r.priority)),
                Span::styled(platform_tag(m.platform), t.platform(m.platform)),
                Span::raw(" "),
                Span::styled(body, t.text),
            ]);
            if i == selected {
                line = line.style(if app.focus == Focus::Queue {
                    t.selected
                } else {
                    t.selected.remove_modifier(ratatui::style::Modifier::BOLD)
                });
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list_area);

    if detail_area.height == 0 {
        return;
    }
    let Some(item) = app.selected_item() else {
        return;
    };
    let b = &item.salience.breakdown;
    let bar_w = usize::from(detail_area.width).saturating_sub(15).max(4);
    let fill = ratatui::style::Style::new().fg(t.bar);
    let mut lines = vec![
        factor_bar("content", 10, b.content, bar_w, fill, t.dim),
        factor_bar("authority", 10, b.authority, bar_w, fill, t.dim),
        factor_bar("relevance", 10, b.relevance, bar_w, fill, t.dim),
        factor_bar("temporal", 10, b.temporal, bar_w, fill, t.dim),
    ];
    let why = if item.salience.reasons.is_empty() {
        "no particular reason".to_string()
    } else {
        item.salience.reasons.join(", ")
    };
    lines.push(Line::from(vec![
        Span::styled(
            format!("{} {:.2} ", item.salience.priority, item.salience.score),
            t.priority(item.salience.priority),
        ),
        Span::styled(format!("why: {why}"), t.text),
    ]));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        detail_area,
    );
}
