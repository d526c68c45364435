//! Sending replies on Discord: a reply to the source message, at most 2,000
//! characters, whose `allowed_mentions` parse nothing and name nobody (so
//! `@everyone`, `@here`, roles and users in the text ping no one; only the
//! replied-to viewer may be notified), paced at clank's own 5 messages per
//! 5 s per channel, with serenity's limiter for Discord's 429s. Discord's
//! answer is the draft's verdict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use governor::RateLimiter;
use governor::clock::Clock;
use serenity::builder::{CreateAllowedMentions, CreateMessage};
use serenity::http::{Http, HttpBuilder, HttpError, RatelimitInfo};
use serenity::model::channel::MessageReference;
use serenity::model::id::{ChannelId, MessageId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::DEFAULT_API_URL;
use crate::adapters::twitch::send::{Limiter, TokioClock, window_quota};
use crate::adapters::{Inbound, NoticeKind, Outbound, SendRejection, SendVerdict};
use crate::model::Platform;
use crate::secret::Secret;

/// Where REST calls go.
#[derive(Clone)]
pub enum Rest {
    /// Discord itself, behind serenity's rate limiter.
    Discord,
    /// Another base URL (a loopback fake) through `HttpBuilder::proxy`.
    /// serenity's limiter always calls https://discord.com and ignores the
    /// proxy (`http/ratelimiting.rs` builds requests with `proxy: None`), so
    /// it is off here; clank's own per-channel limit stays.
    Proxy(String),
    /// A client built by the caller (tests: a reqwest client that trusts a
    /// test CA and resolves discord.com to a loopback fake, limiter on).
    Custom(Arc<dyn Fn(&Secret) -> Http + Send + Sync>),
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rest::Discord => f.write_str("Discord"),
            Rest::Proxy(u) => write!(f, "Proxy({u})"),
            Rest::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl Rest {
    /// `[discord] api_url`: Discord's own address, or a proxy base.
    pub fn from_api_url(url: &str) -> Rest {
        let url = url.trim_end_matches('/');
        if url == DEFAULT_API_URL {
            Rest::Discord
        } else {
            Rest::Proxy(url.to_string())
        }
    }

    /// A serenity REST client; `notices` hears every wait its limiter imposes.
    pub fn build(
        &self,
        token: &Secret,
        notices: Option<mpsc::UnboundedSender<RatelimitInfo>>,
    ) -> Http {
        let mut http = match self {
            Rest::Discord => HttpBuilder::new(token.expose()).build(),
            Rest::Proxy(url) => HttpBuilder::new(token.expose())
                .proxy(url.clone())
                .ratelimiter_disabled(true)
                .build(),
            Rest::Custom(make) => make(token),
        };
        if let (Some(tx), Some(limiter)) = (notices, http.ratelimiter.as_mut()) {
            limiter.set_ratelimit_callback(Box::new(move |info| {
                let _ = tx.send(info);
            }));
        }
        http
    }
}

/// clank's own pace per channel (the seed's 5 messages per 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    pub per_channel: u32,
    pub window: Duration,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            per_channel: 5,
            window: Duration::from_secs(5),
        }
    }
}

/// The text as it will be sent, or why not. The output gate in `reply/`
/// already made it safe; this is the platform's own limit, checked again
/// because serenity would refuse it anyway and the operator deserves the reason.
pub fn clean_outgoing(text: &str) -> Result<String, SendRejection> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(SendRejection::Refused("empty message".into()));
    }
    let max = Platform::Discord.max_message_chars();
    let len = cleaned.chars().count();
    if len > max {
        return Err(SendRejection::Refused(format!(
            "{len} characters is longer than Discord's {max}"
        )));
    }
    Ok(cleaned.to_string())
}

/// The mentions a reply may make: none parsed from the text, no user or
/// role named, at most the replied-to author notified.
pub fn allowed_mentions(notify_replied: bool) -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .everyone(false)
        .all_users(false)
        .all_roles(false)
        .empty_users()
        .empty_roles()
        .replied_user(notify_replied)
}

/// The sending task: takes sends until cancelled, answers each with one
/// verdict, and passes on serenity's rate-limit waits as notices.
pub async fn run(
    http: Http,
    mut outbound: mpsc::Receiver<Outbound>,
    mut waits: mpsc::UnboundedReceiver<RatelimitInfo>,
    inbound: mpsc::Sender<Inbound>,
    limits: SendLimits,
    ping_reply_author: bool,
    cancel: CancellationToken,
) {
    let http = Arc::new(http);
    let notices = inbound.clone();
    let forward = tokio::spawn(async move {
        while let Some(info) = waits.recv().await {
            let _ = notices
                .send(Inbound::Notice {
                    platform: Platform::Discord,
                    channel: None,
                    kind: NoticeKind::RateLimited,
                    text: format!(
                        "Discord asked to wait {:.1} s ({} {}); serenity waits, then sends",
                        info.timeout.as_secs_f64(),
                        info.method.reqwest_method(),
                        info.path.trim_start_matches("https://discord.com")
                    ),
                })
                .await;
        }
    });
    let clock = TokioClock::default();
    let mut pace: HashMap<String, Limiter> = HashMap::new();
    loop {
        let out = tokio::select! {
            _ = cancel.cancelled() => break,
            out = outbound.recv() => match out {
                Some(o) => o,
                None => break,
            },
        };
        let Outbound::Send {
            draft_id,
            channel,
            text,
            reply_to,
            ..
        } = out;
        let limiter = pace.entry(channel.clone()).or_insert_with(|| {
            RateLimiter::direct_with_clock(
                window_quota(limits.per_channel.max(1), limits.window),
                clock,
            )
        });
        let verdict = tokio::select! {
            _ = cancel.cancelled() => SendVerdict::Failed("shutting down".into()),
            v = send_one(&http, limiter, &clock, &channel, &text, reply_to.as_deref(), ping_reply_author) => v,
        };
        if inbound
            .send(Inbound::SendResult { draft_id, verdict })
            .await
            .is_err()
        {
            break;
        }
    }
    forward.abort();
}

async fn send_one(
    http: &Http,
    limiter: &Limiter,
    clock: &TokioClock,
    channel: &str,
    text: &str,
    reply_to: Option<&str>,
    ping_reply_author: bool,
) -> SendVerdict {
    let text = match clean_outgoing(text) {
        Ok(t) => t,
        Err(r) => return SendVerdict::Refused(r),
    };
    let Some(channel_id) = channel.parse::<u64>().ok().filter(|&n| n > 0) else {
        return SendVerdict::Refused(SendRejection::UnknownChannel(channel.into()));
    };
    let channel_id = ChannelId::new(channel_id);
    let reference = match reply_to {
        None => None,
        Some(id) => match id.parse::<u64>().ok().filter(|&n| n > 0) {
            Some(m) => Some(MessageReference::from((channel_id, MessageId::new(m)))),
            None => {
                return SendVerdict::Refused(SendRejection::Refused(format!(
                    "{id:?} is not a Discord message id"
                )));
            }
        },
    };
    // clank's own pace: wait for the channel's next slot (at most a few s).
    while let Err(not_until) = limiter.check() {
        tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
    }
    let mut msg = CreateMessage::new()
        .content(text)
        .allowed_mentions(allowed_mentions(ping_reply_author && reference.is_some()));
    if let Some(r) = reference {
        msg = msg.reference_message(r);
    }
    match channel_id.send_message(http, msg).await {
        Ok(_) => SendVerdict::Sent,
        Err(e) => verdict_of(&e),
    }
}

/// The HTTP status of a refused request, if that is what `e` is.
pub fn status_of(e: &serenity::Error) -> Option<u16> {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => Some(r.status_code.as_u16()),
        _ => None,
    }
}

/// A one-line reason for the operator (never the token: serenity's errors
/// carry the URL and Discord's message, not the headers).
pub fn describe(e: &serenity::Error) -> String {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => format!(
            "{} {} (Discord code {})",
            r.status_code.as_u16(),
            r.error.message,
            r.error.code
        ),
        other => other.to_string(),
    }
}

/// Discord's answer as the draft's verdict.
pub fn verdict_of(e: &serenity::Error) -> SendVerdict {
    match e {
        serenity::Error::Model(m) => SendVerdict::Refused(SendRejection::Refused(m.to_string())),
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let why = describe(e);
            match r.status_code.as_u16() {
                429 => SendVerdict::Refused(SendRejection::RateLimited(why)),
                // 50013 Missing Permissions / 50001 Missing Access.
                403 => SendVerdict::Refused(SendRejection::Platform(format!(
                    "{why}: give the bot View Channel, Send Messages and Read Message History there"
                ))),
                404 if r.error.code == 10003 => {
                    SendVerdict::Refused(SendRejection::UnknownChannel(why))
                }
                // A 5xx may come after the message was posted.
                500..=599 => SendVerdict::Unconfirmed(why),
                _ => SendVerdict::Refused(SendRejection::Platform(why)),
            }
        }
        serenity::Error::Http(HttpError::Request(r)) if r.is_connect() || r.is_builder() => {
            SendVerdict::Failed(format!("Discord's API could not be reached: {r}"))
        }
        serenity::Error::Http(HttpError::Request(r)) => {
            SendVerdict::Unconfirmed(format!("no answer from Discord's API: {r}"))
        }
        other => SendVerdict::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_mentions_parse_nothing_and_name_nobody() {
        let v = serde_json::to_value(allowed_mentions(true)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"parse": [], "users": [], "roles": [], "replied_user": true})
        );
        let v = serde_json::to_value(allowed_mentions(false)).unwrap();
        assert_eq!(v["replied_user"], false);
    }

    #[test]
    fn outgoing_keeps_lines_and_refuses_past_2000() {
        assert_eq!(clean_outgoing(" a\nb\t ").unwrap(), "a\nb");
        assert!(clean_outgoing(&"x".repeat(2000)).is_ok());
        let e = clean_outgoing(&"x".repeat(2001)).unwrap_err().to_string();
        assert!(e.contains("2001") && e.contains("2000"), "{e}");
        assert!(clean_outgoing(" \n ").is_err());
    }

    #[test]
    fn only_discord_itself_keeps_serenitys_limiter() {
        assert!(matches!(
            Rest::from_api_url("https://discord.com/"),
            Rest::Discord
        ));
        let Rest::Proxy(u) = Rest::from_api_url("http://127.0.0.1:9/") else {
            panic!("a proxy")
        };
        assert_eq!(u, "http://127.0.0.1:9");
        let http = Rest::from_api_url("http://127.0.0.1:9").build(&Secret::new("t"), None);
        assert!(http.ratelimiter.is_none());
        let http = Rest::Discord.build(&Secret::new("t"), None);
        assert!(http.ratelimiter.is_some());
    }
}
