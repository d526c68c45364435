//! The operator console: a ratatui view over the runtime's [`Update`]s that
//! turns keys into [`Request`]s. The only module that touches ratatui or
//! crossterm; all decisions stay in the runtime, so the console can be tested
//! without it (see [`app::App::handle`] and [`views::draw`]).
//!
//! [`Update`]: crate::session::Update
//! [`Request`]: crate::session::Request

pub mod app;
pub mod config;
pub mod keymap;
pub mod terminal;
#[doc(hidden)]
pub mod testkit;
pub mod theme;
pub mod views;
pub mod widgets;

pub use app::{App, AppEvent, Focus};
pub use config::{ShowDeleted, UiConfig};
pub use keymap::{Action, KeymapConfig};
pub use terminal::run;
pub use theme::ThemeName;

use crate::validate::ConfigError;

/// Why the console stopped.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("config: {0}")]
    Config(#[from] ConfigError),
}
