//! The YouTube Live Chat adapter, through the official Data API v3: finds
//! the video's live chat, reads it by `liveChatMessages.list` polling under
//! a quota governor, maps every chat event kind to [`Inbound`](crate::adapters::Inbound)
//! events, and sends replies with `liveChatMessages.insert`.
//!
//! Why polling and not `liveChatMessages.streamList`: Google documents the
//! streaming form as gRPC only (the "Streaming Live Chat" guide and its
//! `stream_list.proto`); a gRPC client (tonic, prost, HTTP/2 with TLS) is a
//! dependency set of its own, so this first version polls, at the server's
//! pace or slower, and the governor makes the budget last.

pub mod api;
pub mod config;
pub mod map;
pub mod quota;
pub mod session;

pub use config::YoutubeConfig;
pub use map::{Mapped, Mapper};
pub use quota::{Governor, Pace, Purpose};
pub use session::{YoutubeAdapter, YoutubeOptions, clean_outgoing, page_token_key, quota_key, run};

use super::{AdapterContext, Built, PlatformEntry};
use crate::model::Platform;

/// YouTube's entry in the hub's list of platforms.
pub const ENTRY: PlatformEntry = PlatformEntry {
    platform: Platform::Youtube,
    build: |cx| Box::pin(build(cx)),
};

/// The YouTube adapter when `[youtube] video_id` is set. Without an API key
/// it still starts, to say so in the status line while the other platforms run.
async fn build(cx: &AdapterContext<'_>) -> Result<Option<Built>, String> {
    let Some(options) = YoutubeOptions::from_config(&cx.config.youtube) else {
        return Ok(None);
    };
    let warning = options
        .api_key
        .is_none()
        .then(|| "no YouTube API key (YOUTUBE_API_KEY): YouTube chat cannot be read".to_string());
    Ok(Some(Built {
        adapter: Box::new(YoutubeAdapter {
            options,
            store: cx.store.clone(),
            // Sending needs a Google login (`clank login youtube`), which is
            // not built yet: read only.
            credentials: None,
        }),
        warning,
    }))
}
