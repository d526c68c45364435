//! The `[ui]` config section: theme, deleted-message display, scrollback,
//! frame rate, mouse and key bindings. Its own file so that `config.rs` can
//! name it without importing the console.

use super::keymap::KeymapConfig;
use super::theme::ThemeName;
use crate::validate::{ConfigError, check_range};

/// How the chat shows messages that moderators deleted (`ui.show_deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShowDeleted {
    /// Kept, struck through and marked, so the operator sees what was removed.
    #[default]
    Struck,
    /// Hidden from the chat.
    Removed,
}

/// The `[ui]` config section.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Palette for the terminal background: "dark" or "light".
    pub theme: ThemeName,
    /// Deleted messages: "struck" (kept, struck through) or "removed" (hidden).
    pub show_deleted: ShowDeleted,
    /// Chat messages kept in the console's scrollback (100..=1000000).
    pub scrollback: usize,
    /// Highest redraw rate in frames per second (1..=60). Under a flood of
    /// chat, frames that only add chat come at most 10 times a second (5
    /// under a heavy flood, 600 updates a second and more).
    pub max_fps: u32,
    /// Mouse: wheel scrolls, click focuses and selects.
    pub mouse: bool,
    /// Key bindings; each list replaces that action's default keys.
    pub keys: KeymapConfig,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: ThemeName::Dark,
            show_deleted: ShowDeleted::Struck,
            scrollback: 10_000,
            max_fps: 30,
            mouse: true,
            keys: KeymapConfig::default(),
        }
    }
}

impl UiConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("ui.scrollback", self.scrollback, 100, 1_000_000)?;
        check_range("ui.max_fps", self.max_fps, 1, 60)?;
        self.keys.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_section_parses_and_rejects_bad_values_by_name() {
        let cfg: UiConfig = toml::from_str(
            "theme = \"light\"\nshow_deleted = \"removed\"\nscrollback = 500\n[keys]\napprove = [\"y\"]\n",
        )
        .unwrap();
        assert_eq!(cfg.theme, ThemeName::Light);
        assert_eq!(cfg.show_deleted, ShowDeleted::Removed);
        assert_eq!(cfg.keys.approve, vec!["y".to_string()]);
        cfg.validate().unwrap();

        let err = UiConfig {
            scrollback: 5,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("ui.scrollback"), "{err}");
        assert!(toml::from_str::<UiConfig>("theme = \"pink\"").is_err());
        assert!(toml::from_str::<UiConfig>("colour = 1").is_err());
    }
}
