//! Pure drawing: `draw(frame, &app)` lays out the panes and renders each one
//! from the app state. Nothing here changes state or does I/O.

pub mod chat;
pub mod drafts;
pub mod footer;
pub mod header;
pub mod metrics;
pub mod overlay;
pub mod queue;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, BorderType};

use super::app::{App, Focus};

/// Where each pane goes for a given terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub chat: Rect,
    pub queue: Rect,
    pub drafts: Rect,
    pub metrics: Rect,
    pub footer: Rect,
}

/// Below this height the metrics shrink to one line.
const TALL: u16 = 36;
/// From this width queue and drafts sit side by side instead of stacked.
const WIDE: u16 = 140;

/// The console's areas; a team console's header has a third row (the team).
pub fn areas(r: Rect, team: bool) -> Areas {
    let metrics_h = if r.height >= TALL { 9 } else { 1 };
    let [header, body, metrics, footer] = Layout::vertical([
        Constraint::Length(if team { 3 } else { 2 }),
        Constraint::Min(3),
        Constraint::Length(metrics_h),
        Constraint::Length(1),
    ])
    .areas(r);
    if r.width >= WIDE {
        let [chat, queue, drafts] = Layout::horizontal([
            Constraint::Percentage(44),
            Constraint::Percentage(30),
            Constraint::Percentage(26),
        ])
        .areas(body);
        Areas {
            header,
            chat,
            queue,
            drafts,
            metrics,
            footer,
        }
    } else {
        let [chat, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let [queue, drafts] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(right);
        Areas {
            header,
            chat,
            queue,
            drafts,
            metrics,
            footer,
        }
    }
}

/// Renders the whole console.
pub fn draw(frame: &mut Frame, app: &App) {
    let a = areas(frame.area(), app.team.is_some());
    header::render(frame, a.header, app);
    chat::render(frame, a.chat, app);
    queue::render(frame, a.queue, app);
    drafts::render(frame, a.drafts, app);
    metrics::render(frame, a.metrics, app);
    footer::render(frame, a.footer, app);
    overlay::render(frame, &a, app);
}

/// A pane's frame, highlighted when it has the focus.
pub(crate) fn pane<'a>(
    app: &App,
    focus: Focus,
    title: impl Into<ratatui::text::Line<'a>>,
) -> Block<'a> {
    let focused = app.focus == focus;
    let style: Style = if focused {
        app.theme.border_focus
    } else {
        app.theme.border
    };
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(title)
        .title_style(app.theme.title)
}

/// First row to show so that `selected` stays visible in `height` rows.
pub fn list_offset(selected: usize, height: usize) -> usize {
    if height == 0 || selected < height {
        0
    } else {
        selected + 1 - height
    }
}

/// "2m13s", "45s", "1h02m".
pub fn fmt_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Cuts `s` to at most `width` columns, marking the cut with an ellipsis.
pub fn ellipsize(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut w = 0;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return s.to_string();
    }
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}
