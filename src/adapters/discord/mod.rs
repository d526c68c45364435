//! The Discord adapter: a bot account on Discord's gateway and REST API
//! through serenity 0.12. Reads the configured channels and the threads
//! under them, maps messages (roles, reply links, mentions), deletions, bans
//! and timeouts to [`Inbound`](crate::adapters::Inbound) events, and sends
//! replies that ping no one but, at most, the viewer answered.
//!
//! serenity runs with its default features off (no cache, no command
//! framework, no voice): clank keeps the little state it needs in
//! [`map::Mapper`], and compile time stays low.

pub mod config;
pub mod map;
pub mod send;
pub mod session;

pub use config::DiscordConfig;
pub use map::{Mapper, Roles};
pub use send::{Rest, SendLimits, allowed_mentions, clean_outgoing};
pub use session::{ADVICE_INTENTS, ADVICE_TOKEN, DiscordAdapter, DiscordOptions, intents, run};

use super::{AdapterContext, Built, PlatformEntry};
use crate::adapters::Backoff;
use crate::model::Platform;

/// Discord's entry in the hub's list of platforms.
pub const ENTRY: PlatformEntry = PlatformEntry {
    platform: Platform::Discord,
    build: |cx| Box::pin(build(cx)),
};

impl DiscordOptions {
    /// Options from the validated `[discord]` section; `None` when no
    /// channel is configured. `address_as` is the streamer's name.
    pub fn from_config(
        c: &DiscordConfig,
        address_as: Option<String>,
    ) -> Result<Option<DiscordOptions>, String> {
        if !c.enabled() {
            return Ok(None);
        }
        let Some(token) = c.bot_token.clone() else {
            return Err(
                "no bot token: set DISCORD_BOT_TOKEN (see the README's Discord section)".into(),
            );
        };
        // The ids were validated as snowflakes; parsing cannot fail here.
        let ids = |v: &[String]| {
            v.iter()
                .filter_map(|s| s.parse().ok())
                .collect::<Vec<u64>>()
        };
        Ok(Some(DiscordOptions {
            token,
            channels: ids(&c.channels),
            roles: Roles {
                streamer: c.streamer_user_id.as_deref().and_then(|s| s.parse().ok()),
                moderators: ids(&c.moderator_roles),
                vips: ids(&c.vip_roles),
            },
            rest: Rest::from_api_url(&c.api_url),
            ping_reply_author: c.ping_reply_author,
            address_as,
            backoff: Backoff::default(),
            limits: SendLimits::default(),
            connect_patience: std::time::Duration::from_secs(20),
            seed: 0,
        }))
    }
}

/// The Discord adapter when `[discord] channels` names any.
async fn build(cx: &AdapterContext<'_>) -> Result<Option<Built>, String> {
    let address_as = cx.config.salience.streamer_names.first().cloned();
    let Some(options) = DiscordOptions::from_config(&cx.config.discord, address_as)? else {
        return Ok(None);
    };
    let warning = matches!(options.rest, Rest::Proxy(_)).then(|| {
        "discord.api_url is not Discord's: serenity's rate limiter is off (only clank's own 5 per 5 s per channel applies)".to_string()
    });
    Ok(Some(Built {
        adapter: Box::new(DiscordAdapter { options }),
        warning,
    }))
}
