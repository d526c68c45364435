//! The `[youtube]` config section, beside the adapter that reads it.

use serde::Deserialize;

use crate::secret::Secret;
use crate::validate::{
    ConfigError, EnvKind, EnvVar, check_plain_http_loopback, check_range, check_url,
};

/// YouTube Live Chat through the official Data API v3.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct YoutubeConfig {
    /// Data API key (env `YOUTUBE_API_KEY`). Required to read: the
    /// official API has no anonymous access.
    pub api_key: Option<Secret>,
    /// The live video whose chat to read (env `YOUTUBE_VIDEO_ID`).
    pub video_id: Option<String>,
    /// Instead of a video: the channel (`UC...` id or `@handle`, env
    /// `YOUTUBE_CHANNEL`) whose live video to find. Logged in as its owner,
    /// `liveBroadcasts.list` finds it for 1 unit; otherwise `search.list`
    /// costs 100 units a look.
    pub channel: Option<String>,
    /// Google OAuth client of type "TVs and Limited Input devices", for
    /// `clank login youtube` (env `YOUTUBE_CLIENT_ID`).
    pub client_id: Option<String>,
    /// That client's secret (env `YOUTUBE_CLIENT_SECRET`); Google's token
    /// endpoint asks for it even in the device flow.
    pub client_secret: Option<Secret>,
    /// Base URL of Google's OAuth server. Plain http is accepted for loopback only.
    pub oauth_url: String,
    /// Read with `liveChatMessages` streaming (one long-lived connection)
    /// and poll `list` only when streaming is refused.
    pub streaming: bool,
    /// Base URL of the Data API. Plain http is accepted for loopback only.
    pub api_url: String,
    /// Units the Google Cloud project may spend per day (reset at midnight
    /// Pacific time). 10,000 is Google's default.
    pub daily_quota: u32,
    /// Units one `liveChatMessages.list` call costs.
    pub list_cost: u32,
    /// Units one `liveChatMessages.insert` (a sent reply) costs.
    pub insert_cost: u32,
    /// Units one `videos.list` call (finding the live chat) costs; also
    /// charged for `channels.list` and `liveBroadcasts.list`.
    pub videos_list_cost: u32,
    /// Units one `search.list` call (a channel's live video, when not
    /// logged in as its owner) costs.
    pub search_cost: u32,
    /// Hours the day's budget must last; polling slows down when the
    /// projection falls short.
    pub stream_hours: f64,
    /// Units kept back for sending replies; reading never spends them.
    pub send_reserve: u32,
    /// Seconds between two looks for the live chat while the video is not live.
    pub waiting_retry_s: u64,
    /// Messages per `list` page (200..=2000).
    pub max_results: u32,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            video_id: None,
            channel: None,
            client_id: None,
            client_secret: None,
            oauth_url: "https://oauth2.googleapis.com".into(),
            streaming: true,
            api_url: "https://www.googleapis.com".into(),
            daily_quota: 10_000,
            list_cost: 5,
            insert_cost: 20,
            videos_list_cost: 1,
            search_cost: 100,
            stream_hours: 8.0,
            send_reserve: 400,
            waiting_retry_s: 60,
            max_results: 500,
        }
    }
}

impl YoutubeConfig {
    /// The environment variables that set this section.
    pub const ENV: &'static [EnvVar] = &[
        ("YOUTUBE_API_KEY", "youtube.api_key", EnvKind::Str),
        ("YOUTUBE_VIDEO_ID", "youtube.video_id", EnvKind::Str),
        ("YOUTUBE_CHANNEL", "youtube.channel", EnvKind::Str),
        ("YOUTUBE_CLIENT_ID", "youtube.client_id", EnvKind::Str),
        (
            "YOUTUBE_CLIENT_SECRET",
            "youtube.client_secret",
            EnvKind::Str,
        ),
    ];

    /// True when the section asks for YouTube at all.
    pub fn enabled(&self) -> bool {
        self.video_id.is_some() || self.channel.is_some()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(id) = &self.video_id {
            // Video ids are 11 characters of [A-Za-z0-9_-]; be a little
            // lenient on the length, strict on the characters (it goes in a URL).
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(ConfigError::invalid(
                    "youtube.video_id",
                    format!("{id:?} is not a video id (allowed: letters, digits, _ and -)"),
                ));
            }
        }
        if let Some(c) = &self.channel {
            let (body, handle) = match c.strip_prefix('@') {
                Some(h) => (h, true),
                None => (c.as_str(), false),
            };
            let ok = !body.is_empty()
                && body.len() <= 100
                && (handle || body.starts_with("UC"))
                && body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(ConfigError::invalid(
                    "youtube.channel",
                    format!(
                        "{c:?} is neither a channel id (UC...) nor a handle (@name: letters, digits, _ - .)"
                    ),
                ));
            }
        }
        check_url("youtube.api_url", Some(&self.api_url))?;
        check_plain_http_loopback("youtube.api_url", &self.api_url)?;
        check_url("youtube.oauth_url", Some(&self.oauth_url))?;
        check_plain_http_loopback("youtube.oauth_url", &self.oauth_url)?;
        check_range("youtube.daily_quota", self.daily_quota, 1, 100_000_000)?;
        check_range("youtube.list_cost", self.list_cost, 1, 10_000)?;
        check_range("youtube.insert_cost", self.insert_cost, 1, 10_000)?;
        check_range("youtube.videos_list_cost", self.videos_list_cost, 1, 10_000)?;
        check_range("youtube.search_cost", self.search_cost, 1, 10_000)?;
        check_range("youtube.stream_hours", self.stream_hours, 0.5, 48.0)?;
        check_range(
            "youtube.send_reserve",
            self.send_reserve,
            0,
            self.daily_quota,
        )?;
        check_range("youtube.waiting_retry_s", self.waiting_retry_s, 5, 3_600)?;
        check_range("youtube.max_results", self.max_results, 200, 2_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let mut c = YoutubeConfig {
            api_url: "http://127.0.0.1:8080".into(),
            ..Default::default()
        };
        assert!(c.validate().is_ok());
        c.api_url = "http://[::1]:9".into();
        assert!(c.validate().is_ok());
        c.api_url = "http://www.googleapis.com".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("youtube.api_url"), "{e}");
        c.api_url = "https://www.googleapis.com".into();
        assert!(c.validate().is_ok());
        c.oauth_url = "http://oauth2.googleapis.com".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("youtube.oauth_url"), "{e}");
        c.oauth_url = "http://127.0.0.1:9/".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn channel_is_an_id_or_a_handle() {
        for ok in ["UCabc_-1", "@mika.vt", "@Mika_VT-2"] {
            let c = YoutubeConfig {
                channel: Some(ok.into()),
                ..Default::default()
            };
            assert!(c.validate().is_ok(), "{ok}");
            assert!(c.enabled());
        }
        for bad in ["mika", "@", "UC/../x", "@a b"] {
            let c = YoutubeConfig {
                channel: Some(bad.into()),
                ..Default::default()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("youtube.channel") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = YoutubeConfig {
            video_id: Some("abc/../x".into()),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("video_id"));
        let c = YoutubeConfig {
            max_results: 10,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("200 to 2000")
        );
        let c = YoutubeConfig {
            send_reserve: 20_000,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("send_reserve")
        );
    }
}
