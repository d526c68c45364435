//! The Twitch chat adapter: reads channels over IRC (our own supervised
//! session and line reader, twitch-irc's parser and typed messages), maps
//! messages to [`Inbound`](crate::adapters::Inbound) events, sends drafts
//! safely, and reads raw IRC captures for `clank replay`.
//!
//! Why not `twitch_irc::TwitchIRCClient`: its connections are opened inside
//! tasks it spawns, through `MakeConnection::new_socket()`, which takes no
//! arguments, so a configured address could only reach it through process-wide
//! state; and it reconnects on its own without telling the caller, so the
//! operator could not see "reconnecting in N s" nor could tests drive the
//! backoff. Nor its `TCPTransport`: its stream parses every line into an
//! `IRCMessage` (a map of all tags) before we see it, which cost about a third
//! of the adapter's CPU at 1,000 msgs/s. [`wire`] hands out the raw lines; an
//! ordinary PRIVMSG is read in place ([`map::fast_privmsg`]) and every other
//! line goes through twitch-irc's `IRCMessage::parse` and `ServerMessage`.

pub mod config;
pub mod connect;
pub mod map;
pub mod send;
pub mod session;
pub mod wire;

pub use config::TwitchConfig;
pub use connect::{Endpoint, validate_transport};
pub use map::{
    IrcCaptureReader, is_irc_line, map_line, map_server_message, read_irc_capture,
    read_irc_capture_events,
};
pub use send::{SendLimits, clean_outgoing};
pub use session::{AdapterGone, TwitchAdapter, TwitchHandle, TwitchOptions, run, spawn};

use std::path::PathBuf;
use std::sync::Arc;

use super::{AdapterContext, Built, PlatformEntry};
use crate::model::Platform;

/// Twitch's entry in the hub's list of platforms.
pub const ENTRY: PlatformEntry = PlatformEntry {
    platform: Platform::Twitch,
    build: |cx| Box::pin(build(cx)),
};

/// The Twitch adapter when `[twitch] channels` names any; logged in when a
/// token is stored (`clank login twitch`), else reading anonymously.
async fn build(cx: &AdapterContext<'_>) -> Result<Option<Built>, String> {
    let config = &cx.config.twitch;
    if config.channels.is_empty() {
        return Ok(None);
    }
    let options = TwitchOptions::from_twitch_config(config).map_err(|e| e.to_string())?;
    let (credentials, warning) = match credentials(cx).await {
        Ok(c) => (c, None),
        Err(why) => (None, Some(format!("login: {why}; reading anonymously"))),
    };
    Ok(Some(Built {
        adapter: Box::new(TwitchAdapter {
            options,
            credentials,
        }),
        warning,
    }))
}

async fn credentials(
    cx: &AdapterContext<'_>,
) -> Result<Option<Arc<dyn crate::auth::CredentialSource>>, String> {
    let config = &cx.config.twitch;
    let Some(client_id) = config.client_id.clone() else {
        return Ok(None);
    };
    let dir = cx
        .config
        .db_path()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let vault = crate::auth::TokenVault::open_or_create(&crate::auth::key_path(&dir))
        .map_err(|e| e.to_string())?;
    crate::auth::twitch_credentials(
        &config.oauth_url,
        &client_id,
        config.client_secret.clone(),
        Arc::new(vault),
        cx.store.clone(),
    )
    .await
    .map_err(|e| e.to_string())
}
