//! Google's OAuth device flow for `clank login youtube`, against the loopback
//! fake of Google's OAuth server (`/device/code`, `/token`, Google's status
//! codes and RFC 8628 error names): success, pending, slow_down, denied,
//! expired, refresh. Then the whole path as a user takes it: the `clank`
//! binary logs in, the adapter finds the owner's broadcast with the sealed
//! token, sends, has its token expire, refreshes and sends again; the TRACE
//! log, the binary's output and the SQLite files hold no token.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use clank::adapters::hub;
use clank::adapters::{AdapterStatus, Inbound, Outbound, SendVerdict};
use clank::auth::{
    AuthError, CredentialSource, OAuthClient, Provider, RefreshingAuth, Token, TokenSink,
    YOUTUBE_SCOPES, device_login_with,
};
use clank::config::Config;
use clank::model::Platform;
use clank::secret::Secret;
use clank::store::{Store, StoreConfig};
use support::fake_twitch_irc::spawn_time_ticker;
use support::fake_youtube::{
    BROADCASTS, CLIENT_ID, CLIENT_SECRET, DEVICE, DeviceOutcome, FakeYoutube, KEY, OAUTH_TOKEN,
    OWNER_CHANNEL, Video,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const YT: &str = "https://www.googleapis.com/auth/youtube";

fn client(fake: &FakeYoutube) -> OAuthClient {
    OAuthClient::for_provider(
        Provider::Google,
        &fake.base_url(),
        CLIENT_ID,
        Some(Secret::new(CLIENT_SECRET)),
    )
    .unwrap()
}

async fn login(outcome: DeviceOutcome) -> (FakeYoutube, Result<Token, AuthError>, Vec<String>) {
    let fake = FakeYoutube::start(vec![Video::Missing]).await;
    fake.state.lock().unwrap().device = outcome;
    let shown = Arc::new(Mutex::new(Vec::new()));
    let s = shown.clone();
    let result = device_login_with(&client(&fake), YOUTUBE_SCOPES, move |code| {
        s.lock()
            .unwrap()
            .push(format!("{} {}", code.verification_uri, code.user_code));
    })
    .await;
    let shown = shown.lock().unwrap().clone();
    (fake, result, shown)
}

#[tokio::test(start_paused = true)]
async fn device_flow_polls_at_the_interval_until_approved() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (fake, result, shown) = login(DeviceOutcome::ApproveAfter(2)).await;
    let token = result.unwrap();
    assert_eq!(shown, vec!["https://www.google.com/device GQVQ-JKEC"]);
    assert!(token.access.expose().starts_with("ya29.a0fake-"));
    assert!(token.refresh.is_some() && token.expires_at.is_some());
    // Google sends the scope as one string.
    assert_eq!(token.scopes, vec![YT]);
    assert_eq!(token.login, None, "the channel is looked up by the caller");
    let device = fake.requests(DEVICE);
    assert!(
        device[0]
            .body
            .contains("scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fyoutube")
    );
    let polls = fake.requests(OAUTH_TOKEN);
    assert_eq!(
        polls.len(),
        3,
        "two 428 authorization_pending, then the token"
    );
    for w in polls.windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_secs(5),
            "interval honoured"
        );
    }
    assert!(polls[0].at - device[0].at >= Duration::from_secs(5));
    for p in &polls {
        assert!(p.body.contains("client_secret=GOCSPX-fake-secret"));
        assert!(p.body.contains("device_code=AH-1Ng-fake-device-code"));
        assert!(
            p.body
                .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code")
        );
    }
}

#[tokio::test(start_paused = true)]
async fn slow_down_adds_five_seconds() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (fake, result, _) = login(DeviceOutcome::SlowDownThenApprove).await;
    assert!(result.is_ok());
    let polls = fake.requests(OAUTH_TOKEN);
    assert_eq!(polls.len(), 2);
    assert!(polls[1].at - polls[0].at >= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn denied_and_expired_are_clear_errors() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (_f, result, _) = login(DeviceOutcome::DenyAfter(1)).await;
    assert_eq!(result.unwrap_err(), AuthError::Denied);
    let (_f, result, _) = login(DeviceOutcome::ExpiredAfter(1)).await;
    let err = result.unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert!(err.needs_login() && err.to_string().contains("clank login"));
}

/// Records what a [`RefreshingAuth`] saves.
struct Recorder(Arc<Mutex<Vec<Token>>>);

#[async_trait]
impl TokenSink for Recorder {
    async fn save(&self, token: &Token) -> Result<(), String> {
        self.0.lock().unwrap().push(token.clone());
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_expiring_token_is_refreshed_and_the_refresh_token_kept() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (fake, result, _) = login(DeviceOutcome::ApproveAfter(0)).await;
    let mut token = result.unwrap();
    token.login = Some("Mika Ch.".into());
    // Google's access tokens live an hour; this one is about to lapse.
    token.expires_at = Some(Utc::now() + chrono::Duration::seconds(60));
    let old_access = token.access.clone();
    let refresh = token.refresh.clone().unwrap();
    let saved = Arc::new(Mutex::new(Vec::new()));
    let auth = RefreshingAuth::new(client(&fake), token, Arc::new(Recorder(saved.clone())));
    let creds = auth.credentials().await.unwrap();
    assert_ne!(creds.token, old_access);
    assert_eq!(creds.login, "Mika Ch.");
    let reqs = fake.requests(OAUTH_TOKEN);
    let last = reqs.last().unwrap();
    assert!(last.body.contains("grant_type=refresh_token"));
    assert!(last.body.contains("client_secret=GOCSPX-fake-secret"));
    let stored = saved.lock().unwrap()[0].clone();
    assert_eq!(stored.refresh.as_ref(), Some(&refresh), "Google keeps it");
    assert_eq!(stored.access, creds.token);
    // No validate endpoint at Google: nothing but the refresh was asked.
    assert!(auth.validate().await.is_ok());
    assert_eq!(fake.requests(OAUTH_TOKEN).len(), reqs.len());
    // A refresh token Google no longer knows means logging in again.
    fake.state.lock().unwrap().valid_refresh.clear();
    let err = auth.refresh_after_failure().await.unwrap_err();
    assert_eq!(err, AuthError::Revoked);
}

/// The whole path, as a user would take it, on the real clock.
#[tokio::test]
async fn login_then_the_adapter_sends_refreshes_and_no_token_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeYoutube::start(vec![Video::Live("chat-owner".into())]).await;
    {
        let mut s = fake.state.lock().unwrap();
        s.device = DeviceOutcome::ApproveAfter(1);
        s.device_interval = 1;
        s.broadcast = Some(("vid_owner_01".into(), "chat-owner".into()));
        // Only tokens issued by the login count for the owner's calls.
        s.token = String::new();
    }
    let db = dir.path().join("clank.db");
    let toml = format!(
        "[store]\npath = \"{}\"\n[youtube]\nchannel = \"@mikavt\"\napi_key = \"{KEY}\"\napi_url = \"{url}\"\noauth_url = \"{url}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n",
        db.display(),
        url = fake.base_url()
    );
    let cfg_path = dir.path().join("clank.toml");
    std::fs::write(&cfg_path, &toml).unwrap();

    // 1. `clank login youtube`, the binary.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clank"))
        .args(["login", "youtube", "--config", cfg_path.to_str().unwrap()])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Open https://www.google.com/device and enter the code GQVQ-JKEC"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "logged in to youtube as Mika Ch. (channel {OWNER_CHANNEL})"
        )),
        "{stdout}"
    );

    // `clank login youtube` without a client: a clear error naming what to set.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, format!("[store]\npath = \"{}\"\n", db.display())).unwrap();
    let out2 = tokio::process::Command::new(env!("CARGO_BIN_EXE_clank"))
        .args(["login", "youtube", "--config", bare.to_str().unwrap()])
        .env("HOME", dir.path())
        .env_remove("YOUTUBE_CLIENT_ID")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out2.stderr);
    assert!(!out2.status.success());
    assert!(
        err.contains("youtube.client_id") && err.contains("YOUTUBE_CLIENT_ID"),
        "{err}"
    );

    // 2. The adapter, from the same config, logged at TRACE into a file.
    let log_path = dir.path().join("clank.log");
    let file = std::fs::File::create(&log_path).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let config = Config::from_toml(&toml).unwrap();
    let store = Store::open(&db, &StoreConfig::default()).unwrap();
    let mut built = hub::configured(&config, &store).await.unwrap();
    assert_eq!(built.len(), 1);
    assert!(built[0].warning.is_none(), "{:?}", built[0].warning);
    let adapter = built.remove(0).adapter;
    let (tx, mut rx) = mpsc::channel(256);
    let (otx, orx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(adapter.run(tx, orx, cancel.clone()));
    let mut seen = Vec::new();
    let mut next = async |seen: &mut Vec<Inbound>, f: &dyn Fn(&Inbound) -> bool| loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the adapter answers")
            .expect("the adapter runs");
        let hit = f(&ev);
        seen.push(ev);
        if hit {
            return;
        }
    };
    next(&mut seen, &|e| {
        matches!(
            e,
            Inbound::Status {
                status: AdapterStatus::Connected,
                ..
            }
        )
    })
    .await;
    let send = |id: i64, text: &str| Outbound::Send {
        draft_id: id,
        platform: Platform::Youtube,
        channel: "@mikavt".into(),
        text: text.into(),
        reply_to: None,
    };
    otx.send(send(1, "thanks for the raid!")).await.unwrap();
    next(&mut seen, &|e| {
        matches!(e, Inbound::SendResult { draft_id: 1, .. })
    })
    .await;
    // The access token lapses at Google: the next send is refused with 401,
    // refreshed, and goes through.
    fake.expire_access_tokens();
    otx.send(send(2, "welcome everyone")).await.unwrap();
    next(&mut seen, &|e| {
        matches!(e, Inbound::SendResult { draft_id: 2, .. })
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    drop(guard);

    let verdicts: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Inbound::SendResult { draft_id, verdict } => Some((*draft_id, verdict.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![(1, SendVerdict::Sent), (2, SendVerdict::Sent)]
    );
    let (inserted, issued) = {
        let s = fake.state.lock().unwrap();
        (s.inserted.clone(), s.issued)
    };
    assert_eq!(inserted, vec!["thanks for the raid!", "welcome everyone"]);
    assert_eq!(issued, 2, "the login's token and one refresh");
    // The owner's broadcast was found with the login, for 1 unit.
    let b = fake.requests(BROADCASTS);
    assert_eq!(b[0].query["broadcastStatus"], "active");
    assert!(
        b[0].authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer ya29.a0fake-")
    );
    assert!(fake.requests(support::fake_youtube::SEARCH).is_empty());
    let posts: Vec<_> = fake
        .requests(support::fake_youtube::MESSAGES)
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(
        posts.len(),
        3,
        "sent, refused with 401, sent after the refresh"
    );
    assert_eq!(
        posts[0].authorization.as_deref(),
        Some("Bearer ya29.a0fake-0001-Qw8")
    );
    assert_eq!(
        posts[2].authorization.as_deref(),
        Some("Bearer ya29.a0fake-0002-Qw8")
    );
    // The login's channels.list unit is in the day's count the adapter kept.
    let day = clank::adapters::youtube::quota::pacific_day(Utc::now());
    let used: u32 = store
        .adapter_state_async(
            Platform::Youtube,
            &clank::adapters::youtube::quota_key(&day),
        )
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    // 1 (login) + 1 (liveBroadcasts) + 5 a read (the refused stream, then
    // list calls) + 20 a send attempt (3).
    let reads = (fake.lists().len() + fake.streams().len()) as u32;
    assert_eq!(used, 1 + 1 + 5 * reads + 20 * 3, "{reads} reads");
    drop(store);

    // 3. No token in the log, the binary's output, or the database files.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("youtube status"), "the log was written");
    let mut files = vec![log.into_bytes(), stdout.into_bytes(), stderr.into_bytes()];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("clank.db")
        {
            files.push(std::fs::read(&p).unwrap());
        }
    }
    assert!(files.len() >= 4, "the database file was read");
    // The scan sees the database's text: the account name is stored plain.
    assert!(
        files[3..]
            .iter()
            .any(|f| f.windows(8).any(|w| w == b"Mika Ch.")),
        "the login row is in the scanned files"
    );
    for secret in [
        "ya29.a0fake-0001-Qw8",
        "ya29.a0fake-0002-Qw8",
        "1//0gfake-refresh-0001-Zx",
        CLIENT_SECRET,
    ] {
        for (i, f) in files.iter().enumerate() {
            assert!(
                !f.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in file {i}"
            );
        }
    }
    for e in &seen {
        assert!(!format!("{e:?}").contains("ya29."), "{e:?}");
    }
}
