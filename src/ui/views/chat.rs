//! The merged chat: newest at the bottom, platform tag and colour, roles,
//! paid amounts, deleted messages struck or hidden, platform events (raids,
//! subs) as system lines between them. Only the messages that fit on screen
//! are laid out, so 10k lines of scrollback cost no more than 30.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::pane;
use crate::model::{ChatMessage, PaidKind, Priority, Role, Salience};
use crate::session::SystemLine;
use crate::ui::app::{App, ChatEntry, Focus};
use crate::ui::theme::platform_tag;
use crate::ui::widgets::wrap::wrap;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut title = vec![Span::raw(" chat ")];
    if let Some(f) = &app.filter {
        title.push(Span::styled(format!("[/{}] ", f.raw), t.warn));
    }
    if app.chat_scroll > 0 {
        title.push(Span::styled(format!("↑{} ", app.chat_scroll), t.warn));
    }
    let block = pane(app, Focus::Chat, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (w, h) = (usize::from(inner.width), usize::from(inner.height));
    if w == 0 || h == 0 {
        return;
    }
    if app.chat.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no messages yet", t.dim)),
            inner,
        );
        return;
    }

    // Walk back from the newest visible message until the pane is full.
    let mut rows: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for line in app
        .chat
        .iter()
        .rev()
        .filter(|l| app.chat_visible(l))
        .skip(app.chat_scroll)
    {
        let spans = match &line.entry {
            ChatEntry::Message {
                message,
                salience,
                deleted,
            } => message_spans(app, message, salience.as_deref(), *deleted),
            ChatEntry::System(s) => system_spans(app, s),
        };
        let wrapped = wrap(&spans, w, 2);
        used += wrapped.len();
        rows.push(wrapped);
        if used >= h {
            break;
        }
    }
    let mut lines: Vec<Line> = rows.into_iter().rev().flatten().collect();
    if lines.len() > h {
        lines.drain(..lines.len() - h);
    }
    if lines.is_empty() {
        lines.push(Line::styled("nothing matches the filter", t.dim));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn role_badge(r: Role) -> Option<&'static str> {
    match r {
        Role::Broadcaster => Some("bc"),
        Role::Moderator => Some("mod"),
        Role::Vip => Some("vip"),
        Role::Subscriber => Some("sub"),
        Role::Member => Some("mem"),
        Role::Verified => Some("ok"),
        Role::Staff => Some("staff"),
        Role::Other => None,
    }
}

/// Time and platform tag like a message, then a flag and the event in the
/// system style, so it reads as the platform speaking, not a chatter.
fn system_spans<'a>(app: &'a App, s: &'a SystemLine) -> Vec<Span<'a>> {
    let t = &app.theme;
    let time = s.at.with_timezone(&app.offset).format("%H:%M").to_string();
    vec![
        Span::styled(time, t.dim),
        Span::raw(" "),
        Span::styled(platform_tag(s.platform), t.platform(s.platform)),
        Span::raw(" "),
        Span::styled("⚑ ", t.system),
        Span::styled(s.text.as_str(), t.system),
    ]
}

fn message_spans<'a>(
    app: &'a App,
    m: &'a ChatMessage,
    salience: Option<&Salience>,
    deleted: bool,
) -> Vec<Span<'a>> {
    let t = &app.theme;
    let time = m.at.with_timezone(&app.offset).format("%H:%M").to_string();
    let mut spans = vec![
        Span::styled(time, t.dim),
        Span::raw(" "),
        Span::styled(platform_tag(m.platform), t.platform(m.platform)),
        Span::raw(" "),
    ];
    if deleted {
        spans.push(Span::styled("✗ ", t.bad));
    }
    if let Some(s) = salience {
        if s.priority >= Priority::High {
            spans.push(Span::styled("! ", t.priority(s.priority)));
        }
    }
    let badges: Vec<&str> = m
        .author
        .roles
        .iter()
        .filter_map(|r| role_badge(*r))
        .collect();
    spans.push(Span::styled(
        m.author.name.as_str(),
        t.platform(m.platform).remove_modifier(Modifier::BOLD),
    ));
    if !badges.is_empty() {
        spans.push(Span::styled(format!("[{}]", badges.join(",")), t.dim));
    }
    if let Some(p) = &m.paid {
        let amount = if p.kind == PaidKind::Bits {
            format!(" {} bits", p.amount)
        } else {
            format!(" {:.2} {}", p.amount, p.currency)
        };
        spans.push(Span::styled(amount, t.paid));
    }
    spans.push(Span::styled(": ", t.dim));
    let text_style = if deleted {
        t.dim.add_modifier(Modifier::CROSSED_OUT)
    } else {
        t.text
    };
    spans.push(Span::styled(m.text.as_str(), text_style));
    spans
}
