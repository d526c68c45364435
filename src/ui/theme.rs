//! Colour themes: one palette per terminal background, so every view stays
//! legible on a dark and on a light terminal.

use ratatui::style::{Color, Modifier, Style};

use crate::model::{AttentionState, Platform, Priority};

/// Which palette to use (`ui.theme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

/// Every colour the views use, resolved once.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selected: Style,
    pub header: Style,
    pub ok: Style,
    pub warn: Style,
    pub bad: Style,
    pub paid: Style,
    /// Platform events in the chat (raids, subs): apart from what people say.
    pub system: Style,
    pub key: Style,
    pub bar: Color,
    pub platform: [Color; 3],
    pub priority: [Color; 4],
    pub state: [Color; 4],
}

impl Theme {
    pub fn new(name: ThemeName) -> Theme {
        match name {
            ThemeName::Dark => Theme {
                text: Style::new().fg(Color::Gray),
                dim: Style::new().fg(Color::DarkGray),
                title: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
                border: Style::new().fg(Color::DarkGray),
                border_focus: Style::new().fg(Color::Cyan),
                selected: Style::new().bg(Color::Rgb(40, 44, 60)).fg(Color::White),
                header: Style::new().bg(Color::Rgb(24, 26, 36)).fg(Color::White),
                ok: Style::new().fg(Color::Green),
                warn: Style::new().fg(Color::Yellow),
                bad: Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
                paid: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                system: Style::new()
                    .fg(Color::LightCyan)
                    .add_modifier(Modifier::ITALIC),
                key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                bar: Color::Cyan,
                platform: [
                    Color::Rgb(169, 112, 255),
                    Color::Rgb(255, 80, 80),
                    Color::Rgb(114, 137, 218),
                ],
                priority: [Color::DarkGray, Color::Gray, Color::Yellow, Color::LightRed],
                state: [Color::Green, Color::Cyan, Color::Magenta, Color::Yellow],
            },
            ThemeName::Light => Theme {
                text: Style::new().fg(Color::Black),
                dim: Style::new().fg(Color::Rgb(110, 110, 110)),
                title: Style::new().fg(Color::Black).add_modifier(Modifier::BOLD),
                border: Style::new().fg(Color::Rgb(150, 150, 150)),
                border_focus: Style::new().fg(Color::Blue),
                selected: Style::new().bg(Color::Rgb(210, 222, 245)).fg(Color::Black),
                header: Style::new().bg(Color::Rgb(228, 230, 238)).fg(Color::Black),
                ok: Style::new().fg(Color::Rgb(0, 120, 0)),
                warn: Style::new().fg(Color::Rgb(160, 100, 0)),
                bad: Style::new()
                    .fg(Color::Rgb(190, 0, 0))
                    .add_modifier(Modifier::BOLD),
                paid: Style::new()
                    .fg(Color::Rgb(150, 90, 0))
                    .add_modifier(Modifier::BOLD),
                system: Style::new()
                    .fg(Color::Rgb(0, 100, 140))
                    .add_modifier(Modifier::ITALIC),
                key: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                bar: Color::Blue,
                platform: [
                    Color::Rgb(100, 50, 200),
                    Color::Rgb(200, 0, 0),
                    Color::Rgb(60, 80, 170),
                ],
                priority: [
                    Color::Rgb(120, 120, 120),
                    Color::Black,
                    Color::Rgb(160, 100, 0),
                    Color::Rgb(190, 0, 0),
                ],
                state: [
                    Color::Rgb(0, 120, 0),
                    Color::Rgb(0, 110, 150),
                    Color::Rgb(130, 0, 130),
                    Color::Rgb(160, 100, 0),
                ],
            },
        }
    }

    pub fn platform(&self, p: Platform) -> Style {
        Style::new()
            .fg(self.platform[p.index()])
            .add_modifier(Modifier::BOLD)
    }

    pub fn priority(&self, p: Priority) -> Style {
        let i = match p {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Critical => 3,
        };
        Style::new().fg(self.priority[i])
    }

    pub fn state(&self, s: AttentionState) -> Style {
        Style::new()
            .fg(self.state[s.index()])
            .add_modifier(Modifier::BOLD)
    }
}

/// The short tag shown before each message.
pub fn platform_tag(p: Platform) -> &'static str {
    match p {
        Platform::Twitch => "TW",
        Platform::Youtube => "YT",
        Platform::Discord => "DC",
    }
}

/// Attention states as the operator reads them.
pub fn state_label(s: AttentionState) -> &'static str {
    match s {
        AttentionState::FocusedInteraction => "FOCUSED",
        AttentionState::CasualMonitoring => "CASUAL",
        AttentionState::DeepFocus => "DEEP FOCUS",
        AttentionState::BreakTransition => "BREAK",
    }
}
