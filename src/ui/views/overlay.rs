//! Pop-ups over the panes: help, the draft editor, the topic and filter
//! prompts, the attention state picker, the weights tuner, the list of
//! replies not delivered, the review lane of held messages and the quit check.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::drafts::{state_label as draft_label, state_style as draft_style};
use super::{Areas, ellipsize, list_offset};
use crate::model::AttentionState;
use crate::model::DraftView;
use crate::ui::app::{App, Asked, Mode, PromptKind};
use crate::ui::keymap::Action;
use crate::ui::theme::platform_tag;
use crate::ui::theme::state_label;
use crate::ui::widgets::bars::factor_bar;

// Retry and discard are told on the not-delivered line: at 80x24 the help
// has no row to spare.
const HELP: [Action; 21] = [
    Action::Approve,
    Action::Edit,
    Action::Reject,
    Action::Regenerate,
    Action::ToggleAuto,
    Action::TogglePause,
    Action::Topic,
    Action::ForceState,
    Action::Weights,
    Action::Filter,
    Action::NotDelivered,
    Action::Review,
    Action::FocusNext,
    Action::Down,
    Action::Up,
    Action::PageDown,
    Action::PageUp,
    Action::Top,
    Action::Bottom,
    Action::Help,
    Action::Quit,
];

fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(r.height))])
        .flex(Flex::Center)
        .areas(r);
    let [c] = Layout::horizontal([Constraint::Length(w.min(r.width))])
        .flex(Flex::Center)
        .areas(v);
    c
}

fn popup<'a>(app: &App, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(app.theme.border_focus)
        .title(title)
        .title_style(app.theme.title)
        .style(Style::new().bg(app.theme.header.bg.unwrap_or_default()))
}

pub fn render(frame: &mut Frame, areas: &Areas, app: &App) {
    let full = frame.area();
    let t = &app.theme;
    match &app.mode {
        Mode::Normal => {}
        Mode::Help => {
            // Two border rows and the mouse line.
            let area = centered(full, 72, HELP.len() as u16 + 3);
            let lines: Vec<Line> = HELP
                .iter()
                .map(|a| {
                    let mut what = a.describe().to_string();
                    if *a == Action::FocusNext {
                        // One row for both: at 80x24 the help has none to spare.
                        what = format!("{what} ({} previous)", app.keymap.label(Action::FocusPrev));
                    }
                    if *a == Action::NotDelivered {
                        what = format!(
                            "{what} ({} retry, {} discard)",
                            app.keymap.label(Action::Retry),
                            app.keymap.label(Action::Discard)
                        );
                    }
                    Line::from(vec![
                        Span::styled(format!("{:>14}  ", app.keymap.labels(*a).join(" ")), t.key),
                        Span::styled(what, t.text),
                    ])
                })
                .chain(std::iter::once(Line::styled(
                    "mouse: wheel scrolls, click focuses · keys: [ui.keys] in the config",
                    t.dim,
                )))
                .collect();
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(lines).block(popup(app, " help — any key closes ")),
                area,
            );
        }
        Mode::Edit {
            draft,
            area: editor,
        } => {
            let target = areas.drafts;
            let h = target.height.clamp(3, 8);
            let area = Rect {
                y: target.y + target.height.saturating_sub(h),
                height: h,
                ..target
            };
            let (chars, limit) = app
                .drafts
                .get(draft)
                .map(|d| {
                    (
                        editor
                            .lines()
                            .iter()
                            .map(|l| l.chars().count())
                            .sum::<usize>(),
                        d.limit,
                    )
                })
                .unwrap_or((0, 0));
            let style = if chars > limit { t.bad } else { t.dim };
            let block = popup(
                app,
                Line::from(vec![
                    Span::styled(format!(" edit #{draft} "), t.title),
                    Span::styled(format!("{chars}/{limit} "), style),
                ]),
            );
            let inner = block.inner(area);
            frame.render_widget(Clear, area);
            frame.render_widget(block, area);
            frame.render_widget(&**editor, inner);
        }
        Mode::Prompt { kind, area: input } => {
            let title = match kind {
                PromptKind::Topic => " topic — what the stream is about now ",
                PromptKind::Filter => {
                    " filter chat — words, user:NAME, platform:twitch|youtube|discord "
                }
            };
            let r = areas.chat;
            let area = Rect {
                y: r.y + r.height.saturating_sub(3),
                height: 3.min(r.height),
                width: full.width.min(r.width.max(60)),
                ..r
            };
            let block = popup(app, title);
            let inner = block.inner(area);
            frame.render_widget(Clear, area);
            frame.render_widget(block, area);
            frame.render_widget(&**input, inner);
        }
        Mode::StatePicker { sel } => {
            let area = centered(full, 44, 6 + 2);
            let current = app.snapshot.as_ref().map(|s| s.state);
            let mut lines: Vec<Line> = AttentionState::ALL
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mark = if Some(*s) == current { " (now)" } else { "" };
                    let line = Line::from(vec![
                        Span::styled(format!(" {} ", i + 1), t.key),
                        Span::styled(state_label(*s), t.state(*s)),
                        Span::styled(mark, t.dim),
                    ]);
                    if i == *sel {
                        line.style(t.selected)
                    } else {
                        line
                    }
                })
                .collect();
            lines.push(Line::styled(" Enter forces it · Esc cancels", t.dim));
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(lines).block(popup(app, " force attention state ")),
                area,
            );
        }
        Mode::Weights { sel } => {
            // Over the chat, so the queue stays in view while the runtime re-ranks it.
            let r = areas.chat;
            let suggestion = app.snapshot.as_ref().and_then(|s| s.suggestion);
            let h = (if suggestion.is_some() { 10 } else { 8 }).min(r.height);
            let area = Rect {
                y: r.y + r.height.saturating_sub(h),
                height: h,
                ..r
            };
            let w = app.weights;
            let fill = Style::new().fg(t.bar);
            let bar_w = usize::from(area.width).saturating_sub(19).max(4);
            let mut lines: Vec<Line> = [
                ("content", w.content),
                ("authority", w.authority),
                ("relevance", w.relevance),
                ("temporal", w.temporal),
            ]
            .iter()
            .enumerate()
            .map(|(i, (name, v))| {
                let mut l = factor_bar(name, 10, *v, bar_w, fill, t.dim);
                l.spans
                    .insert(0, Span::styled(if i == *sel { "▶ " } else { "  " }, t.key));
                if i == *sel { l.style(t.selected) } else { l }
            })
            .collect();
            // Fitted to the operator's own choices; offered, never applied.
            if let Some(f) = suggestion {
                let sw = f.weights;
                lines.push(Line::styled(
                    format!(
                        " fit to your {} choices: c {:.2} a {:.2} r {:.2} t {:.2}",
                        f.choices, sw.content, sw.authority, sw.relevance, sw.temporal
                    ),
                    t.warn,
                ));
                lines.push(Line::styled(
                    format!(
                        " agrees {:.0}% → {:.0}% · f applies it",
                        f.agreement_now * 100.0,
                        f.agreement_suggested * 100.0
                    ),
                    t.warn,
                ));
            }
            lines.push(Line::styled(" h/l adjust · j/k choose · Esc done", t.dim));
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(lines).block(popup(app, " salience weights (live) ")),
                area,
            );
        }
        Mode::NotDelivered { sel } => not_delivered(frame, app, *sel),
        Mode::Review { sel } => review(frame, app, *sel),
        Mode::ConfirmQuit => {
            let area = centered(full, 46, 4);
            let n = app.pending_count();
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled(format!(" {n} draft(s) still waiting."), t.warn),
                    Line::styled(" Quit anyway? y = quit, any other key = stay", t.text),
                ])
                .block(popup(app, " quit ")),
                area,
            );
        }
    }
}

/// The refused, failed and unconfirmed drafts, two rows each: what it said,
/// then why it did not go out (or what the operator already asked).
fn not_delivered(frame: &mut Frame, app: &App, sel: usize) {
    let key = |a| app.keymap.label(a);
    let list = app.not_delivered();
    two_row_list(
        frame,
        app,
        TwoRowList {
            title: format!(" not delivered ({}) ", list.len()),
            hints: format!(
                " {} retry · {} discard · {}/{} choose · Esc closes",
                key(Action::Retry),
                key(Action::Discard),
                key(Action::Down),
                key(Action::Up),
            ),
            empty: " nothing to review: every reply went out or was dealt with",
            len: list.len(),
            sel,
        },
        |i, selected, width| entry(app, list[i], selected, width),
    );
}

/// The review lane: held messages, two rows each: who and the masked text,
/// then why it is held. Enter releases into the queue, x discards.
fn review(frame: &mut Frame, app: &App, sel: usize) {
    let key = |a| app.keymap.label(a);
    let t = &app.theme;
    let list = app.held();
    two_row_list(
        frame,
        app,
        TwoRowList {
            title: format!(" held for review ({}) ", list.len()),
            hints: format!(
                " {} release to the queue · {} discard · {}/{} choose · Esc closes",
                key(Action::Approve),
                key(Action::Reject),
                key(Action::Down),
                key(Action::Up),
            ),
            empty: " nothing held: every flagged message so far was clearly blocked or passed",
            len: list.len(),
            sel,
        },
        |i, selected, width| {
            let h = &list[i];
            let m = &h.message;
            let paid = m
                .paid
                .as_ref()
                .map(|p| format!("{} {:.2} ", p.currency, p.amount))
                .unwrap_or_default();
            let head = format!("{}{} ", if selected { "›" } else { " " }, m.author.name);
            let rest = width.saturating_sub(head.chars().count() + paid.chars().count() + 3);
            let mut first = Line::from(vec![
                Span::styled(platform_tag(m.platform), t.platform(m.platform)),
                Span::styled(head, t.text.add_modifier(Modifier::BOLD)),
                Span::styled(paid, t.warn),
                Span::styled(ellipsize(&m.text, rest), t.text),
            ]);
            if selected {
                first = first.style(t.selected);
            }
            let second = Line::styled(ellipsize(&format!("     why: {}", h.reason), width), t.warn);
            [first, second]
        },
    );
}

/// What a popup list of two-row entries shows around its entries.
struct TwoRowList {
    title: String,
    hints: String,
    empty: &'static str,
    len: usize,
    sel: usize,
}

/// A centred popup sized to its entries (two rows each), the key hints on
/// its last row, scrolled so the selected entry stays in view.
fn two_row_list<'a>(
    frame: &mut Frame,
    app: &App,
    list: TwoRowList,
    row: impl Fn(usize, bool, usize) -> [Line<'a>; 2],
) {
    let full = frame.area();
    let t = &app.theme;
    // Borders, two rows per entry (one for an empty list), the key hints.
    let want = 2 + 2 * list.len.max(1) + 1;
    let h = u16::try_from(want).unwrap_or(u16::MAX);
    let area = centered(full, full.width.saturating_sub(4).max(40), h);
    let block = popup(app, list.title);
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let [body, hints] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(Line::styled(list.hints, t.dim)), hints);
    if list.len == 0 {
        frame.render_widget(Paragraph::new(Line::styled(list.empty, t.dim)), body);
        return;
    }
    let sel = list.sel.min(list.len - 1);
    let fit = usize::from(body.height / 2).max(1);
    let width = usize::from(body.width);
    let lines: Vec<Line> = (0..list.len)
        .skip(list_offset(sel, fit))
        .take(fit)
        .flat_map(|i| row(i, i == sel, width))
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}

fn entry<'a>(app: &'a App, d: &'a DraftView, selected: bool, width: usize) -> [Line<'a>; 2] {
    let t = &app.theme;
    let head = format!(
        "{}#{:<4} {:<11} ",
        if selected { "›" } else { " " },
        d.id,
        draft_label(d.state)
    );
    let target = format!(" #{} ", d.channel);
    let rest = width.saturating_sub(head.chars().count() + 2 + target.chars().count());
    let mut first = Line::from(vec![
        Span::styled(head, draft_style(t, d.state)),
        Span::styled(platform_tag(d.platform), t.platform(d.platform)),
        Span::styled(target, t.dim),
        Span::styled(ellipsize(&d.text, rest), t.text),
    ]);
    if selected {
        first = first.style(t.selected);
    }
    let why = d.why.as_deref().unwrap_or("no reason given");
    let mut second = vec![Span::styled(
        ellipsize(&format!("       why: {why}"), width),
        t.warn,
    )];
    match app.asked(d.id) {
        Some(Asked::Retry) => second.push(Span::styled(" · retry asked", t.ok)),
        Some(Asked::Discard) => second.push(Span::styled(" · discard asked", t.dim)),
        None => {}
    }
    [first, Line::from(second)]
}
