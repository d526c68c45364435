//! Text snapshots of every console view at 80x24 and 160x48: empty, busy,
//! error, help, a raid in the chat, and each pop-up (the not-delivered list
//! among them, and the review lane of held messages). Review changes with
//! `cargo insta review`.

use clank::model::Platform;
use clank::session::{SystemKind, Update};
use clank::ui::app::{AppEvent, Focus};
use clank::ui::testkit::{self, busy_app, error_app, held_app, render, undelivered_app};
use clank::ui::{App, ThemeName, UiConfig};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        app.handle(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
}

fn check(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        app.handle(AppEvent::Resize(w, h));
        let screen = render(app, w, h);
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
        });
    }
}

#[test]
fn empty() {
    check("empty", &mut testkit::app(UiConfig::default()));
}

#[test]
fn busy() {
    check("busy", &mut busy_app(UiConfig::default()));
}

#[test]
fn busy_light_theme_has_the_same_layout() {
    let dark = busy_app(UiConfig::default());
    let light = busy_app(UiConfig {
        theme: ThemeName::Light,
        ..Default::default()
    });
    assert_eq!(render(&dark, 80, 24), render(&light, 80, 24));
    assert_ne!(dark.theme, light.theme);
    check(
        "busy_light",
        &mut busy_app(UiConfig {
            theme: ThemeName::Light,
            ..Default::default()
        }),
    );
}

#[test]
fn error() {
    check("error", &mut error_app(UiConfig::default()));
}

#[test]
fn help() {
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "?");
    check("help", &mut app);
}

#[test]
fn drafts_focused_and_chat_focused() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Drafts;
    check("drafts_focus", &mut app);
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Chat;
    keys(&mut app, "kk");
    check("chat_scrolled", &mut app);
}

#[test]
fn editor() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Drafts;
    keys(&mut app, "e");
    keys(&mut app, " See you!");
    check("edit", &mut app);
}

#[test]
fn prompts() {
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "t");
    check("topic_prompt", &mut app);
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "/user:so");
    check("filter_prompt", &mut app);
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    check("filtered", &mut app);
}

#[test]
fn state_picker_weights_and_quit() {
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "sj");
    check("state_picker", &mut app);
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "whhhhjllll");
    // The queue shows the order the runtime sends back for the new weights.
    let w = app.weights;
    testkit::answer_weights(&mut app, w);
    check("weights", &mut app);
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "q");
    check("confirm_quit", &mut app);
}

#[test]
fn paused_auto_and_streaming() {
    let mut app = busy_app(UiConfig::default());
    keys(&mut app, "pa");
    app.focus = Focus::Drafts;
    keys(&mut app, "jj");
    check("paused_streaming", &mut app);
}

#[test]
fn scrollback_of_ten_thousand_shows_the_newest() {
    let mut app = testkit::app(UiConfig::default());
    testkit::flood(&mut app, 10_000);
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(
        testkit::snapshot(vec![]),
    ))));
    check("scrollback", &mut app);
}

#[test]
fn a_raid_is_a_system_line_in_the_chat() {
    let mut app = busy_app(UiConfig::default());
    app.handle(AppEvent::Update(Update::System(testkit::system(
        Platform::Twitch,
        SystemKind::Raid,
        "raid from Foo with 120 viewers",
        -5,
    ))));
    app.focus = Focus::Chat;
    check("chat_raid", &mut app);
}

#[test]
fn not_delivered_list() {
    let mut app = undelivered_app(UiConfig::default());
    keys(&mut app, "n");
    // The second entry already asked to be retried.
    keys(&mut app, "jR");
    check("not_delivered", &mut app);
    let mut app = testkit::app(UiConfig::default());
    keys(&mut app, "n");
    check("not_delivered_empty", &mut app);
}

/// YouTube's quota figures (a `Quota` update from the adapter's notices)
/// sit beside its health in the header, the latest replacing the last.
#[test]
fn the_header_shows_the_latest_youtube_quota() {
    let mut app = busy_app(UiConfig::default());
    for text in [
        "quota 6/10000 · 9994 left · out 23:10 UTC",
        "quota 11/10000 · 9989 left · lasts to reset",
    ] {
        app.handle(AppEvent::Update(Update::Quota {
            platform: Platform::Youtube,
            text: text.into(),
        }));
    }
    let screen = render(&app, 160, 30);
    let header: String = screen.lines().take(3).collect::<Vec<_>>().join("\n");
    assert!(
        header.contains("youtube ⟳ 12s (quota 11/10000 · 9989 left · lasts to reset)"),
        "{header}"
    );
    assert!(!screen.contains("9994 left"), "{screen}");
}

/// A platform resuming at once (Discord's gateway resume) says "now", not a
/// countdown of zero seconds.
#[test]
fn a_reconnect_under_way_says_now_not_zero_seconds() {
    let mut app = busy_app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Health {
        component: clank::session::Component::Platform(Platform::Discord),
        health: clank::session::Health::Reconnecting {
            in_s: 0,
            reason: "resuming the gateway session".into(),
        },
    }));
    let screen = render(&app, 160, 30);
    let header: String = screen.lines().take(3).collect::<Vec<_>>().join("\n");
    assert!(header.contains("discord ⟳ now"), "{header}");
    assert!(!header.contains("⟳ 0s"), "{header}");
}

#[test]
fn review_lane_shows_held_messages_masked_and_releases_to_the_queue() {
    let mut app = held_app(UiConfig::default());
    // The header counts them; nothing of the raw text is on screen.
    check("held_header", &mut app);
    let screen = render(&app, 160, 48);
    assert!(screen.contains("⚑ 2 held (h)"), "{screen}");
    keys(&mut app, "h");
    check("review", &mut app);
    let screen = render(&app, 160, 48);
    assert!(screen.contains("held for review (2)"), "{screen}");
    assert!(
        screen.contains("m***lo") && !screen.contains("mufflo"),
        "the flagged part is masked: {screen}"
    );
    assert!(screen.contains("USD 50.00"), "{screen}");
    // Enter releases the selected (oldest) one into the queue, once.
    let asked = app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    assert_eq!(
        asked,
        vec![clank::session::Request::ReleaseHeld {
            platform: Platform::Youtube,
            message_id: "h1".into()
        }]
    );
    // x discards the next; the list shrinks before the runtime answers.
    let asked = app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::NONE,
    )));
    assert_eq!(
        asked,
        vec![clank::session::Request::DiscardHeld {
            platform: Platform::Twitch,
            message_id: "h2".into()
        }]
    );
    assert!(app.held().is_empty());
    let again = app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    assert!(again.is_empty(), "nothing left to decide: {again:?}");
}

/// Team mode: the header's third row lists the connected consoles, which
/// one reads the channel (with the state it published) and marks this
/// console; a draft of the reader's shows who drafted and approved it.
#[test]
fn team_header_and_a_shared_draft() {
    use clank::model::{AttentionState, DraftState};
    use clank::session::TeamView;
    use clank::store::team::TeamMember;
    let mut app = busy_app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Team(TeamView {
        me: "bob@desk#2".into(),
        members: vec![
            TeamMember {
                member: "alice@studio#1".into(),
                reads: vec!["twitch #mika".into()],
            },
            TeamMember {
                member: "bob@desk#2".into(),
                reads: vec![],
            },
        ],
        reader_attention: Some(("alice@studio#1".into(), AttentionState::DeepFocus)),
    })));
    let mut d = testkit::draft(90, "m-team", "thanks from the team!", DraftState::Sending);
    d.team =
        Some("drafted by alice@studio#1 · approved by here · sent through alice@studio#1".into());
    app.handle(AppEvent::Update(Update::Draft(d)));
    check("team", &mut app);
}
