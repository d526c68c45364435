//! The `[discord]` config section, beside the adapter that reads it.

use serde::Deserialize;

use crate::secret::Secret;
use crate::validate::{ConfigError, EnvKind, EnvVar, check_url};

/// Discord, through a bot account on the gateway and the REST API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// Bot token (env `DISCORD_BOT_TOKEN`), from the Developer Portal's "Bot" page.
    pub bot_token: Option<Secret>,
    /// Ids of the text channels to read (env `DISCORD_CHANNELS`, comma
    /// separated); threads under them are read too.
    pub channels: Vec<String>,
    /// The streamer's own Discord user id: their messages count as the
    /// broadcaster's, a mention of them addresses the streamer.
    pub streamer_user_id: Option<String>,
    /// Role ids whose members count as moderators.
    pub moderator_roles: Vec<String>,
    /// Role ids whose members count as VIPs.
    pub vip_roles: Vec<String>,
    /// Base URL of the REST API; the gateway's address comes from its
    /// `/api/v10/gateway` answer. Plain http is accepted for loopback only
    /// (a test fake), and then serenity's own rate limiter is off.
    pub api_url: String,
    /// Whether a reply notifies the viewer it answers (Discord's
    /// `allowed_mentions.replied_user`); nobody else is ever pinged.
    pub ping_reply_author: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            bot_token: None,
            channels: Vec::new(),
            streamer_user_id: None,
            moderator_roles: Vec::new(),
            vip_roles: Vec::new(),
            api_url: DEFAULT_API_URL.into(),
            ping_reply_author: true,
        }
    }
}

/// Discord's own REST base: the one address serenity's rate limiter talks to.
pub const DEFAULT_API_URL: &str = "https://discord.com";

impl DiscordConfig {
    /// The environment variables that set this section.
    pub const ENV: &'static [EnvVar] = &[
        ("DISCORD_BOT_TOKEN", "discord.bot_token", EnvKind::Str),
        ("DISCORD_CHANNELS", "discord.channels", EnvKind::List),
    ];

    /// True when the section asks for Discord at all.
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for id in &self.channels {
            check_snowflake("discord.channels", id)?;
        }
        if let Some(id) = &self.streamer_user_id {
            check_snowflake("discord.streamer_user_id", id)?;
        }
        for id in &self.moderator_roles {
            check_snowflake("discord.moderator_roles", id)?;
        }
        for id in &self.vip_roles {
            check_snowflake("discord.vip_roles", id)?;
        }
        if let Some(t) = &self.bot_token
            && (t.is_empty() || t.expose().chars().any(|c| c.is_whitespace()))
        {
            return Err(ConfigError::invalid(
                "discord.bot_token",
                "the token is empty or contains spaces (paste it from the Developer Portal's Bot page, without \"Bot \")",
            ));
        }
        check_url("discord.api_url", Some(&self.api_url))?;
        crate::validate::check_plain_http_loopback("discord.api_url", &self.api_url)
    }
}

/// Discord ids are snowflakes: a positive 64-bit integer written in decimal.
fn check_snowflake(key: &str, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.parse::<u64>().is_ok_and(|n| n > 0);
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!(
                "{id:?} is not a Discord id (allowed: the number from \"Copy ID\" in Discord's developer mode, 1 to 20 digits)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_channels(ids: &[&str]) -> DiscordConfig {
        DiscordConfig {
            channels: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_must_be_snowflakes_and_errors_name_the_key() {
        assert!(with_channels(&["1109457951620419654"]).validate().is_ok());
        let e = with_channels(&["#general"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("discord.channels") && e.contains("#general"),
            "{e}"
        );
        let c = DiscordConfig {
            vip_roles: vec!["0".into()],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("vip_roles"));
        let c = DiscordConfig {
            streamer_user_id: Some("99999999999999999999999".into()),
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("streamer_user_id")
        );
    }

    #[test]
    fn plain_http_only_to_loopback_and_the_token_never_prints() {
        let mut c = with_channels(&["1"]);
        c.api_url = "http://127.0.0.1:9".into();
        assert!(c.validate().is_ok());
        c.api_url = "http://discord.com".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("discord.api_url") && e.contains("https://"),
            "{e}"
        );
        c.api_url = DEFAULT_API_URL.into();
        c.bot_token = Some(Secret::new("MTEx.secret-token-value"));
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("secret-token-value"));
        c.bot_token = Some(Secret::new("Bot MTEx.secret"));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bot_token") && !e.contains("MTEx"), "{e}");
    }
}
