//! The `[twitch]` config section, beside the adapter that reads it.

use serde::Deserialize;

use crate::secret::Secret;
use crate::validate::{ConfigError, EnvKind, EnvVar, check_url};

/// Twitch chat.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwitchConfig {
    /// Channels to join, without `#` (env `TWITCH_CHANNELS`, comma separated).
    pub channels: Vec<String>,
    /// OAuth application client id (env `TWITCH_CLIENT_ID`).
    pub client_id: Option<String>,
    /// OAuth application client secret (env `TWITCH_CLIENT_SECRET`).
    pub client_secret: Option<Secret>,
    /// IRC server address, host:port.
    pub irc_addr: String,
    /// TLS to the IRC server; `false` is refused unless the address is loopback.
    pub tls: bool,
    /// Base URL of Twitch's OAuth service (device login, refresh, validate).
    pub oauth_url: String,
}

impl Default for TwitchConfig {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            client_id: None,
            client_secret: None,
            irc_addr: "irc.chat.twitch.tv:6697".into(),
            tls: true,
            oauth_url: "https://id.twitch.tv".into(),
        }
    }
}

impl TwitchConfig {
    /// The environment variables that set this section.
    pub const ENV: &'static [EnvVar] = &[
        ("TWITCH_CHANNELS", "twitch.channels", EnvKind::List),
        ("TWITCH_CLIENT_ID", "twitch.client_id", EnvKind::Str),
        ("TWITCH_CLIENT_SECRET", "twitch.client_secret", EnvKind::Str),
    ];

    pub fn validate(&self) -> Result<(), ConfigError> {
        for ch in &self.channels {
            let ok = !ch.is_empty()
                && ch.len() <= 25
                && ch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(ConfigError::invalid(
                    "twitch.channels",
                    format!("{ch:?} is not a Twitch login (allowed: 1-25 letters, digits, _)"),
                ));
            }
        }
        super::connect::validate_transport(&self.irc_addr, self.tls)?;
        check_url("twitch.oauth_url", Some(&self.oauth_url))
    }
}
