//! Quiet-chat starters (issue 12 item 5) on the core with a virtual clock
//! and a real SQLite file: once no viewer has written for
//! `channel_defaults.quiet_after_s`, a clock tick yields a `quiet` trigger
//! (drafted like an unprompted line), never inside the channel's
//! `time_delay_s`, never while the streamer is in deep focus or on a break,
//! and once per quiet spell.

use chrono::{DateTime, TimeDelta, Utc};
use clank::config::Config;
use clank::core::{Core, CoreEvent};
use clank::model::{AttentionState, Author, ChatEvent, ChatMessage, Platform};
use clank::store::Store;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::seconds(s)
}

fn config(quiet_s: u64, delay_s: u64) -> Config {
    Config::from_toml(&format!(
        r#"
[channel_defaults]
quiet_after_s = {quiet_s}
time_delay_s = {delay_s}
message_threshold = 1000
[attention]
min_dwell_s = 86400
max_dwell_s = 86400
seed = 7
"#
    ))
    .expect("test config")
}

fn say(core: &mut Core, id: &str, secs: i64) {
    let m = ChatMessage {
        platform: Platform::Twitch,
        channel: "mika".into(),
        id: id.into(),
        at: t(secs),
        author: Author {
            id: "u1".into(),
            name: "rin".into(),
            ..Author::default()
        },
        text: "nice run so far".into(),
        paid: None,
        reply_to: None,
    };
    let mut out = Vec::new();
    core.handle(ChatEvent::Message(m), t(secs), &mut out)
        .expect("handled");
    assert!(
        !out.iter().any(is_quiet),
        "an arriving message never starts one: {out:?}"
    );
}

fn is_quiet(e: &CoreEvent) -> bool {
    matches!(e, CoreEvent::Trigger { kind, .. } if kind == "quiet")
}

/// Ticks the clock at `secs`; the quiet triggers it yields.
fn tick(core: &mut Core, secs: i64) -> Vec<CoreEvent> {
    let mut out = Vec::new();
    core.tick(t(secs), &mut out).expect("tick");
    out.into_iter().filter(is_quiet).collect()
}

fn core(config: &Config, dir: &tempfile::TempDir, state: AttentionState) -> Core {
    let store = Store::open(&dir.path().join("q.db"), &config.store).expect("store");
    let (mut core, _) = Core::new(config, store, 7, t(0)).expect("core");
    core.force_state(state, t(0), &mut Vec::new());
    core
}

#[test]
fn fires_after_the_quiet_time_once_per_quiet_spell() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(600, 300);
    let mut c = core(&cfg, &dir, AttentionState::CasualMonitoring);
    say(&mut c, "m1", 10);
    for s in (20..610).step_by(10) {
        assert!(tick(&mut c, s).is_empty(), "quiet only {} s at {s}", s - 10);
    }
    let fired = tick(&mut c, 610);
    assert_eq!(fired.len(), 1, "{fired:?}");
    match &fired[0] {
        CoreEvent::Trigger {
            platform,
            channel,
            reason,
            ..
        } => {
            assert_eq!((*platform, channel.as_str()), (Platform::Twitch, "mika"));
            assert!(reason.contains("600 s"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Nobody answered: the room is not talked at again.
    for s in (620..4000).step_by(60) {
        assert!(tick(&mut c, s).is_empty(), "at {s}");
    }
    // Chat comes back, then goes quiet again: another starter.
    say(&mut c, "m2", 4000);
    assert!(tick(&mut c, 4599).is_empty());
    assert_eq!(tick(&mut c, 4600).len(), 1);
    assert_eq!(c.counters().triggers, 2);
}

#[test]
fn never_inside_the_channel_delay() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(120, 1800);
    let mut c = core(&cfg, &dir, AttentionState::FocusedInteraction);
    say(&mut c, "m1", 0);
    // The bot spoke at 100 s: nothing more from it before 1900 s.
    c.on_bot_message(Platform::Twitch, "mika", t(100));
    for s in (110..1900).step_by(30) {
        assert!(tick(&mut c, s).is_empty(), "inside the delay at {s}");
    }
    assert_eq!(tick(&mut c, 1900).len(), 1);
}

#[test]
fn never_in_deep_focus_or_on_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(60, 0);
    for state in [AttentionState::DeepFocus, AttentionState::BreakTransition] {
        let mut c = core(&cfg, &dir, state);
        say(&mut c, "m1", 0);
        for s in (10..7200).step_by(30) {
            assert!(tick(&mut c, s).is_empty(), "{state} at {s}");
        }
        assert_eq!(c.attention().state(), state);
        // Back at chat: the spell that is still quiet gets its starter.
        c.force_state(AttentionState::CasualMonitoring, t(7200), &mut Vec::new());
        assert_eq!(tick(&mut c, 7210).len(), 1, "{state}");
        drop(c);
        std::fs::remove_file(dir.path().join("q.db")).ok();
    }
}

#[test]
fn off_by_default_and_bad_values_are_refused() {
    assert_eq!(Config::default().channel_defaults.quiet_after_s, 0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(0, 0);
    let mut c = core(&cfg, &dir, AttentionState::CasualMonitoring);
    say(&mut c, "m1", 0);
    assert!(tick(&mut c, 86_400).is_empty());
    let err = Config::from_toml("[channel_defaults]\nquiet_after_s = 5\n")
        .and_then(|c| c.validate().map(|()| c))
        .unwrap_err()
        .to_string();
    assert!(err.contains("channel_defaults.quiet_after_s"), "{err}");
}
