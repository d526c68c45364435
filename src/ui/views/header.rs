//! The two header rows: attention state and timing, auto-send, pause, the
//! count of replies not delivered, the count held for review and topic on
//! the first; platform, LLM and
//! other health on the second.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fmt_duration;
use crate::model::Platform;
use crate::session::{Component, Health, TeamView};
use crate::ui::app::App;
use crate::ui::keymap::Action;
use crate::ui::theme::state_label;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let sep = Span::styled(" │ ", t.dim);
    let mut l1 = vec![Span::styled(" clank ", t.title)];
    // A watching team console shows the reading console's state: that is
    // the streamer's attention the team works with.
    let reader_state = app.team.as_ref().and_then(|team| {
        let watching = team
            .members
            .iter()
            .all(|m| m.member != team.me || m.reads.is_empty());
        team.reader_attention
            .as_ref()
            .filter(|_| watching)
            .map(|(who, s)| (who.clone(), *s))
    });
    match &app.snapshot {
        Some(_) if reader_state.is_some() => {
            if let Some((who, state)) = reader_state {
                l1.push(sep.clone());
                l1.push(Span::styled(
                    format!("● {}", state_label(state)),
                    t.state(state),
                ));
                l1.push(Span::styled(format!(" (as {who} reads it)"), t.dim));
            }
        }
        Some(s) => {
            l1.push(sep.clone());
            l1.push(Span::styled(
                format!("● {}", state_label(s.state)),
                t.state(s.state),
            ));
            l1.push(Span::styled(
                format!(" {}", fmt_duration((app.now - s.state_since).num_seconds())),
                t.text,
            ));
            let next = (s.next_transition_at - app.now).num_seconds();
            l1.push(Span::styled(
                if next > 0 {
                    format!(" → next in {}", fmt_duration(next))
                } else {
                    " → next due".to_string()
                },
                t.dim,
            ));
        }
        None => {
            l1.push(sep.clone());
            l1.push(Span::styled("waiting for the core…", t.dim));
        }
    }
    l1.push(sep.clone());
    l1.push(Span::styled("auto ", t.text));
    l1.push(if app.auto_send {
        Span::styled("ON", t.ok.add_modifier(Modifier::BOLD))
    } else {
        Span::styled("off", t.dim)
    });
    if app.paused {
        l1.push(sep.clone());
        l1.push(Span::styled(
            " PAUSED ",
            t.bad.add_modifier(Modifier::REVERSED),
        ));
    }
    // Before the topic: at 80 columns the topic is what gets cut.
    let undelivered = app.not_delivered_count();
    if undelivered > 0 {
        l1.push(sep.clone());
        l1.push(Span::styled(
            format!(
                "✗ {undelivered} not delivered ({})",
                app.keymap.label(Action::NotDelivered)
            ),
            t.bad,
        ));
    }
    let held = app.held().len();
    if held > 0 {
        l1.push(sep.clone());
        l1.push(Span::styled(
            format!("⚑ {held} held ({})", app.keymap.label(Action::Review)),
            t.warn.add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(s) = app.snapshot.as_ref().filter(|s| !s.topic.is_empty()) {
        l1.push(sep.clone());
        l1.push(Span::styled("topic: ", t.dim));
        l1.push(Span::styled(s.topic.clone(), t.text));
    }

    let mut l2 = vec![Span::raw(" ")];
    for p in Platform::ALL {
        let health = app
            .health
            .iter()
            .find(|(c, _)| *c == Component::Platform(p))
            .map(|(_, h)| h);
        l2.push(Span::styled(p.as_str(), t.platform(p)));
        l2.push(Span::raw(" "));
        l2.push(health_span(app, health));
        if let Some((_, q)) = app.quota.iter().find(|(x, _)| *x == p) {
            l2.push(Span::styled(format!(" ({q})"), t.dim));
        }
        l2.push(Span::raw("  "));
    }
    l2.push(sep.clone());
    l2.push(Span::styled("LLM ", t.text));
    let llm = app
        .health
        .iter()
        .find(|(c, _)| *c == Component::Llm)
        .map(|(_, h)| h);
    l2.push(health_span(app, llm));
    if matches!(llm, Some(Health::Down { .. } | Health::Off)) {
        l2.push(Span::styled(" (fallback replies)", t.warn));
    }
    for (c, name) in [
        (Component::Agent, "agent"),
        (Component::Avatar, "avatar"),
        (Component::Store, "store"),
    ] {
        if let Some((_, h)) = app.health.iter().find(|(x, _)| *x == c) {
            if *h != Health::Off {
                l2.push(Span::styled(format!("  {name} "), t.text));
                l2.push(health_span(app, Some(h)));
            }
        }
    }
    let pending = app.pending_count();
    if pending > 0 {
        l2.push(sep.clone());
        l2.push(Span::styled(format!("{pending} waiting"), t.warn));
    }
    let writing = app.writing_count();
    if writing > 0 {
        l2.push(sep);
        l2.push(Span::styled(format!("{writing} writing"), t.dim));
    }
    let mut lines = vec![Line::from(l1), Line::from(l2)];
    if let Some(team) = &app.team {
        lines.push(team_line(app, team));
    }
    frame.render_widget(Paragraph::new(lines).style(t.header), area);
}

/// The team row: each connected console (this one marked), what it reads,
/// and the reading console's attention state.
fn team_line(app: &App, team: &TeamView) -> Line<'static> {
    let t = &app.theme;
    let mut l = vec![Span::styled(
        format!(" team {} ", team.members.len()),
        t.title,
    )];
    for (i, m) in team.members.iter().enumerate() {
        if i > 0 {
            l.push(Span::styled(" · ", t.dim));
        }
        let you = if m.member == team.me {
            " (this console)"
        } else {
            ""
        };
        l.push(Span::styled(format!("{}{you}", m.member), t.text));
        if m.reads.is_empty() {
            l.push(Span::styled(" watching", t.dim));
        } else {
            l.push(Span::styled(format!(" reads {}", m.reads.join(", ")), t.ok));
            let state = if m.member == team.me {
                app.snapshot.as_ref().map(|s| s.state)
            } else {
                team.reader_attention
                    .as_ref()
                    .filter(|(who, _)| *who == m.member)
                    .map(|(_, s)| *s)
            };
            if let Some(state) = state {
                l.push(Span::styled(
                    format!(" ● {}", state_label(state)),
                    t.state(state),
                ));
            }
        }
    }
    if team.members.is_empty() {
        l.push(Span::styled("connecting…", t.dim));
    }
    Line::from(l)
}

fn health_span(app: &App, h: Option<&Health>) -> Span<'static> {
    let t = &app.theme;
    let (text, style): (String, Style) = match h {
        None => ("…".into(), t.dim),
        Some(Health::Connecting) => ("connecting".into(), t.warn),
        Some(Health::Connected) => ("● up".into(), t.ok),
        Some(Health::ReadOnly) => ("◐ read-only".into(), t.warn),
        // 0 s is a resume or a retry under way (Discord resumes at once).
        Some(Health::Reconnecting { in_s: 0, .. }) => ("⟳ now".to_string(), t.warn),
        Some(Health::Reconnecting { in_s, .. }) => (format!("⟳ {in_s}s"), t.warn),
        Some(Health::Down { .. }) => ("✗ down".into(), t.bad),
        Some(Health::Slow { .. }) => ("◔ slow".into(), t.warn),
        Some(Health::Off) => ("off".into(), t.dim),
    };
    Span::styled(text, style)
}
