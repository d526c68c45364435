//! Drafts: the shown draft in full (streaming in as the LLM writes it) with
//! its target, source, state and length against the platform limit, then the
//! list of drafts waiting and recently handled.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{ellipsize, list_offset, pane};
use crate::model::{DraftSource, DraftState, DraftView};
use crate::ui::app::{App, Asked, Focus};
use crate::ui::keymap::Action;
use crate::ui::theme::{Theme, platform_tag};

pub fn state_label(s: DraftState) -> &'static str {
    match s {
        DraftState::Streaming => "WRITING",
        DraftState::Pending => "PENDING",
        DraftState::Approved => "APPROVED",
        DraftState::Edited => "EDITED",
        DraftState::Rejected => "REJECTED",
        DraftState::Expired => "EXPIRED",
        DraftState::Sending => "SENDING",
        DraftState::Sent => "SENT",
        DraftState::Refused => "REFUSED",
        DraftState::Failed => "FAILED",
        DraftState::Unconfirmed => "UNCONFIRMED",
        DraftState::Withdrawn => "WITHDRAWN",
        DraftState::Blocked => "BLOCKED",
    }
}

pub(crate) fn state_style(t: &Theme, s: DraftState) -> Style {
    match s {
        DraftState::Streaming | DraftState::Pending | DraftState::Sending => t.warn,
        DraftState::Unconfirmed => t.warn,
        DraftState::Approved | DraftState::Edited | DraftState::Sent => t.ok,
        DraftState::Rejected | DraftState::Expired | DraftState::Withdrawn => t.dim,
        DraftState::Failed | DraftState::Refused | DraftState::Blocked => t.bad,
    }
}

fn source_label(s: DraftSource) -> &'static str {
    match s {
        DraftSource::Llm => "llm",
        DraftSource::Fallback => "fallback",
        DraftSource::Operator => "operator",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let block = pane(
        app,
        Focus::Drafts,
        match app.writing_count() {
            0 => format!(" drafts ({} waiting) ", app.pending_count()),
            w => format!(" drafts ({} waiting, {w} writing) ", app.pending_count()),
        },
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let list = app.draft_list();
    let list_rows = if inner.height >= 6 {
        (list.len() as u16).clamp(1, inner.height / 3)
    } else {
        0
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(list_rows)]).areas(inner);

    match app.shown_draft() {
        Some(d) => frame.render_widget(
            Paragraph::new(detail(app, d)).wrap(Wrap { trim: false }),
            top,
        ),
        None => {
            let msg = if app.focus == Focus::Queue && app.selected_item().is_some() {
                format!(
                    "no draft for this message; {} asks for one",
                    app.keymap.label(crate::ui::keymap::Action::Approve)
                )
            } else {
                "no drafts yet".to_string()
            };
            frame.render_widget(
                Paragraph::new(Line::styled(msg, t.dim)).wrap(Wrap { trim: false }),
                top,
            );
        }
    }

    if list_rows == 0 {
        return;
    }
    let shown = app.shown_draft().map(|d| d.id);
    let selected = list.iter().position(|d| Some(d.id) == shown).unwrap_or(0);
    let offset = list_offset(selected, usize::from(list_rows));
    let width = usize::from(bottom.width);
    // Wide enough for the longest state shown (UNCONFIRMED), so the texts
    // stay in one column.
    let label_w = list
        .iter()
        .map(|d| state_label(d.state).len())
        .max()
        .unwrap_or(0)
        .max(8);
    let lines: Vec<Line> = list
        .iter()
        .enumerate()
        .skip(offset)
        .take(usize::from(list_rows))
        .map(|(i, d)| {
            let mark = if i == selected && Some(d.id) == shown {
                "›"
            } else {
                " "
            };
            let head = format!("{mark}#{:<4} {:<label_w$} ", d.id, state_label(d.state));
            let rest = width.saturating_sub(head.chars().count() + 3);
            let mut line = Line::from(vec![
                Span::styled(head, state_style(t, d.state)),
                Span::styled(platform_tag(d.platform), t.platform(d.platform)),
                Span::raw(" "),
                Span::styled(ellipsize(&d.text, rest), t.text),
            ]);
            if i == selected && Some(d.id) == shown {
                line = line.style(t.selected);
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), bottom);
}

fn detail<'a>(app: &'a App, d: &'a DraftView) -> Vec<Line<'a>> {
    let t = &app.theme;
    let chars = d.text.chars().count();
    let over = chars > d.limit;
    let mut head = vec![
        Span::styled(format!("#{} ", d.id), t.title),
        Span::styled(state_label(d.state), state_style(t, d.state)),
        Span::styled(" → ", t.dim),
        Span::styled(platform_tag(d.platform), t.platform(d.platform)),
        Span::styled(format!(" #{} ", d.channel), t.text),
        Span::styled(
            format!("{} ", source_label(d.source)),
            if d.source == DraftSource::Fallback {
                t.warn
            } else {
                t.dim
            },
        ),
        Span::styled(
            format!("{chars}/{}", d.limit),
            if over { t.bad } else { t.dim },
        ),
    ];
    if let Some(ms) = d.time_to_first_token_ms {
        head.push(Span::styled(format!(" ttft {ms}ms"), t.dim));
    }
    if app.acted_on(d.id) && matches!(d.state, DraftState::Pending | DraftState::Streaming) {
        head.push(Span::styled(" (sent to core)", t.ok));
    }
    let mut lines = vec![Line::from(head)];
    // What it answers, so the operator judges the reply against the question.
    if let Some(m) = app.answered_message(d) {
        lines.push(Line::from(vec![
            Span::styled("↳ ", t.dim),
            Span::styled(format!("{}: ", m.author.name), t.title),
            Span::styled(m.text.as_str(), t.dim),
        ]));
    }
    if let Some(why) = &d.why {
        lines.push(Line::styled(format!("why: {why}"), t.warn));
    }
    if let Some(team) = &d.team {
        lines.push(Line::styled(format!("team: {team}"), t.dim));
    }
    if d.state.not_delivered() {
        let key = |a| app.keymap.label(a);
        lines.push(match app.asked(d.id) {
            Some(Asked::Retry) => Line::styled("retry asked", t.ok),
            Some(Asked::Discard) => Line::styled("discard asked", t.dim),
            None => Line::styled(
                format!(
                    "{} retry · {} discard · {} lists all",
                    key(Action::Retry),
                    key(Action::Discard),
                    key(Action::NotDelivered)
                ),
                t.key,
            ),
        });
    }
    let mut body = d.text.clone();
    if d.state == DraftState::Streaming {
        body.push('▌');
    }
    lines.push(Line::styled(body, t.text));
    lines
}
