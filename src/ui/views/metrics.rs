//! Metrics: message rate per platform, salience distribution, attention
//! timeline, queue depth, drafts sent/rejected and LLM time to first token.
//! Tall terminals get a panel; short ones a single summary row.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};

use crate::model::{AttentionState, Platform};
use crate::ui::app::App;
use crate::ui::theme::platform_tag;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Text sparkline of `data` scaled to its maximum.
fn spark_text(data: &[u64]) -> String {
    let max = data.iter().copied().max().unwrap_or(0);
    data.iter()
        .map(|&v| {
            let level = (v * 7 + max / 2).checked_div(max).unwrap_or(0);
            SPARK[level.min(7) as usize]
        })
        .collect()
}

fn rate(app: &App, p: Platform) -> f64 {
    match &app.snapshot {
        Some(s) => s.msgs_per_min[p.index()],
        None => app
            .metrics
            .per_minute
            .back()
            .map(|(_, c)| c[p.index()] as f64)
            .unwrap_or(0.0),
    }
}

fn ttft(app: &App) -> String {
    let v = &app.metrics.ttft_ms;
    match v.back() {
        None => "–".into(),
        Some(last) => {
            let avg = v.iter().sum::<u64>() / v.len() as u64;
            format!("{last}ms (avg {avg}ms)")
        }
    }
}

fn state_char(s: AttentionState) -> &'static str {
    match s {
        AttentionState::FocusedInteraction => "F",
        AttentionState::CasualMonitoring => "C",
        AttentionState::DeepFocus => "D",
        AttentionState::BreakTransition => "B",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    if area.height < 4 {
        compact(frame, area, app);
        return;
    }
    let t = &app.theme;
    let block = Block::bordered()
        .border_style(t.border)
        .title(" metrics ")
        .title_style(t.title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [rates, dist, timeline, numbers] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(20),
        Constraint::Percentage(28),
        Constraint::Percentage(22),
    ])
    .spacing(1)
    .areas(inner);

    // Messages per minute, one sparkline row per platform.
    let rows = Layout::vertical([Constraint::Length(1); 4]).split(rates);
    frame.render_widget(
        Paragraph::new(Line::styled("msgs/min (last hour)", t.dim)),
        rows[0],
    );
    for (i, p) in Platform::ALL.into_iter().enumerate() {
        let [label, spark, value] = Layout::horizontal([
            Constraint::Length(3),
            Constraint::Min(4),
            Constraint::Length(6),
        ])
        .areas(rows[i + 1]);
        let data: Vec<u64> = app
            .metrics
            .per_minute
            .iter()
            .map(|(_, c)| c[p.index()])
            .collect();
        let skip = data.len().saturating_sub(usize::from(spark.width));
        frame.render_widget(
            Paragraph::new(Span::styled(platform_tag(p), t.platform(p))),
            label,
        );
        frame.render_widget(
            Sparkline::default()
                .data(&data[skip..])
                .style(Style::new().fg(t.platform[p.index()])),
            spark,
        );
        frame.render_widget(
            Paragraph::new(Span::styled(format!("{:>5.1}", rate(app, p)), t.text)),
            value,
        );
    }

    // Salience distribution: ten bins from 0 to 1, plus counts per priority.
    let [dl, dspark, daxis, dcount] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(dist);
    frame.render_widget(Paragraph::new(Line::styled("salience", t.dim)), dl);
    let bins: Vec<u64> = app.metrics.score_bins.to_vec();
    let spark_w = dspark.width.min(10);
    frame.render_widget(
        Sparkline::default()
            .data(&bins)
            .max(bins.iter().copied().max().unwrap_or(0).max(1))
            .style(Style::new().fg(t.bar)),
        Rect {
            width: spark_w,
            ..dspark
        },
    );
    frame.render_widget(Paragraph::new(Line::styled("0   .5   1", t.dim)), daxis);
    if let Some(s) = &app.snapshot {
        let c = s.counts_by_priority;
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("L{} M{} H{} C{}", c[0], c[1], c[2], c[3]),
                t.text,
            )),
            dcount,
        );
    }

    // Attention timeline: one cell per transition, newest on the right.
    let tl_rows = Layout::vertical([Constraint::Length(1); 4]).split(timeline);
    frame.render_widget(
        Paragraph::new(Line::styled("attention timeline", t.dim)),
        tl_rows[0],
    );
    let cells = usize::from(timeline.width);
    let tl: Vec<Span> = app
        .metrics
        .timeline
        .iter()
        .skip(app.metrics.timeline.len().saturating_sub(cells))
        .map(|(_, s)| {
            Span::styled(
                state_char(*s),
                t.state(*s).add_modifier(ratatui::style::Modifier::REVERSED),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(tl)), tl_rows[1]);
    let legend = Line::from(
        AttentionState::ALL
            .iter()
            .flat_map(|s| {
                [
                    Span::styled(state_char(*s), t.state(*s)),
                    Span::styled(
                        format!("={} ", crate::ui::theme::state_label(*s).to_lowercase()),
                        t.dim,
                    ),
                ]
            })
            .collect::<Vec<_>>(),
    );
    frame.render_widget(Paragraph::new(legend), tl_rows[2]);
    if let Some((at, s)) = app.metrics.timeline.back() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    "{} since {}",
                    crate::ui::theme::state_label(*s).to_lowercase(),
                    at.with_timezone(&app.offset).format("%H:%M:%S")
                ),
                t.text,
            )),
            tl_rows[3],
        );
    }

    // Numbers.
    let (sent, rejected, depth) = app
        .snapshot
        .as_ref()
        .map(|s| (s.sent, s.rejected, s.queue_len))
        .unwrap_or((0, 0, 0));
    let depth_hist: Vec<u64> = app.metrics.depth.iter().copied().collect();
    let skip = depth_hist
        .len()
        .saturating_sub(usize::from(numbers.width).saturating_sub(8));
    let lines = vec![
        Line::from(vec![
            Span::styled("queue ", t.dim),
            Span::styled(format!("{depth:<4}"), t.text),
        ]),
        Line::styled(spark_text(&depth_hist[skip..]), Style::new().fg(t.bar)),
        Line::from(vec![
            Span::styled("sent ", t.dim),
            Span::styled(sent.to_string(), t.ok),
            Span::styled("  rejected ", t.dim),
            Span::styled(rejected.to_string(), t.text),
        ]),
        Line::from(vec![
            Span::styled("ttft ", t.dim),
            Span::styled(ttft(app), t.text),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines), numbers);
}

fn compact(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let (sent, rejected, depth) = app
        .snapshot
        .as_ref()
        .map(|s| (s.sent, s.rejected, s.queue_len))
        .unwrap_or((0, 0, 0));
    let mut spans = vec![Span::styled(" ", t.dim)];
    for p in Platform::ALL {
        spans.push(Span::styled(platform_tag(p), t.platform(p)));
        spans.push(Span::styled(format!(" {:.0}/m ", rate(app, p)), t.text));
    }
    spans.push(Span::styled("│ q ", t.dim));
    spans.push(Span::styled(depth.to_string(), t.text));
    spans.push(Span::styled(" │ sent ", t.dim));
    spans.push(Span::styled(sent.to_string(), t.ok));
    spans.push(Span::styled(" rej ", t.dim));
    spans.push(Span::styled(rejected.to_string(), t.text));
    spans.push(Span::styled(" │ ttft ", t.dim));
    let last = app
        .metrics
        .ttft_ms
        .back()
        .map(|ms| format!("{ms}ms"))
        .unwrap_or_else(|| "–".into());
    spans.push(Span::styled(last, t.text));
    spans.push(Span::styled(" │ sal ", t.dim));
    spans.push(Span::styled(
        spark_text(&app.metrics.score_bins),
        Style::new().fg(t.bar),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_text_scales_to_the_maximum() {
        assert_eq!(spark_text(&[0, 7, 14]), "▁▅█");
        assert_eq!(spark_text(&[0, 0]), "▁▁");
        assert_eq!(spark_text(&[]), "");
    }
}
