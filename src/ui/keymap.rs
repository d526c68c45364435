//! The configurable keymap (`[ui.keys]`): which keys trigger which console
//! action. Key names are parsed once at start-up, so a typo is a config error
//! naming the key rather than a dead key on stream.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::validate::ConfigError;

/// Everything a key can ask of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    FocusNext,
    FocusPrev,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Approve,
    Edit,
    Reject,
    Regenerate,
    ToggleAuto,
    TogglePause,
    Topic,
    ForceState,
    Weights,
    Filter,
    NotDelivered,
    Review,
    Retry,
    Discard,
    Help,
    Quit,
}

impl Action {
    /// What the help screen says about an action.
    pub fn describe(self) -> &'static str {
        match self {
            Action::FocusNext => "focus next pane",
            Action::FocusPrev => "focus previous pane",
            Action::Down => "move down / scroll",
            Action::Up => "move up / scroll",
            Action::PageDown => "page down",
            Action::PageUp => "page up",
            Action::Top => "first / oldest",
            Action::Bottom => "last / newest",
            Action::Approve => "approve and send the draft (queue: draft a reply)",
            Action::Edit => "edit the draft, then Enter/Ctrl-S sends, Esc cancels",
            Action::Reject => "reject the draft",
            Action::Regenerate => "regenerate the draft",
            Action::ToggleAuto => "toggle auto-send",
            Action::TogglePause => "pause / resume all bot output",
            Action::Topic => "set the current topic",
            Action::ForceState => "force an attention state",
            Action::Weights => "adjust salience weights live",
            Action::Filter => "filter chat (text, user:NAME, platform:NAME)",
            Action::NotDelivered => "list replies not delivered",
            Action::Review => "review held messages (release to the queue or discard)",
            Action::Retry => "send a not-delivered reply again",
            Action::Discard => "drop a not-delivered reply from the list",
            Action::Help => "this help",
            Action::Quit => "quit (asks if drafts are pending)",
        }
    }
}

/// One key with its modifiers, as written in the config ("ctrl-s", "G", "pgdn").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeySpec {
    /// Parses a key name; `None` if it is not one.
    pub fn parse(s: &str) -> Option<KeySpec> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 && lower.starts_with("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.chars().count() > 1 && lower.starts_with("alt-") {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        let n = rest.to_ascii_lowercase();
                        let f = n.strip_prefix('f')?.parse::<u8>().ok()?;
                        if !(1..=12).contains(&f) {
                            return None;
                        }
                        KeyCode::F(f)
                    }
                }
            }
        };
        Some(KeySpec { code, mods })
    }

    /// Whether a key press is this key. Shift is part of the character
    /// ('G' arrives as Shift+G) and of BackTab, so it is ignored there.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let mut code = ev.code;
        if let KeyCode::Char(c) = code {
            if mods.contains(KeyModifiers::CONTROL) {
                // Terminals report Ctrl-S as 's' with CONTROL, sometimes 'S'.
                code = KeyCode::Char(c.to_ascii_lowercase());
            }
        }
        if ev.code == KeyCode::BackTab {
            mods = KeyModifiers::NONE;
        }
        code == self.code && mods == self.mods
    }
}

/// Key names per action (`[ui.keys]`); each list replaces that action's defaults.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeymapConfig {
    /// Focus the next pane (chat, queue, drafts).
    pub focus_next: Vec<String>,
    /// Focus the previous pane.
    pub focus_prev: Vec<String>,
    /// Move the selection down or scroll the chat towards the newest.
    pub down: Vec<String>,
    /// Move the selection up or scroll the chat back.
    pub up: Vec<String>,
    /// Page down.
    pub page_down: Vec<String>,
    /// Page up.
    pub page_up: Vec<String>,
    /// Jump to the first item / oldest message.
    pub top: Vec<String>,
    /// Jump to the last item / newest message.
    pub bottom: Vec<String>,
    /// Approve and send the selected draft.
    pub approve: Vec<String>,
    /// Edit the selected draft before sending.
    pub edit: Vec<String>,
    /// Reject the selected draft.
    pub reject: Vec<String>,
    /// Ask for a new draft.
    pub regenerate: Vec<String>,
    /// Toggle auto-send.
    pub auto_send: Vec<String>,
    /// Pause or resume all bot output.
    pub pause: Vec<String>,
    /// Set the current topic.
    pub topic: Vec<String>,
    /// Force an attention state.
    pub force_state: Vec<String>,
    /// Adjust the salience weights.
    pub weights: Vec<String>,
    /// Filter the chat.
    pub filter: Vec<String>,
    /// Open the list of replies the platform refused, that failed, or that
    /// no verdict came for.
    pub not_delivered: Vec<String>,
    /// Open the review lane: paid or streamer-addressed messages the
    /// profanity model flagged, to release into the queue or discard.
    pub review: Vec<String>,
    /// Send a not-delivered reply again (in that list, or the shown draft).
    pub retry: Vec<String>,
    /// Drop a not-delivered reply (in that list, or the shown draft).
    pub discard: Vec<String>,
    /// Show the help.
    pub help: Vec<String>,
    /// Quit.
    pub quit: Vec<String>,
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

impl Default for KeymapConfig {
    fn default() -> Self {
        KeymapConfig {
            focus_next: keys(&["tab"]),
            focus_prev: keys(&["backtab"]),
            down: keys(&["j", "down"]),
            up: keys(&["k", "up"]),
            page_down: keys(&["pgdn", "ctrl-d"]),
            page_up: keys(&["pgup", "ctrl-u"]),
            top: keys(&["g", "home"]),
            bottom: keys(&["G", "end"]),
            approve: keys(&["enter", "y"]),
            edit: keys(&["e"]),
            reject: keys(&["x"]),
            regenerate: keys(&["r"]),
            auto_send: keys(&["a"]),
            pause: keys(&["p"]),
            topic: keys(&["t"]),
            force_state: keys(&["s"]),
            weights: keys(&["w"]),
            filter: keys(&["/"]),
            not_delivered: keys(&["n"]),
            review: keys(&["h"]),
            // Capitals, unlike regenerate's r: a retry may post twice when
            // the first try was unconfirmed, so it should not be a slip.
            retry: keys(&["R"]),
            discard: keys(&["D"]),
            help: keys(&["?"]),
            quit: keys(&["q", "ctrl-c"]),
        }
    }
}

impl KeymapConfig {
    fn entries(&self) -> [(&'static str, Action, &Vec<String>); 24] {
        [
            ("focus_next", Action::FocusNext, &self.focus_next),
            ("focus_prev", Action::FocusPrev, &self.focus_prev),
            ("down", Action::Down, &self.down),
            ("up", Action::Up, &self.up),
            ("page_down", Action::PageDown, &self.page_down),
            ("page_up", Action::PageUp, &self.page_up),
            ("top", Action::Top, &self.top),
            ("bottom", Action::Bottom, &self.bottom),
            ("approve", Action::Approve, &self.approve),
            ("edit", Action::Edit, &self.edit),
            ("reject", Action::Reject, &self.reject),
            ("regenerate", Action::Regenerate, &self.regenerate),
            ("auto_send", Action::ToggleAuto, &self.auto_send),
            ("pause", Action::TogglePause, &self.pause),
            ("topic", Action::Topic, &self.topic),
            ("force_state", Action::ForceState, &self.force_state),
            ("weights", Action::Weights, &self.weights),
            ("filter", Action::Filter, &self.filter),
            ("not_delivered", Action::NotDelivered, &self.not_delivered),
            ("review", Action::Review, &self.review),
            ("retry", Action::Retry, &self.retry),
            ("discard", Action::Discard, &self.discard),
            ("help", Action::Help, &self.help),
            ("quit", Action::Quit, &self.quit),
        ]
    }

    /// Every key name parses, and no key is bound to two actions.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.build().map(|_| ())
    }

    /// The parsed keymap.
    pub fn build(&self) -> Result<Keymap, ConfigError> {
        let mut bindings: Vec<(KeySpec, Action, &'static str)> = Vec::new();
        for (name, action, names) in self.entries() {
            for key in names {
                let key_name = format!("ui.keys.{name}");
                let spec = KeySpec::parse(key).ok_or_else(|| {
                    ConfigError::invalid(
                        &key_name,
                        format!(
                            "{key:?} is not a key (use a character, ctrl-X, alt-X, enter, esc, tab, backtab, up, down, left, right, pgup, pgdn, home, end, space, f1..f12)"
                        ),
                    )
                })?;
                if let Some((_, _, other)) = bindings.iter().find(|(s, _, _)| *s == spec) {
                    return Err(ConfigError::invalid(
                        &key_name,
                        format!("{key:?} is already bound to ui.keys.{other}"),
                    ));
                }
                bindings.push((spec, action, name));
            }
        }
        Ok(Keymap {
            bindings: bindings.into_iter().map(|(s, a, _)| (s, a)).collect(),
        })
    }
}

/// Parsed bindings, looked up per key press.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: Vec<(KeySpec, Action)>,
}

impl Default for Keymap {
    fn default() -> Self {
        // The default config is tested to build.
        KeymapConfig::default()
            .build()
            .unwrap_or(Keymap { bindings: vec![] })
    }
}

impl Keymap {
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(k, _)| k.matches(ev))
            .map(|(_, a)| *a)
    }

    /// The first key name bound to `action`, for hints.
    pub fn label(&self, action: Action) -> String {
        self.labels(action).into_iter().next().unwrap_or_default()
    }

    /// Every key bound to `action`, as the help screen shows them.
    pub fn labels(&self, action: Action) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| key_label(k))
            .collect()
    }
}

fn key_label(k: &KeySpec) -> String {
    let mut s = String::new();
    if k.mods.contains(KeyModifiers::CONTROL) {
        s.push_str("C-");
    }
    if k.mods.contains(KeyModifiers::ALT) {
        s.push_str("M-");
    }
    match k.code {
        KeyCode::Char(' ') => s.push_str("Space"),
        KeyCode::Char(c) => s.push(c),
        KeyCode::Enter => s.push_str("Enter"),
        KeyCode::Esc => s.push_str("Esc"),
        KeyCode::Tab => s.push_str("Tab"),
        KeyCode::BackTab => s.push_str("S-Tab"),
        KeyCode::Up => s.push('↑'),
        KeyCode::Down => s.push('↓'),
        KeyCode::Left => s.push('←'),
        KeyCode::Right => s.push('→'),
        KeyCode::PageUp => s.push_str("PgUp"),
        KeyCode::PageDown => s.push_str("PgDn"),
        KeyCode::Home => s.push_str("Home"),
        KeyCode::End => s.push_str("End"),
        KeyCode::F(n) => s.push_str(&format!("F{n}")),
        other => s.push_str(&format!("{other:?}")),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn default_keymap_builds_and_maps_the_documented_keys() {
        let km = KeymapConfig::default().build().unwrap();
        assert_eq!(
            km.action(&press(KeyCode::Char('y'), KeyModifiers::NONE)),
            Some(Action::Approve)
        );
        assert_eq!(
            km.action(&press(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Approve)
        );
        assert_eq!(
            km.action(&press(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('n'), KeyModifiers::NONE)),
            Some(Action::NotDelivered)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('R'), KeyModifiers::SHIFT)),
            Some(Action::Retry)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('D'), KeyModifiers::SHIFT)),
            Some(Action::Discard)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('z'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn bad_key_names_and_conflicts_name_the_key() {
        let cfg = KeymapConfig {
            approve: vec!["hyper-q".into()],
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("ui.keys.approve"), "{err}");
        assert!(err.contains("hyper-q"), "{err}");

        let cfg = KeymapConfig {
            reject: vec!["y".into()],
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("ui.keys.reject"), "{err}");
        assert!(err.contains("approve"), "{err}");
    }

    #[test]
    fn remapped_keys_replace_the_defaults() {
        let cfg = KeymapConfig {
            approve: vec!["ctrl-y".into()],
            ..Default::default()
        };
        let km = cfg.build().unwrap();
        assert_eq!(
            km.action(&press(KeyCode::Char('y'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('y'), KeyModifiers::CONTROL)),
            Some(Action::Approve)
        );
        assert_eq!(km.label(Action::Approve), "C-y");
    }
}
