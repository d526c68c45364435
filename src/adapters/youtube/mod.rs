//! The YouTube Live Chat adapter, through the official Data API v3: finds
//! the live chat, reads it over the server-streaming
//! `liveChat/messages/stream` call (or `liveChatMessages.list` polling when
//! Google refuses the stream) under a quota governor, maps every chat event
//! kind to [`Inbound`](crate::adapters::Inbound) events, and sends replies
//! with `liveChatMessages.insert` as the account `clank login youtube`
//! stored (Google's device flow, tokens sealed like Twitch's).
//!
//! Why REST streaming and not gRPC `StreamList`: Google's generated REST
//! clients (Java, .NET, Dart, from the discovery document) carry the same
//! server-streaming method as `youtube.v3.liveChat.messages.stream`, so
//! reqwest reads it; tonic, prost and protoc would be a dependency set of
//! their own for the same messages.

pub mod api;
pub mod config;
pub mod map;
pub mod quota;
pub mod session;

pub use config::YoutubeConfig;
pub use map::{Mapped, Mapper};
pub use quota::{Governor, Pace, Purpose};
pub use session::{YoutubeAdapter, YoutubeOptions, clean_outgoing, page_token_key, quota_key, run};

use std::sync::Arc;

use super::{AdapterContext, Built, PlatformEntry};
use crate::auth::{CredentialSource, OAuthClient, Provider};
use crate::model::Platform;

/// YouTube's entry in the hub's list of platforms.
pub const ENTRY: PlatformEntry = PlatformEntry {
    platform: Platform::Youtube,
    build: |cx| Box::pin(build(cx)),
};

/// The YouTube adapter when `[youtube] video_id` or `channel` is set.
/// Without an API key it still starts, to say so in the status line while
/// the other platforms run; without a login it reads only.
async fn build(cx: &AdapterContext<'_>) -> Result<Option<Built>, String> {
    let Some(options) = YoutubeOptions::from_config(&cx.config.youtube) else {
        return Ok(None);
    };
    let mut warning = options
        .api_key
        .is_none()
        .then(|| "no YouTube API key (YOUTUBE_API_KEY): YouTube chat cannot be read".to_string());
    let credentials = match credentials(cx).await {
        Ok(c) => c,
        Err(why) => {
            warning.get_or_insert(format!("YouTube login: {why}; reading only"));
            None
        }
    };
    Ok(Some(Built {
        adapter: Box::new(YoutubeAdapter {
            options,
            store: cx.store.clone(),
            credentials,
        }),
        warning,
    }))
}

/// The login `clank login youtube` stored, refreshed through the configured
/// Google client; `Ok(None)` when there is none (or no client to refresh it).
async fn credentials(cx: &AdapterContext<'_>) -> Result<Option<Arc<dyn CredentialSource>>, String> {
    let config = &cx.config.youtube;
    let Some(client_id) = config.client_id.clone() else {
        return Ok(None);
    };
    let vault = crate::auth::open_vault(cx.config.db_path()).map_err(|e| e.to_string())?;
    let client = OAuthClient::for_provider(
        Provider::Google,
        &config.oauth_url,
        &client_id,
        config.client_secret.clone(),
    )
    .map_err(|e| e.to_string())?;
    crate::auth::stored_credentials(Platform::Youtube, client, Arc::new(vault), cx.store.clone())
        .await
        .map_err(|e| e.to_string())
}
