//! The bottom row: key hints, or the latest notice while it is fresh.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::app::{App, Level, Mode};
use crate::ui::keymap::Action;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    if matches!(app.mode, Mode::Normal) {
        if let Some(n) = app.current_notice() {
            let (tag, style) = match n.level {
                Level::Error => ("error", t.bad),
                Level::Warn => ("warning", t.warn),
                Level::Info => ("info", t.ok),
            };
            let line = Line::from(vec![
                Span::styled(format!(" {tag}: "), style),
                Span::styled(n.text.clone(), t.text),
            ]);
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
    }
    let hints: &[(Action, &str)] = match app.mode {
        Mode::Normal => &[
            (Action::Approve, "approve"),
            (Action::Edit, "edit"),
            (Action::Reject, "reject"),
            (Action::Regenerate, "regen"),
            (Action::ToggleAuto, "auto"),
            (Action::TogglePause, "pause"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
            (Action::FocusNext, "focus"),
            (Action::Filter, "filter"),
            (Action::Topic, "topic"),
            (Action::ForceState, "state"),
            (Action::Weights, "weights"),
        ],
        _ => &[],
    };
    let mut spans = vec![Span::raw(" ")];
    for (action, label) in hints {
        spans.push(Span::styled(app.keymap.label(*action), t.key));
        spans.push(Span::styled(format!(" {label}  "), t.dim));
    }
    let not_delivered;
    let fixed = match app.mode {
        Mode::Edit { .. } => "Enter/C-s send · Esc cancel",
        Mode::Prompt { .. } => "Enter apply · Esc cancel",
        Mode::StatePicker { .. } => "j/k choose · Enter or 1-4 force · Esc cancel",
        Mode::Weights { .. } => "j/k factor · h/l or -/+ adjust · f fitted · Esc done",
        Mode::NotDelivered { .. } => {
            not_delivered = format!(
                "{} retry · {} discard · Esc close",
                app.keymap.label(Action::Retry),
                app.keymap.label(Action::Discard)
            );
            not_delivered.as_str()
        }
        Mode::Review { .. } => {
            not_delivered = format!(
                "{} release to queue · {} discard · Esc close",
                app.keymap.label(Action::Approve),
                app.keymap.label(Action::Reject)
            );
            not_delivered.as_str()
        }
        Mode::ConfirmQuit => "y quit · any other key stays",
        Mode::Help => "any key closes the help",
        Mode::Normal => "",
    };
    if !fixed.is_empty() {
        spans.push(Span::styled(fixed, t.key));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
