//! The Twitch adapter with a real SQLite store in a temp dir: the nymn
//! capture streamed over loopback IRC is stored and purged as moderators
//! delete and ban; logins are sealed in `auth_tokens`, survive a restart,
//! and no plain token reaches the database file or the log.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clank::adapters::Inbound;
use clank::adapters::twitch::{Endpoint, TwitchOptions, map_line, spawn};
use clank::auth::{
    CredentialSource, LoginStoreError, TWITCH_SCOPES, Token, TokenVault, VaultError, device_login,
    key_path, load_token, save_token, twitch_credentials,
};
use clank::model::{ChatEvent, Platform};
use clank::secret::Secret;
use clank::store::{Store, StoreConfig};
use support::fake_twitch_irc::{FakeConfig, FakeTwitchIrc};
use support::fake_twitch_oauth::{DeviceOutcome, FakeTwitchOAuth};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const FIXTURE: &str = include_str!("fixtures/twitch-nymn.irc");

fn open_store(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("clank.db"), &StoreConfig::default()).expect("store opens")
}

/// Every byte of the database files, for greps.
fn db_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        if let Ok(b) = std::fs::read(dir.join(format!("clank.db{suffix}"))) {
            all.extend_from_slice(&b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_capture_over_irc_is_stored_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeTwitchIrc::start(FakeConfig::default()).await;
    let endpoint = Endpoint::from_config(&fake.irc_addr(), false).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let (_h, task) = spawn(
        TwitchOptions::new(vec!["nymn".into()], endpoint),
        None,
        tx,
        cancel.clone(),
    );
    fake.wait_for("JOIN", 1, Duration::from_secs(30)).await;

    let mut lines: Vec<String> = FIXTURE.lines().map(str::to_string).collect();
    // A moderator removes one message and bans one chatter, mid-stream and at the end.
    lines.insert(400, "@login=jontemillian;room-id=;target-msg-id=8f921b5d-29b1-4c70-bc87-7a88a9d32ba8;tmi-sent-ts=1704558100000 :tmi.twitch.tv CLEARMSG #nymn :forsenParty".into());
    lines.push("@room-id=62300805;target-user-id=51967700;tmi-sent-ts=1704558201000 :tmi.twitch.tv CLEARCHAT #nymn :patixxl".into());
    lines.push("@msg-id=msg_host_on :tmi.twitch.tv NOTICE #nymn :end of test".into());

    // The expected store content, by an independent model of the same lines.
    let t0 = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let mut model: Vec<(String, String)> = Vec::new();
    for line in &lines {
        for ev in map_line(line, t0).unwrap() {
            match ev {
                Inbound::Chat(ChatEvent::Message(m)) => model.push((m.id, m.author.id)),
                Inbound::Chat(ChatEvent::Delete { id, .. }) => model.retain(|(i, _)| *i != id),
                Inbound::Chat(ChatEvent::Ban { author_id, .. }) => {
                    model.retain(|(_, a)| *a != author_id)
                }
                _ => {}
            }
        }
    }
    assert!(
        model.len() < 798 - 80,
        "the bans and the delete remove messages"
    );

    for line in &lines {
        fake.send(line);
    }
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("events keep coming")
            .expect("adapter runs");
        match ev {
            Inbound::Chat(ChatEvent::Message(m)) => {
                store.insert_message_async(m.into()).await.unwrap()
            }
            Inbound::Chat(ChatEvent::Delete {
                platform,
                channel,
                id,
                ..
            }) => store
                .delete_message_async(platform, &channel, &id, None)
                .await
                .unwrap(),
            Inbound::Chat(ChatEvent::Ban {
                platform,
                channel,
                author_id,
                ..
            }) => store
                .purge_author_async(platform, &channel, &author_id)
                .await
                .unwrap(),
            Inbound::Notice { text, .. } if text == "end of test" => break,
            _ => {}
        }
    }
    cancel.cancel();
    task.await.unwrap();

    let stored = store
        .last_messages_async(Platform::Twitch, "nymn", 10_000)
        .await
        .unwrap();
    let stored_ids: HashSet<&str> = stored.iter().map(|m| m.id.as_str()).collect();
    let model_ids: HashSet<&str> = model.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(stored.len(), model.len());
    assert_eq!(stored_ids, model_ids);
    assert!(!stored_ids.contains("8f921b5d-29b1-4c70-bc87-7a88a9d32ba8"));
    assert!(stored.iter().all(|m| m.author.id != "51967700"));
    let one = stored.iter().find(|m| m.author.months.is_some()).unwrap();
    assert!(one.author.has(clank::model::Role::Subscriber));
}

fn sample_token() -> Token {
    Token {
        access: Secret::new("plain-access-qx71"),
        refresh: Some(Secret::new("plain-refresh-zk93")),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(4)),
        scopes: TWITCH_SCOPES.iter().map(|s| s.to_string()).collect(),
        login: Some("clankbot".into()),
    }
}

#[tokio::test]
async fn tokens_are_sealed_in_sqlite_and_a_wrong_key_or_tampering_asks_for_login() {
    let dir = tempfile::tempdir().unwrap();
    let vault = TokenVault::open_or_create(&key_path(dir.path())).unwrap();
    let token = sample_token();
    {
        let store = open_store(dir.path());
        assert!(
            load_token(&vault, &store, Platform::Twitch)
                .await
                .unwrap()
                .is_none()
        );
        save_token(&vault, &store, Platform::Twitch, &token)
            .await
            .unwrap();
        let back = load_token(&vault, &store, Platform::Twitch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, token);
        let row = store
            .load_auth_token_async(Platform::Twitch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.account.as_str(), row.scopes.as_str()),
            ("clankbot", "chat:read chat:edit")
        );
        assert!(!format!("{row:?}").contains("plain-"));
    }
    // After a restart the login is still there, and nowhere in plain text.
    let bytes = db_bytes(dir.path());
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, "plain-access-qx71") && !contains(&bytes, "plain-refresh-zk93"));
    let store = open_store(dir.path());
    assert!(
        load_token(&vault, &store, Platform::Twitch)
            .await
            .unwrap()
            .is_some()
    );

    // Another key (a copied database, a lost key file): a clear error.
    let other = TokenVault::open_or_create(&dir.path().join("other.key")).unwrap();
    let err = load_token(&other, &store, Platform::Twitch)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LoginStoreError::Vault(VaultError::Undecryptable)
    ));
    assert!(err.to_string().contains("clank login"), "{err}");
    drop(store);

    // A tampered row: one flipped bit is detected.
    {
        let conn = rusqlite::Connection::open(dir.path().join("clank.db")).unwrap();
        let mut blob: Vec<u8> = conn
            .query_row(
                "SELECT access_token_enc FROM auth_tokens WHERE platform='twitch'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 0x80;
        conn.execute(
            "UPDATE auth_tokens SET access_token_enc = ?1 WHERE platform='twitch'",
            [blob],
        )
        .unwrap();
    }
    let store = open_store(dir.path());
    let err = load_token(&vault, &store, Platform::Twitch)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("clank login"), "{err}");
    // Logging out forgets it.
    store
        .delete_auth_token_async(Platform::Twitch)
        .await
        .unwrap();
    assert!(
        load_token(&vault, &store, Platform::Twitch)
            .await
            .unwrap()
            .is_none()
    );
}

/// `clank login twitch` -> saved sealed -> start-up -> refresh before expiry
/// -> rotated pair saved -> IRC login with the new token. A TRACE log of the
/// whole run and the database files contain none of the four tokens.
#[tokio::test]
async fn login_refresh_and_restart_keep_every_token_out_of_log_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("clank.log");
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(Mutex::new(std::fs::File::create(&log_path).unwrap()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let oauth = FakeTwitchOAuth::start(DeviceOutcome::ApproveAfter(0)).await;
    oauth.state.lock().unwrap().interval = 1;
    // Short-lived tokens: the first start-up must refresh.
    oauth.state.lock().unwrap().token_ttl = 120;
    let first = device_login(&oauth.base_url(), "test-client", TWITCH_SCOPES, |_| {})
        .await
        .unwrap();
    let vault = Arc::new(TokenVault::open_or_create(&key_path(dir.path())).unwrap());
    let store = open_store(dir.path());
    save_token(&vault, &store, Platform::Twitch, &first)
        .await
        .unwrap();
    oauth.state.lock().unwrap().token_ttl = 14_400;

    let irc = FakeTwitchIrc::start(FakeConfig::default()).await;
    let creds: Arc<dyn CredentialSource> = twitch_credentials(
        &oauth.base_url(),
        "test-client",
        None,
        vault.clone(),
        store.clone(),
    )
    .await
    .unwrap()
    .expect("a saved login");
    let endpoint = Endpoint::from_config(&irc.irc_addr(), false).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let (_h, task) = spawn(
        TwitchOptions::new(vec!["mikavt".into()], endpoint),
        Some(creds),
        tx,
        cancel.clone(),
    );
    let pass = irc.wait_for("PASS", 1, Duration::from_secs(30)).await;
    while !matches!(
        rx.recv().await,
        Some(Inbound::Status {
            channel: None,
            status: clank::adapters::AdapterStatus::Connected,
            ..
        })
    ) {}
    cancel.cancel();
    task.await.unwrap();

    let rotated = load_token(&vault, &store, Platform::Twitch)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(rotated.access, first.access, "refreshed before expiry");
    assert_ne!(
        rotated.refresh, first.refresh,
        "the rotated refresh token was stored"
    );
    assert_eq!(
        pass[0].line,
        format!("PASS oauth:{}", rotated.access.expose())
    );
    drop(store);
    drop(_guard);

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("token refreshed"), "the log was written");
    let db = db_bytes(dir.path());
    for t in [&first, &rotated] {
        for secret in [t.access.expose(), t.refresh.as_ref().unwrap().expose()] {
            assert!(!log.contains(secret), "a token reached the log");
            assert!(!contains(&db, secret), "a plain token reached the database");
        }
    }
}

/// The same capture through the real core (filter -> store -> salience ->
/// queue), which runs on its own thread as the store's blocking API wants:
/// what the core stored is purged by the moderator's delete and ban.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_through_the_core_is_stored_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let fake = FakeTwitchIrc::start(FakeConfig::default()).await;
    let endpoint = Endpoint::from_config(&fake.irc_addr(), false).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let (_h, task) = spawn(
        TwitchOptions::new(vec!["nymn".into()], endpoint),
        None,
        tx,
        cancel.clone(),
    );
    fake.wait_for("JOIN", 1, Duration::from_secs(30)).await;

    let core_store = store.clone();
    let core = std::thread::spawn(move || {
        let config = clank::config::Config::default();
        let start = chrono::DateTime::parse_from_rfc3339("2024-01-06T16:19:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let (mut core, _) = clank::core::Core::new(&config, core_store, 7, start).unwrap();
        let mut out = Vec::new();
        let mut handled = 0;
        while let Some(ev) = rx.blocking_recv() {
            match ev {
                Inbound::Chat(ev) => {
                    let now = ev.at().max(start);
                    core.handle(ev, now, &mut out).unwrap();
                    handled += 1;
                }
                Inbound::Notice { text, .. } if text == "end of test" => break,
                _ => {}
            }
        }
        (handled, core.counters().stored)
    });

    for line in FIXTURE.lines() {
        fake.send(line);
    }
    fake.send("@login=patixxl;room-id=;target-msg-id=def31555-deb2-49f6-97fb-304bd233cf3f;tmi-sent-ts=1704558300000 :tmi.twitch.tv CLEARMSG #nymn :forsenParty");
    fake.send("@room-id=62300805;target-user-id=417575252;tmi-sent-ts=1704558301000 :tmi.twitch.tv CLEARCHAT #nymn :mon_dieud");
    fake.send("@msg-id=msg_host_on :tmi.twitch.tv NOTICE #nymn :end of test");
    let (handled, stored_count) = tokio::task::spawn_blocking(move || core.join().unwrap())
        .await
        .unwrap();
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(handled, 800 + 2, "every chat event reached the core");
    assert!(stored_count > 0);

    let stored = store
        .last_messages_async(Platform::Twitch, "nymn", 10_000)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|m| m.id != "def31555-deb2-49f6-97fb-304bd233cf3f")
    );
    assert!(
        stored.iter().all(|m| m.author.id != "417575252"),
        "banned author purged"
    );
    let fixture_ids: HashSet<String> = FIXTURE
        .lines()
        .filter_map(|l| map_line(l, chrono::Utc::now()).ok())
        .flatten()
        .filter_map(|e| match e {
            Inbound::Chat(ChatEvent::Message(m)) => Some(m.id),
            _ => None,
        })
        .collect();
    assert!(stored.iter().all(|m| fixture_ids.contains(&m.id)));
}
