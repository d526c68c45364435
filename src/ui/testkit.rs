//! Fixed sample data and a text renderer for the console's tests, snapshots
//! and benchmarks: a deterministic clock, messages, drafts and snapshots.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, AppEvent};
use super::{UiConfig, views};
use crate::core::CoreEvent;
use crate::engine::salience::{SalienceConfig, SalienceWeights};
use crate::model::{
    AttentionState, Author, ChatMessage, DraftSource, DraftState, DraftView, Paid, PaidKind,
    Platform, Role, Salience, SalienceBreakdown,
};
use crate::session::{Component, Health, QueueItem, Snapshot, SystemKind, SystemLine, Update};

/// The tests' "now": 2026-11-21 20:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 20, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn app(config: UiConfig) -> App {
    App::new(config, SalienceWeights::default(), t0())
}

pub fn message(platform: Platform, id: &str, name: &str, text: &str, secs: i64) -> ChatMessage {
    ChatMessage {
        platform,
        channel: "mika".into(),
        id: id.into(),
        at: t0() + Duration::seconds(secs),
        author: Author {
            id: format!("u-{name}"),
            name: name.into(),
            ..Default::default()
        },
        text: text.into(),
        paid: None,
        reply_to: None,
    }
}

pub fn salience(content: f64, authority: f64, relevance: f64, temporal: f64) -> Salience {
    let breakdown = SalienceBreakdown {
        content,
        authority,
        relevance,
        temporal,
    };
    let score = SalienceWeights::default().combine(&breakdown);
    Salience {
        score,
        breakdown,
        priority: SalienceConfig::default().thresholds.priority(score),
        reasons: vec!["question".into(), "addressed to the streamer".into()],
    }
}

pub fn draft(id: i64, message_id: &str, text: &str, state: DraftState) -> DraftView {
    DraftView {
        id,
        message_id: Some(message_id.into()),
        platform: Platform::Twitch,
        channel: "mika".into(),
        text: text.into(),
        source: DraftSource::Llm,
        state,
        why: None,
        limit: Platform::Twitch.max_message_chars(),
        time_to_first_token_ms: Some(180 + id as u64 * 10),
        team: None,
    }
}

pub fn snapshot(queue: Vec<QueueItem>) -> Snapshot {
    Snapshot {
        at: t0(),
        state: AttentionState::FocusedInteraction,
        state_since: t0() - Duration::seconds(133),
        next_transition_at: t0() + Duration::seconds(45),
        auto_send: false,
        paused: false,
        topic: "elden ring malenia".into(),
        weights: SalienceWeights::default(),
        queue_len: queue.len(),
        queue,
        sent: 4,
        rejected: 1,
        msgs_per_min: [12.0, 5.0, 2.0],
        counts_by_priority: [120, 40, 8, 1],
        held: Vec::new(),
        released: 0,
        discarded: 0,
        suggestion: None,
    }
}

/// Re-scores `queue` under `weights` and orders it best first (priority, then
/// score; ties keep their order), standing in for the runtime, which ranks
/// the queue before it sends a snapshot: the console never ranks it itself.
pub fn rank(queue: &mut [QueueItem], weights: &SalienceWeights) {
    let thresholds = SalienceConfig::default().thresholds;
    for item in queue.iter_mut() {
        let salience = Arc::make_mut(&mut item.salience);
        salience.score = weights.combine(&salience.breakdown);
        salience.priority = thresholds.priority(salience.score);
    }
    queue.sort_by(|a, b| {
        b.salience
            .priority
            .cmp(&a.salience.priority)
            .then(b.salience.score.total_cmp(&a.salience.score))
    });
}

/// Stands in for the runtime answering `Request::SetWeights(weights)`: the
/// console's queue re-ranked under `weights`, sent as a fresh snapshot.
pub fn answer_weights(app: &mut App, weights: SalienceWeights) {
    let Some(mut s) = app.snapshot.clone() else {
        return;
    };
    rank(&mut s.queue, &weights);
    s.weights = weights;
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(s))));
}

/// A console in the middle of a lively stream: chat on all three platforms,
/// a ranked queue, drafts in several states, health and a notice.
pub fn busy_app(config: UiConfig) -> App {
    let mut app = app(config);
    let lines: [(Platform, &str, &str, Option<Role>); 10] = [
        (Platform::Twitch, "kappa_kid", "hi chat!", None),
        (
            Platform::Youtube,
            "Sora",
            "mika how do you dodge the waterfowl dance?",
            Some(Role::Member),
        ),
        (
            Platform::Discord,
            "ferris",
            "streaming from the discord stage too",
            None,
        ),
        (
            Platform::Twitch,
            "modbot9000",
            "reminder: be nice",
            Some(Role::Moderator),
        ),
        (
            Platform::Twitch,
            "spammer",
            "buy followers at example dot com",
            None,
        ),
        (
            Platform::Youtube,
            "Akari",
            "first time here, love the vibe",
            None,
        ),
        (
            Platform::Twitch,
            "lurker",
            "what level are you now? which build is this, strength or dex?",
            Some(Role::Subscriber),
        ),
        (Platform::Discord, "nyx", "gg on the last attempt", None),
        (Platform::Twitch, "bigfan", "take my bits", None),
        (
            Platform::Youtube,
            "Kenji",
            "mika what's the plan after malenia?",
            None,
        ),
    ];
    let mut queue = Vec::new();
    for (i, (p, name, text, role)) in lines.iter().enumerate() {
        let mut m = message(*p, &format!("m{i}"), name, text, i as i64 * 7 - 70);
        if let Some(r) = role {
            m.author.roles.push(*r);
        }
        if *name == "bigfan" {
            m.paid = Some(Paid {
                amount: 500.0,
                currency: "bits".into(),
                kind: PaidKind::Bits,
            });
        }
        let f = (i as f64 * 0.37).fract();
        let s = salience(f, (1.0 - f) * 0.6, 0.2 + f * 0.5, 0.9 - f * 0.6);
        app.handle(AppEvent::Update(Update::Chat {
            message: m.clone().into(),
            salience: Some(s.clone().into()),
        }));
        if i % 2 == 1 || *name == "bigfan" {
            queue.push(QueueItem {
                message: Arc::new(m),
                salience: Arc::new(s),
            });
        }
    }
    app.handle(AppEvent::Update(Update::ChatRemoved {
        platform: Platform::Twitch,
        channel: "mika".into(),
        message_ids: vec!["m4".into()],
    }));
    for (at, st) in [
        (-900, AttentionState::CasualMonitoring),
        (-600, AttentionState::DeepFocus),
        (-400, AttentionState::BreakTransition),
        (-300, AttentionState::CasualMonitoring),
    ] {
        app.handle(AppEvent::Update(Update::Core(CoreEvent::Attention {
            at: t0() + Duration::seconds(at),
            state: st,
            from: None,
            reason: "dwell".into(),
            cause: None,
        })));
    }
    rank(&mut queue, &SalienceWeights::default());
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(snapshot(
        queue,
    )))));
    let mut d1 = draft(
        7,
        "m1",
        "Dodge toward her and roll late, Sora! Works for me every time.",
        DraftState::Pending,
    );
    d1.platform = Platform::Youtube;
    d1.limit = Platform::Youtube.max_message_chars();
    app.handle(AppEvent::Update(Update::Draft(d1)));
    app.handle(AppEvent::Update(Update::Draft(draft(
        8,
        "m8",
        "Thank you for the 500 bits, bigfan!",
        DraftState::Pending,
    ))));
    let mut d3 = draft(9, "m6", "Strength build, level 1", DraftState::Streaming);
    d3.time_to_first_token_ms = None;
    app.handle(AppEvent::Update(Update::Draft(d3)));
    app.handle(AppEvent::Update(Update::Draft(draft(
        5,
        "m0",
        "hi kappa_kid!",
        DraftState::Sent,
    ))));
    for (c, h) in [
        (Component::Platform(Platform::Twitch), Health::Connected),
        (
            Component::Platform(Platform::Youtube),
            Health::Reconnecting {
                in_s: 12,
                reason: "quota".into(),
            },
        ),
        (Component::Platform(Platform::Discord), Health::ReadOnly),
        (Component::Llm, Health::Connected),
    ] {
        app.handle(AppEvent::Update(Update::Health {
            component: c,
            health: h,
        }));
    }
    app
}

/// A platform event in channel "mika", `secs` after [`t0`].
pub fn system(platform: Platform, kind: SystemKind, text: &str, secs: i64) -> SystemLine {
    SystemLine {
        at: t0() + Duration::seconds(secs),
        platform,
        channel: "mika".into(),
        kind,
        text: text.into(),
    }
}

/// [`busy_app`] after a raid, with three replies the platform did not take:
/// refused (rate limit), failed (not connected) and unconfirmed (no answer).
pub fn undelivered_app(config: UiConfig) -> App {
    let mut app = busy_app(config);
    app.handle(AppEvent::Update(Update::System(system(
        Platform::Twitch,
        SystemKind::Raid,
        "raid from Foo with 120 viewers",
        -5,
    ))));
    for (id, msg, text, state, why) in [
        (
            2,
            "m3",
            "Thanks for keeping it friendly, modbot9000!",
            DraftState::Refused,
            "msg_ratelimit: Your message was not sent because you are sending messages too quickly.",
        ),
        (
            3,
            "m7",
            "gg indeed, nyx!",
            DraftState::Failed,
            "twitch is not connected",
        ),
        (
            4,
            "m1",
            "Roll late and toward her, Sora!",
            DraftState::Unconfirmed,
            "no answer from twitch within 5s",
        ),
    ] {
        let mut d = draft(id, msg, text, state);
        d.why = Some(why.into());
        app.handle(AppEvent::Update(Update::Draft(d)));
    }
    app
}

/// [`busy_app`] with two messages in the review lane, as the core holds
/// them: a $50 super chat and a Twitch line to the streamer that the
/// profanity model misread, each masked by the same function the core uses.
pub fn held_app(config: UiConfig) -> App {
    let mut app = busy_app(config);
    let mut held = Vec::new();
    for (platform, id, name, text, paid, reason) in [
        (
            Platform::Youtube,
            "h1",
            "Kaz",
            "mika im giving you mufflo meat but its not coming, what do i do?",
            Some(50.0),
            "profanity (severe sexual); held for review: paid",
        ),
        (
            Platform::Twitch,
            "h2",
            "Rin",
            "@Mika message 1431 about the boss fight tonight",
            None,
            "profanity (severe sexual); held for review: said to the streamer",
        ),
    ] {
        let mut m = message(platform, id, name, text, -3);
        m.paid = paid.map(|amount| crate::model::Paid {
            amount,
            currency: "USD".into(),
            kind: crate::model::PaidKind::Superchat,
        });
        m.text = crate::engine::filter::mask_profanity(&m.text);
        held.push(crate::session::HeldItem {
            message: m,
            reason: reason.into(),
            salience: salience(0.9, 0.5, 0.6, 0.8),
            held_at: t0() - Duration::seconds(3),
        });
    }
    let mut snap = app.snapshot.clone().unwrap_or_else(|| snapshot(Vec::new()));
    snap.held = held;
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(snap))));
    app
}

/// A console whose platforms and LLM are failing, with an error showing.
pub fn error_app(config: UiConfig) -> App {
    let mut app = app(config);
    for (c, h) in [
        (
            Component::Platform(Platform::Twitch),
            Health::Down {
                reason: "login failed".into(),
            },
        ),
        (Component::Platform(Platform::Youtube), Health::Off),
        (
            Component::Platform(Platform::Discord),
            Health::Reconnecting {
                in_s: 30,
                reason: "gateway closed".into(),
            },
        ),
        (
            Component::Llm,
            Health::Down {
                reason: "connection refused".into(),
            },
        ),
    ] {
        app.handle(AppEvent::Update(Update::Health {
            component: c,
            health: h,
        }));
    }
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(snapshot(
        vec![],
    )))));
    let mut d = draft(
        3,
        "m1",
        "Sorry, I can't say that here.",
        DraftState::Blocked,
    );
    d.source = DraftSource::Fallback;
    d.why = Some("output filter: blocked word".into());
    app.handle(AppEvent::Update(Update::Draft(d)));
    app.handle(AppEvent::Update(Update::Error {
        at: t0(),
        what: "twitch: login failed (check TWITCH_CLIENT_SECRET)".into(),
    }));
    app
}

/// `n` messages of chat cycling over the platforms, for scrollback tests.
pub fn flood(app: &mut App, n: usize) {
    for i in 0..n {
        let p = Platform::ALL[i % 3];
        let m = message(
            p,
            &format!("f{i}"),
            &format!("viewer{}", i % 97),
            &format!("message number {i} with some words about the boss fight and the build"),
            i as i64 / 10,
        );
        let s = salience(0.5, 0.3, 0.4, (i % 10) as f64 / 10.0);
        app.handle(AppEvent::Update(Update::Chat {
            message: m.into(),
            salience: Some(s.into()),
        }));
    }
}

/// The console drawn on a `width` x `height` test terminal, as text.
pub fn render(app: &App, width: u16, height: u16) -> String {
    let backend = TestBackend::new(width, height);
    // TestBackend cannot fail (its error type is Infallible).
    let Ok(mut terminal) = Terminal::new(backend);
    let Ok(_) = terminal.draw(|f| views::draw(f, app));
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
