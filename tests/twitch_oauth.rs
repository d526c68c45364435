//! Twitch OAuth against the loopback fake: device flow (success, pending,
//! slow_down, denied, expired), refresh with rotation, validate 401, a
//! refused IRC login healed by a refresh, and a grep of the log file for the
//! plain tokens.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clank::adapters::twitch::{Endpoint, TwitchOptions, spawn};
use clank::adapters::{AdapterStatus, Inbound};
use clank::auth::{
    AuthError, CredentialSource, OAuthClient, TWITCH_SCOPES, Token, TokenSink, TwitchAuth,
    device_login,
};
use clank::secret::Secret;
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc, spawn_time_ticker};
use support::fake_twitch_oauth::{DeviceOutcome, FakeTwitchOAuth};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn login(outcome: DeviceOutcome) -> (FakeTwitchOAuth, Result<Token, AuthError>, Vec<String>) {
    let fake = FakeTwitchOAuth::start(outcome).await;
    let shown = Arc::new(Mutex::new(Vec::new()));
    let s = shown.clone();
    let result = device_login(
        &fake.base_url(),
        "test-client",
        TWITCH_SCOPES,
        move |code| {
            s.lock()
                .unwrap()
                .push(format!("{} {}", code.verification_uri, code.user_code));
        },
    )
    .await;
    let shown = shown.lock().unwrap().clone();
    (fake, result, shown)
}

#[tokio::test(start_paused = true)]
async fn device_flow_polls_at_the_interval_until_approved() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (fake, result, shown) = login(DeviceOutcome::ApproveAfter(2)).await;
    let token = result.unwrap();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("WDJB-MJHT") && shown[0].contains("twitch.tv/activate"));
    assert_eq!(token.login.as_deref(), Some("clankbot"));
    assert!(token.access.expose().starts_with("acc3ss-"));
    assert!(token.refresh.is_some() && token.expires_at.is_some());
    let device = fake.requests("/oauth2/device");
    assert_eq!(device[0].form["scopes"], "chat:read chat:edit");
    let polls = fake.requests("/oauth2/token");
    assert_eq!(polls.len(), 3, "two pending answers, then the token");
    for w in polls.windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_secs(5),
            "interval honoured"
        );
    }
    assert!(polls[0].at - device[0].at >= Duration::from_secs(5));
    assert_eq!(
        polls[0].form["grant_type"],
        "urn:ietf:params:oauth:grant-type:device_code"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_down_adds_five_seconds() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let (fake, result, _) = login(DeviceOutcome::SlowDownThenApprove).await;
    assert!(result.is_ok());
    let polls = fake.requests("/oauth2/token");
    assert_eq!(polls.len(), 2);
    assert!(polls[1].at - polls[0].at >= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn denied_and_expired_are_clear_errors() {
    let _tick = spawn_time_ticker(Duration::from_millis(250));
    let (_f, result, _) = login(DeviceOutcome::DenyAfter(1)).await;
    assert_eq!(result.unwrap_err(), AuthError::Denied);
    let (_f, result, _) = login(DeviceOutcome::ExpiredAfter(0)).await;
    assert_eq!(result.unwrap_err(), AuthError::Expired);
    // A code that is never confirmed ends at its own deadline (1800 s).
    let (f, result, _) = login(DeviceOutcome::NeverAnswer).await;
    let err = result.unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert!(err.to_string().contains("clank login"));
    let polls = f.requests("/oauth2/token").len();
    assert!(
        (300..=360).contains(&polls),
        "polled every 5 s for 30 min: {polls}"
    );
}

struct Recorder(Arc<Mutex<Vec<Token>>>);

#[async_trait::async_trait]
impl TokenSink for Recorder {
    async fn save(&self, token: &Token) -> Result<(), String> {
        self.0.lock().unwrap().push(token.clone());
        Ok(())
    }
}

fn recorder() -> (Arc<dyn TokenSink>, Arc<Mutex<Vec<Token>>>) {
    let saved = Arc::new(Mutex::new(Vec::new()));
    (Arc::new(Recorder(saved.clone())), saved)
}

fn token(access: &str, refresh: &str, expires_in_s: i64) -> Token {
    Token {
        access: Secret::new(access),
        refresh: Some(Secret::new(refresh)),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(expires_in_s)),
        scopes: vec!["chat:read".into(), "chat:edit".into()],
        login: Some("clankbot".into()),
    }
}

#[tokio::test]
async fn refresh_before_expiry_rotates_and_stores_the_new_pair() {
    let fake = FakeTwitchOAuth::start(DeviceOutcome::NeverAnswer).await;
    let (access, refresh) = fake.issue();
    let client = OAuthClient::new(&fake.base_url(), "test-client", None).unwrap();
    let (persist, saved) = recorder();
    let auth = TwitchAuth::new(client.clone(), token(&access, &refresh, 60), persist);
    let creds = auth.credentials().await.unwrap();
    assert_ne!(creds.token.expose(), access, "expiring token was refreshed");
    assert_eq!(creds.login, "clankbot");
    let saved = saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1, "the rotated pair is stored");
    let new_refresh = saved[0].refresh.clone().unwrap();
    assert_ne!(new_refresh.expose(), refresh);
    // The old refresh token is single use.
    assert_eq!(
        client.refresh(&Secret::new(&refresh)).await.unwrap_err(),
        AuthError::Revoked
    );
    // A fresh token is not refreshed again.
    let again = auth.credentials().await.unwrap();
    assert_eq!(again.token, creds.token);
    let form = &fake.requests("/oauth2/token")[0].form;
    assert_eq!(form["grant_type"], "refresh_token");
}

#[tokio::test]
async fn validate_401_refreshes_or_reports_revoked() {
    let fake = FakeTwitchOAuth::start(DeviceOutcome::NeverAnswer).await;
    let (access, refresh) = fake.issue();
    let client = OAuthClient::new(&fake.base_url(), "test-client", None).unwrap();
    let v = client.validate(&Secret::new(&access)).await.unwrap();
    assert_eq!((v.login.as_str(), v.user_id.as_str()), ("clankbot", "4242"));
    assert_eq!(
        client.validate(&Secret::new("nope")).await.unwrap_err(),
        AuthError::Revoked
    );
    // Access revoked but refresh still good: validate heals by refreshing.
    let (persist, saved) = recorder();
    let auth = TwitchAuth::new(
        client.clone(),
        token("stale-access", &refresh, 9_000),
        persist,
    );
    auth.validate().await.unwrap();
    assert_eq!(saved.lock().unwrap().len(), 1);
    // Everything revoked: a clear error that asks for a new login.
    fake.revoke_all();
    let err = auth.validate().await.unwrap_err();
    assert_eq!(err, AuthError::Revoked);
    assert!(err.needs_login());
    assert!(err.to_string().contains("clank login"));
}

/// The IRC server refuses the first token; the adapter refreshes once and
/// logs in with the new one. The whole run is logged at TRACE to a file that
/// must not contain any token.
#[tokio::test(start_paused = true)]
async fn a_refused_irc_login_is_healed_by_refresh_and_no_token_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("clank.log");
    let file = std::fs::File::create(&log_path).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let _tick = spawn_time_ticker(Duration::from_millis(20));

    let oauth = FakeTwitchOAuth::start(DeviceOutcome::NeverAnswer).await;
    let (access, refresh) = oauth.issue();
    let mut cfg = FakeConfig::default();
    cfg.rejected_tokens.insert(access.clone());
    let irc = FakeTwitchIrc::start(cfg).await;

    let client = OAuthClient::new(&oauth.base_url(), "test-client", None).unwrap();
    let (persist, saved) = recorder();
    let auth = Arc::new(TwitchAuth::new(
        client,
        token(&access, &refresh, 9_000),
        persist,
    ));
    let endpoint = Endpoint::from_config(&irc.irc_addr(), false).unwrap();
    let mut opts = TwitchOptions::new(vec!["mikavt".into()], endpoint);
    opts.seed = 1;
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let src: Arc<dyn CredentialSource> = auth.clone();
    let (_handle, task) = spawn(opts, Some(src), tx, cancel.clone());

    let mut statuses = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(600), rx.recv())
            .await
            .expect("adapter answers")
            .expect("adapter runs");
        if let Inbound::Status {
            channel: None,
            status,
            ..
        } = ev
        {
            statuses.push(status.clone());
            if status == AdapterStatus::Connected {
                break;
            }
            assert!(
                !matches!(status, AdapterStatus::ReadOnly { .. }),
                "{statuses:?}"
            );
        }
    }
    let passes = irc.received_starting("PASS");
    assert_eq!(passes.len(), 2);
    assert_eq!(passes[0].line, format!("PASS oauth:{access}"));
    let new = saved.lock().unwrap()[0].clone();
    assert_eq!(
        passes[1].line,
        format!("PASS oauth:{}", new.access.expose())
    );
    assert!(statuses.iter().any(|s| matches!(s, AdapterStatus::Reconnecting { reason, .. } if reason.contains("login refused"))));
    cancel.cancel();
    task.await.unwrap();

    drop(_guard);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("twitch status"), "the log was written: {log}");
    for secret in [
        access.as_str(),
        refresh.as_str(),
        new.access.expose(),
        new.refresh.as_ref().unwrap().expose(),
    ] {
        assert!(!log.contains(secret), "token in log");
        for s in &statuses {
            assert!(!format!("{s:?} {s}").contains(secret));
        }
    }
    assert!(!format!("{new:?}").contains(new.access.expose()));
}

/// Hourly validation finds the token revoked (and the refresh token too):
/// the adapter drops to anonymous read-only and keeps reading.
#[tokio::test(start_paused = true)]
async fn hourly_validation_of_a_revoked_token_drops_to_read_only() {
    let _tick = spawn_time_ticker(Duration::from_millis(50));
    let oauth = FakeTwitchOAuth::start(DeviceOutcome::NeverAnswer).await;
    let (access, refresh) = oauth.issue();
    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let client = OAuthClient::new(&oauth.base_url(), "test-client", None).unwrap();
    let (persist, _saved) = recorder();
    let auth: Arc<dyn CredentialSource> = Arc::new(TwitchAuth::new(
        client,
        token(&access, &refresh, 90_000),
        persist,
    ));
    let endpoint = Endpoint::from_config(&irc.irc_addr(), false).unwrap();
    let mut opts = TwitchOptions::new(vec!["mikavt".into()], endpoint);
    // Ten minutes instead of the hourly default keeps the virtual run short.
    opts.validate_every = Duration::from_secs(600);
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let (_handle, task) = spawn(opts, Some(auth), tx, cancel.clone());
    let mut statuses = Vec::new();
    while !statuses.contains(&AdapterStatus::Connected) {
        if let Some(Inbound::Status {
            channel: None,
            status,
            ..
        }) = rx.recv().await
        {
            statuses.push(status);
        }
    }
    assert_eq!(
        oauth.requests("/oauth2/validate").len(),
        1,
        "validated at start-up"
    );
    oauth.revoke_all();
    let started = tokio::time::Instant::now();
    let reason = loop {
        if let Some(Inbound::Status {
            channel: None,
            status: AdapterStatus::ReadOnly { reason },
            ..
        }) = rx.recv().await
        {
            break reason;
        }
    };
    assert!(
        started.elapsed() >= Duration::from_secs(600),
        "checked every validate_every"
    );
    assert!(reason.contains("clank login"), "{reason}");
    assert_eq!(oauth.requests("/oauth2/validate").len(), 2);
    let nicks = irc.received_starting("NICK");
    assert!(nicks.last().unwrap().line.starts_with("NICK justinfan"));
    cancel.cancel();
    task.await.unwrap();
}
