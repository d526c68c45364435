//! Helpers for tests of a live run against the loopback fakes: a config that
//! points `[twitch]` at the fake IRC (and, when logged in, the fake OAuth), a
//! login saved sealed in the store as `clank login twitch` leaves it, chat
//! lines in Twitch's real IRCv3 format, and a reader that waits for the
//! runtime's updates.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use clank::auth::{TWITCH_SCOPES, Token, TokenVault, key_path, save_token};
use clank::config::Config;
use clank::model::Platform;
use clank::secret::Secret;
use clank::session::Update;
use clank::store::Store;
use serde_json::Value;
use tokio::sync::mpsc;

use super::fake_twitch_oauth::FakeTwitchOAuth;

/// A guard against a hung run, never a measured duration.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The streamer's channel on the fake IRC.
pub const CHANNEL: &str = "mikavt";

/// The database file of a test's directory.
pub fn db_path(dir: &Path) -> std::path::PathBuf {
    dir.join("clank.db")
}

/// A config for a live run: Twitch at the fake IRC (plain TCP to loopback),
/// logged in through the fake OAuth when `oauth_url` is set, the LLM at
/// `llm_url`, the bot called "clank" (a mention is answered at once), an
/// auto policy that lets every reply go, and attention that stays put for
/// an hour unless something (a raid) moves it.
pub fn config(dir: &Path, irc_addr: &str, oauth_url: Option<&str>, llm_url: &str) -> Config {
    let text = config_toml(dir, irc_addr, oauth_url, llm_url);
    Config::from_toml(&text).unwrap_or_else(|e| panic!("test config: {e}\n{text}"))
}

/// The TOML of [`config`], for a config file the binary reads.
pub fn config_toml(dir: &Path, irc_addr: &str, oauth_url: Option<&str>, llm_url: &str) -> String {
    let login = match oauth_url {
        Some(url) => format!("client_id = \"test-client\"\noauth_url = \"{url}\"\n"),
        None => String::new(),
    };
    format!(
        r#"
[twitch]
channels = ["{CHANNEL}"]
irc_addr = "{irc_addr}"
tls = false
{login}
[store]
path = "{}"
[llm]
url = "{llm_url}"
timeout_s = 5
retries = 0
[salience]
streamer_names = ["clank"]
[channel_defaults]
time_delay_s = 0
[auto]
max_sends_per_minute = 120
min_priority = "LOW"
[attention]
min_dwell_s = 3600
max_dwell_s = 3600
seed = 7
"#,
        db_path(dir).display()
    )
}

/// What `clank login twitch` leaves behind: a token the fake OAuth issued,
/// sealed in the store with the key beside the database.
pub async fn log_in(oauth: &FakeTwitchOAuth, dir: &Path, store: &Store) {
    let (access, refresh) = oauth.issue();
    let token = Token {
        access: Secret::new(access),
        refresh: Some(Secret::new(refresh)),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(4)),
        scopes: TWITCH_SCOPES.iter().map(|s| s.to_string()).collect(),
        login: Some("clankbot".into()),
    };
    let vault = TokenVault::open_or_create(&key_path(dir)).expect("key file");
    save_token(&vault, store, Platform::Twitch, &token)
        .await
        .expect("login saved");
}

/// A viewer's chat line as Twitch sends it, timestamped now.
pub fn privmsg(id: &str, login: &str, user_id: &str, text: &str) -> String {
    let ms = chrono::Utc::now().timestamp_millis();
    format!(
        "@badge-info=;badges=;color=;display-name={login};emotes=;first-msg=0;flags=;id={id};mod=0;returning-chatter=0;room-id=1;subscriber=0;tmi-sent-ts={ms};turbo=0;user-id={user_id};user-type= :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{CHANNEL} :{text}"
    )
}

/// A raid as Twitch announces it in the raided channel.
pub fn raid(from_login: &str, from_display: &str, from_id: &str, viewers: u32) -> String {
    let ms = chrono::Utc::now().timestamp_millis();
    format!(
        "@badge-info=;badges=;color=;display-name={from_display};emotes=;flags=;id=raid-{ms};login={from_login};mod=0;msg-id=raid;msg-param-displayName={from_display};msg-param-login={from_login};msg-param-profileImageURL=https://static-cdn.jtvnw.net/x.png;msg-param-viewerCount={viewers};room-id=1;subscriber=0;system-msg={viewers}\\sraiders\\sfrom\\s{from_display}\\shave\\sjoined!;tmi-sent-ts={ms};user-id={from_id};user-type= :tmi.twitch.tv USERNOTICE #{CHANNEL}"
    )
}

/// Reads updates until `pred` accepts one and returns it; everything read is
/// kept in `seen`. Panics with what was seen if the runtime stops or goes
/// quiet for [`PATIENCE`].
pub async fn until(
    rx: &mut mpsc::Receiver<Update>,
    seen: &mut Vec<Update>,
    what: &str,
    pred: impl Fn(&Update) -> bool,
) -> Update {
    loop {
        let u = match tokio::time::timeout(PATIENCE, rx.recv()).await {
            Ok(Some(u)) => u,
            Ok(None) => panic!("the runtime stopped before {what}; saw:\n{}", log(seen)),
            Err(_) => panic!("no {what}; saw:\n{}", log(seen)),
        };
        let hit = pred(&u);
        seen.push(u.clone());
        if hit {
            return u;
        }
    }
}

/// The JSON log line of an update (what `--auto` prints), or `Null`.
pub fn json(u: &Update) -> Value {
    clank::headless::update_json(u).unwrap_or(Value::Null)
}

/// Whether an update's log line is `event` and agrees with every `(key, value)`.
pub fn is_event(u: &Update, event: &str, fields: &[(&str, &str)]) -> bool {
    let v = json(u);
    v["event"] == event && fields.iter().all(|(k, want)| v[*k] == *want)
}

/// The log lines of what was seen, for failure messages.
pub fn log(seen: &[Update]) -> String {
    seen.iter()
        .map(json)
        .filter(|v| !v.is_null())
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
