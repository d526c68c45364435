//! Every console key and state change through `App::handle`: what it asks of
//! the runtime and what the operator then sees.

use clank::model::{AttentionState, DraftState, DraftView, Platform};
use clank::session::{Request, SystemKind, Update};
use clank::ui::app::{AppEvent, Asked, Focus, Mode};
use clank::ui::testkit::{self, busy_app, draft, render, undelivered_app};
use clank::ui::{App, UiConfig};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, code: KeyCode) -> Vec<Request> {
    app.handle(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Request> {
    key(app, KeyCode::Char(c))
}

fn ctrl(app: &mut App, c: char) -> Vec<Request> {
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        ch(app, c);
    }
}

fn one_pending() -> App {
    let mut app = testkit::app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Draft(draft(
        1,
        "m1",
        "hello there",
        DraftState::Pending,
    ))));
    app.focus = Focus::Drafts;
    app
}

#[test]
fn approve_sends_exactly_once() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'y'), vec![Request::Approve(1)]);
    assert_eq!(ch(&mut app, 'y'), vec![]);
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
    // The runtime confirming the approval changes nothing either.
    app.handle(AppEvent::Update(Update::Draft(draft(
        1,
        "m1",
        "hello there",
        DraftState::Approved,
    ))));
    assert_eq!(ch(&mut app, 'y'), vec![]);
}

#[test]
fn enter_approves_too_and_moves_on_to_the_next_draft() {
    let mut app = one_pending();
    app.handle(AppEvent::Update(Update::Draft(draft(
        2,
        "m2",
        "second",
        DraftState::Pending,
    ))));
    assert_eq!(key(&mut app, KeyCode::Enter), vec![Request::Approve(1)]);
    assert_eq!(key(&mut app, KeyCode::Enter), vec![Request::Approve(2)]);
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
}

#[test]
fn streaming_drafts_cannot_be_approved_until_pending() {
    let mut app = testkit::app(UiConfig::default());
    app.focus = Focus::Drafts;
    app.handle(AppEvent::Update(Update::Draft(draft(
        4,
        "m1",
        "hel",
        DraftState::Streaming,
    ))));
    assert_eq!(ch(&mut app, 'y'), vec![]);
    app.handle(AppEvent::Update(Update::Draft(draft(
        4,
        "m1",
        "hello",
        DraftState::Pending,
    ))));
    assert_eq!(ch(&mut app, 'y'), vec![Request::Approve(4)]);
}

#[test]
fn edit_sends_the_edited_text() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'e'), vec![]);
    assert!(matches!(app.mode, Mode::Edit { draft: 1, .. }));
    // Keys now go to the editor, not the keymap: 'y' and 'x' are text.
    for _ in 0.."there".len() {
        key(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "you, xy");
    assert_eq!(
        ctrl(&mut app, 's'),
        vec![Request::Edit(1, "hello you, xy".into())]
    );
    assert!(matches!(app.mode, Mode::Normal));
    // Edited once: neither approve nor another edit sends again.
    assert_eq!(ch(&mut app, 'y'), vec![]);
    assert_eq!(ch(&mut app, 'e'), vec![]);
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn edit_with_enter_sends_and_esc_cancels() {
    let mut app = one_pending();
    ch(&mut app, 'e');
    typed(&mut app, "!");
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert!(matches!(app.mode, Mode::Normal));
    // Cancelled: the draft is still approvable as it was.
    ch(&mut app, 'e');
    typed(&mut app, "!!");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Request::Edit(1, "hello there!!".into())]
    );
}

#[test]
fn editing_to_nothing_sends_nothing() {
    let mut app = one_pending();
    ch(&mut app, 'e');
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
    assert!(matches!(app.mode, Mode::Edit { .. }));
}

#[test]
fn reject_withdraws_once() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'x'), vec![Request::Reject(1)]);
    assert_eq!(ch(&mut app, 'x'), vec![]);
    assert_eq!(ch(&mut app, 'y'), vec![]);
}

#[test]
fn regenerate_asks_again_and_the_new_stream_can_be_approved() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'r'), vec![Request::Regenerate(1)]);
    assert_eq!(ch(&mut app, 'r'), vec![]);
    app.handle(AppEvent::Update(Update::Draft(draft(
        1,
        "m1",
        "new",
        DraftState::Streaming,
    ))));
    app.handle(AppEvent::Update(Update::Draft(draft(
        1,
        "m1",
        "new text",
        DraftState::Pending,
    ))));
    assert_eq!(ch(&mut app, 'y'), vec![Request::Approve(1)]);
}

#[test]
fn auto_send_toggles() {
    let mut app = testkit::app(UiConfig::default());
    assert_eq!(ch(&mut app, 'a'), vec![Request::SetAutoSend(true)]);
    assert!(app.auto_send);
    assert!(
        render(&app, 80, 24)
            .lines()
            .next()
            .unwrap()
            .contains("auto ON")
    );
    assert_eq!(ch(&mut app, 'a'), vec![Request::SetAutoSend(false)]);
    assert!(
        render(&app, 80, 24)
            .lines()
            .next()
            .unwrap()
            .contains("auto off")
    );
}

#[test]
fn pause_stops_output_and_the_header_says_so() {
    let mut app = testkit::app(UiConfig::default());
    assert!(!render(&app, 80, 24).contains("PAUSED"));
    assert_eq!(ch(&mut app, 'p'), vec![Request::SetPaused(true)]);
    let header: String = render(&app, 80, 24).lines().take(2).collect();
    assert!(header.contains("PAUSED"), "{header}");
    assert_eq!(ch(&mut app, 'p'), vec![Request::SetPaused(false)]);
    assert!(!render(&app, 80, 24).contains("PAUSED"));
}

#[test]
fn snapshots_are_the_truth_for_auto_and_pause() {
    let mut app = testkit::app(UiConfig::default());
    let mut s = testkit::snapshot(vec![]);
    s.paused = true;
    s.auto_send = true;
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(s))));
    assert!(app.paused && app.auto_send);
    assert_eq!(ch(&mut app, 'p'), vec![Request::SetPaused(false)]);
}

#[test]
fn topic_prompt_sets_the_topic() {
    let mut app = testkit::app(UiConfig::default());
    assert_eq!(ch(&mut app, 't'), vec![]);
    typed(&mut app, "malenia");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Request::SetTopic("malenia".into())]
    );
    ch(&mut app, 't');
    typed(&mut app, "abc");
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn state_picker_forces_the_chosen_state() {
    let mut app = testkit::app(UiConfig::default());
    ch(&mut app, 's');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Request::ForceState(AttentionState::DeepFocus)]
    );
    ch(&mut app, 's');
    assert_eq!(
        ch(&mut app, '4'),
        vec![Request::ForceState(AttentionState::BreakTransition)]
    );
    ch(&mut app, 's');
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert!(matches!(app.mode, Mode::Normal));
}

/// The ids in the order the queue pane lists them.
fn queue_ids(app: &App) -> Vec<String> {
    app.ranked().iter().map(|i| i.message.id.clone()).collect()
}

#[test]
fn weights_go_to_the_runtime_and_its_snapshot_reorders_the_queue() {
    let mut app = busy_app(UiConfig::default());
    let before = queue_ids(&app);
    ch(&mut app, 'w');
    // Content weight to zero, authority up: the order must follow.
    let mut sent = Vec::new();
    for _ in 0..10 {
        sent.extend(ch(&mut app, 'h'));
    }
    ch(&mut app, 'j');
    for _ in 0..12 {
        sent.extend(ch(&mut app, 'l'));
    }
    let last = match sent.last() {
        Some(Request::SetWeights(w)) => *w,
        other => panic!("expected SetWeights, got {other:?}"),
    };
    assert!(last.content < 0.01, "{last:?}");
    assert!((last.authority - 0.85).abs() < 1e-9, "{last:?}");
    assert_eq!(app.weights, last);
    // The console does not rank: the order waits for the runtime.
    assert_eq!(queue_ids(&app), before);

    testkit::answer_weights(&mut app, last);
    assert_ne!(queue_ids(&app), before, "the runtime's re-ranking shows");
    for pair in app.ranked().windows(2) {
        let (a, b) = (&pair[0].salience, &pair[1].salience);
        assert!(a.priority > b.priority || (a.priority == b.priority && a.score >= b.score));
    }
    // A snapshot with the old weights while tuning does not undo the tuning.
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(
        testkit::snapshot(vec![]),
    ))));
    assert_eq!(app.weights, last);
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn weights_never_all_zero() {
    let mut app = testkit::app(UiConfig::default());
    ch(&mut app, 'w');
    let mut sent = Vec::new();
    for f in 0..4 {
        for _ in 0..30 {
            sent.extend(ch(&mut app, 'h'));
        }
        if f < 3 {
            ch(&mut app, 'j');
        }
    }
    for r in &sent {
        let Request::SetWeights(w) = r else {
            panic!("{r:?}")
        };
        assert!(w.validate().is_ok(), "{w:?}");
    }
}

#[test]
fn filter_narrows_the_chat_by_text_user_and_platform() {
    let mut app = busy_app(UiConfig::default());
    ch(&mut app, '/');
    typed(&mut app, "malenia");
    key(&mut app, KeyCode::Enter);
    let shown: Vec<_> = app.chat.iter().filter(|l| app.chat_visible(l)).collect();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].message().unwrap().author.name, "Kenji");

    ch(&mut app, '/');
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "platform:discord");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.chat
            .iter()
            .filter(|l| app.chat_visible(l))
            .all(|l| l.platform() == Platform::Discord)
    );
    assert_eq!(app.chat.iter().filter(|l| app.chat_visible(l)).count(), 2);

    ch(&mut app, '/');
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "user:sor");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.chat.iter().filter(|l| app.chat_visible(l)).count(), 1);
    assert!(render(&app, 80, 24).contains("[/user:sor]"));

    // An empty filter shows everything again.
    ch(&mut app, '/');
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    key(&mut app, KeyCode::Enter);
    assert!(app.filter.is_none());
}

#[test]
fn deleted_messages_are_struck_or_removed() {
    let app = busy_app(UiConfig::default());
    let deleted = app
        .chat
        .iter()
        .find(|l| l.message().is_some_and(|m| m.id == "m4"))
        .unwrap();
    assert!(deleted.deleted());
    assert!(app.chat_visible(deleted));
    assert!(render(&app, 160, 48).contains("✗ spammer"));
    let app = busy_app(UiConfig {
        show_deleted: clank::ui::ShowDeleted::Removed,
        ..Default::default()
    });
    assert!(!render(&app, 160, 48).contains("spammer"));
}

#[test]
fn a_ban_strikes_every_message_of_the_author_in_that_channel_only() {
    let mut app = testkit::app(UiConfig::default());
    for (id, name, platform) in [
        ("b1", "troll", Platform::Twitch),
        ("b2", "kind", Platform::Twitch),
        ("b3", "troll", Platform::Twitch),
        ("b4", "troll", Platform::Youtube),
    ] {
        app.handle(AppEvent::Update(Update::Chat {
            message: testkit::message(platform, id, name, "hello", 1).into(),
            salience: None,
        }));
    }
    app.handle(AppEvent::Update(Update::AuthorRemoved {
        platform: Platform::Twitch,
        channel: "mika".into(),
        author_id: "u-troll".into(),
    }));
    let struck: Vec<&str> = app
        .chat
        .iter()
        .filter(|l| l.deleted())
        .filter_map(|l| l.message().map(|m| m.id.as_str()))
        .collect();
    assert_eq!(struck, vec!["b1", "b3"]);
}

#[test]
fn focus_cycles_and_j_k_move_within_the_pane() {
    let mut app = busy_app(UiConfig::default());
    assert_eq!(app.focus, Focus::Queue);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Drafts);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Chat);
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(app.focus, Focus::Drafts);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Focus::Queue);

    assert_eq!(app.queue_selected(), Some(0));
    ch(&mut app, 'j');
    key(&mut app, KeyCode::Down);
    assert_eq!(app.queue_selected(), Some(2));
    ch(&mut app, 'k');
    assert_eq!(app.queue_selected(), Some(1));
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('G'),
        KeyModifiers::SHIFT,
    )));
    assert_eq!(app.queue_selected(), Some(app.ranked().len() - 1));
    ch(&mut app, 'g');
    assert_eq!(app.queue_selected(), Some(0));

    // Chat: k scrolls back, j forward, never past the newest.
    app.focus = Focus::Chat;
    ch(&mut app, 'k');
    ch(&mut app, 'k');
    assert_eq!(app.chat_scroll, 2);
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.chat_scroll, 0);
}

#[test]
fn the_queue_selection_follows_its_message_through_re_ranking() {
    let mut app = busy_app(UiConfig::default());
    ch(&mut app, 'j');
    let key_before = app.selected_item().unwrap().message.id.clone();
    let pos_before = app.queue_selected();
    ch(&mut app, 'w');
    let mut last = app.weights;
    for _ in 0..10 {
        if let Some(Request::SetWeights(w)) = ch(&mut app, 'h').pop() {
            last = w;
        }
    }
    key(&mut app, KeyCode::Esc);
    testkit::answer_weights(&mut app, last);
    assert_ne!(app.queue_selected(), pos_before, "the message moved");
    assert_eq!(app.selected_item().unwrap().message.id, key_before);
}

#[test]
fn enter_on_a_queued_message_without_a_draft_asks_for_one() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Queue;
    // Walk to a queued message that has no draft yet.
    let mut asked = None;
    for _ in 0..app.ranked().len() {
        if app.shown_draft().is_none() {
            asked = Some(key(&mut app, KeyCode::Enter));
            break;
        }
        ch(&mut app, 'j');
    }
    let item = app.selected_item().unwrap().message.clone();
    assert_eq!(
        asked,
        Some(vec![Request::DraftFor {
            platform: item.platform,
            message_id: item.id.clone()
        }])
    );
}

#[test]
fn in_the_queue_keys_act_on_the_selected_messages_draft() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Queue;
    for _ in 0..app.ranked().len() {
        if app.shown_draft().is_some_and(|d| d.id == 8) {
            break;
        }
        ch(&mut app, 'j');
    }
    assert_eq!(app.shown_draft().map(|d| d.id), Some(8));
    assert_eq!(ch(&mut app, 'y'), vec![Request::Approve(8)]);
}

#[test]
fn quit_asks_while_drafts_are_pending() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'q'), vec![]);
    assert!(matches!(app.mode, Mode::ConfirmQuit));
    assert!(render(&app, 80, 24).contains("Quit anyway?"));
    assert_eq!(ch(&mut app, 'n'), vec![]);
    assert!(!app.should_quit());
    ch(&mut app, 'q');
    assert_eq!(ch(&mut app, 'y'), vec![Request::Quit]);
    assert!(app.should_quit());

    let mut app = testkit::app(UiConfig::default());
    assert_eq!(ch(&mut app, 'q'), vec![Request::Quit]);
    assert!(app.should_quit());
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut app = testkit::app(UiConfig::default());
    ch(&mut app, '?');
    assert!(matches!(app.mode, Mode::Help));
    assert!(render(&app, 80, 24).contains("toggle auto-send"));
    // The closing key does nothing else.
    assert_eq!(ch(&mut app, 'a'), vec![]);
    assert!(!app.auto_send);
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn a_remapped_keymap_is_honoured() {
    let mut cfg = UiConfig::default();
    cfg.keys.approve = vec!["ctrl-y".into()];
    let mut app = testkit::app(cfg);
    app.handle(AppEvent::Update(Update::Draft(draft(
        1,
        "m1",
        "x",
        DraftState::Pending,
    ))));
    app.focus = Focus::Drafts;
    assert_eq!(ch(&mut app, 'y'), vec![]);
    assert_eq!(ctrl(&mut app, 'y'), vec![Request::Approve(1)]);
}

#[test]
fn scrollback_is_bounded_and_health_and_errors_show() {
    let mut app = testkit::app(UiConfig {
        scrollback: 100,
        ..Default::default()
    });
    testkit::flood(&mut app, 250);
    assert_eq!(app.chat.len(), 100);
    assert_eq!(app.chat.front().unwrap().message().unwrap().id, "f150");
    let app = testkit::error_app(UiConfig::default());
    let screen = render(&app, 80, 24);
    assert!(screen.contains("✗ down"), "{screen}");
    assert!(screen.contains("fallback replies"), "{screen}");
    assert!(screen.contains("error: twitch: login failed"), "{screen}");
}

#[test]
fn notices_fade_after_a_while() {
    let mut app = testkit::error_app(UiConfig::default());
    app.handle(AppEvent::Tick(
        testkit::t0() + chrono::Duration::seconds(60),
    ));
    assert!(!render(&app, 80, 24).contains("login failed"));
}

#[test]
fn mouse_wheel_scrolls_and_click_focuses() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = busy_app(UiConfig::default());
    app.handle(AppEvent::Resize(80, 24));
    let at = |kind, column, row| {
        AppEvent::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.handle(at(MouseEventKind::ScrollUp, 5, 10));
    assert_eq!(app.chat_scroll, 3);
    assert_eq!(app.focus, Focus::Queue, "the wheel does not steal focus");
    app.handle(at(MouseEventKind::Down(MouseButton::Left), 5, 10));
    assert_eq!(app.focus, Focus::Chat);
    // Third row of the queue list.
    let areas = clank::ui::views::areas(ratatui::layout::Rect::new(0, 0, 80, 24), false);
    app.handle(at(
        MouseEventKind::Down(MouseButton::Left),
        areas.queue.x + 3,
        areas.queue.y + 3,
    ));
    assert_eq!(app.focus, Focus::Queue);
    assert_eq!(app.queue_selected(), Some(2));
}

#[test]
fn with_an_empty_queue_the_queue_focus_acts_on_the_drafts() {
    let mut app = one_pending();
    app.focus = Focus::Queue;
    assert_eq!(app.shown_draft().map(|d| d.id), Some(1));
    assert_eq!(ch(&mut app, 'y'), vec![Request::Approve(1)]);
}

fn verdict(id: i64, state: DraftState, why: &str) -> Update {
    let mut d: DraftView = draft(id, "m1", "hello there", state);
    d.why = Some(why.into());
    Update::Draft(d)
}

#[test]
fn a_raid_is_a_system_line_never_struck_and_filtered_by_platform() {
    let mut app = testkit::app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Chat {
        message: testkit::message(Platform::Twitch, "c1", "Foo", "hi", 0).into(),
        salience: None,
    }));
    app.handle(AppEvent::Update(Update::System(testkit::system(
        Platform::Twitch,
        SystemKind::Raid,
        "raid from Foo with 120 viewers",
        1,
    ))));
    assert_eq!(app.chat.len(), 2);
    let raid = &app.chat[1];
    assert!(raid.message().is_none());
    assert!(
        render(&app, 80, 24).contains("20:00 TW ⚑ raid from Foo with 120 viewers"),
        "{}",
        render(&app, 80, 24)
    );
    assert!(app.current_notice().is_none(), "no longer a notice");
    // A ban of Foo strikes what Foo said, not the platform's line about Foo.
    app.handle(AppEvent::Update(Update::AuthorRemoved {
        platform: Platform::Twitch,
        channel: "mika".into(),
        author_id: "u-Foo".into(),
    }));
    assert!(app.chat[0].deleted());
    assert!(!app.chat[1].deleted());
    // Filters: the platform and words apply, a user filter hides it.
    for (filter, shown) in [
        ("raid", 1),
        ("platform:twitch", 2),
        ("platform:youtube", 0),
        ("user:foo", 1),
    ] {
        ch(&mut app, '/');
        for _ in 0..20 {
            key(&mut app, KeyCode::Backspace);
        }
        typed(&mut app, filter);
        key(&mut app, KeyCode::Enter);
        let n = app.chat.iter().filter(|l| app.chat_visible(l)).count();
        assert_eq!(n, shown, "{filter}");
    }
}

#[test]
fn a_scrolled_back_chat_stays_put_when_a_system_line_arrives() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Chat;
    ch(&mut app, 'k');
    assert_eq!(app.chat_scroll, 1);
    app.handle(AppEvent::Update(Update::System(testkit::system(
        Platform::Youtube,
        SystemKind::Sub,
        "Sora subscribed for 3 months",
        2,
    ))));
    assert_eq!(app.chat_scroll, 2);
}

#[test]
fn system_lines_have_their_own_style() {
    use ratatui::{Terminal, backend::TestBackend};
    let mut app = testkit::app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Chat {
        message: testkit::message(Platform::Twitch, "c1", "Foo", "plain text", 0).into(),
        salience: None,
    }));
    app.handle(AppEvent::Update(Update::System(testkit::system(
        Platform::Twitch,
        SystemKind::Announcement,
        "announcement: be nice",
        1,
    ))));
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| clank::ui::views::draw(f, &app)).unwrap();
    let buf = term.backend().buffer().clone();
    let style_of = |needle: &str| {
        (0..24)
            .find_map(|y| {
                let row: String = (0..80).map(|x| buf[(x, y)].symbol()).collect();
                let col = row.find(needle)?;
                let x = row[..col].chars().count() as u16;
                Some(buf[(x, y)].style())
            })
            .unwrap()
    };
    assert_eq!(style_of("announcement").fg, app.theme.system.fg);
    assert_ne!(style_of("announcement").fg, style_of("plain text").fg);
}

#[test]
fn the_not_delivered_list_opens_and_lists_newest_first_with_reasons() {
    let mut app = undelivered_app(UiConfig::default());
    let listed: Vec<_> = app.not_delivered().iter().map(|d| d.id).collect();
    assert_eq!(
        listed,
        vec![4, 3, 2],
        "unconfirmed, failed, refused; newest first"
    );
    assert_eq!(app.not_delivered_count(), 3);
    assert!(render(&app, 80, 24).contains("✗ 3 not delivered (n)"));
    assert_eq!(ch(&mut app, 'n'), vec![]);
    assert!(matches!(app.mode, Mode::NotDelivered { sel: 0 }));
    let screen = render(&app, 160, 48);
    assert!(screen.contains("why: twitch is not connected"), "{screen}");
    assert!(screen.contains("REFUSED"), "{screen}");
    // Esc and the same key close it; keys inside do nothing else.
    assert_eq!(ch(&mut app, 'a'), vec![]);
    assert!(!app.auto_send);
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode, Mode::Normal));
    ch(&mut app, 'n');
    ch(&mut app, 'n');
    assert!(matches!(app.mode, Mode::Normal));
    // Sent, pending and blocked drafts are not in it.
    assert!(app.not_delivered().iter().all(|d| d.state.not_delivered()));
}

#[test]
fn retry_in_the_list_sends_retry_once_until_a_new_verdict() {
    let mut app = undelivered_app(UiConfig::default());
    ch(&mut app, 'n');
    ch(&mut app, 'j');
    assert_eq!(ch(&mut app, 'R'), vec![Request::Retry(3)]);
    assert_eq!(ch(&mut app, 'R'), vec![], "a second press sends nothing");
    assert_eq!(
        ch(&mut app, 'D'),
        vec![],
        "nor does a discard after a retry"
    );
    assert_eq!(app.asked(3), Some(Asked::Retry));
    assert_eq!(app.not_delivered_count(), 2);
    // The runtime repeating the same verdict is no answer yet.
    app.handle(AppEvent::Update(verdict(3, DraftState::Failed, "still")));
    assert_eq!(ch(&mut app, 'R'), vec![]);
    // It went out again and was refused: that new verdict may be retried.
    app.handle(AppEvent::Update(verdict(3, DraftState::Sending, "")));
    assert!(app.not_delivered().iter().all(|d| d.id != 3));
    app.handle(AppEvent::Update(verdict(
        3,
        DraftState::Refused,
        "msg_ratelimit",
    )));
    assert_eq!(app.asked(3), None);
    // The list kept its place (second entry), so the same key retries it.
    assert_eq!(ch(&mut app, 'R'), vec![Request::Retry(3)]);
}

#[test]
fn discard_in_the_list_sends_discard_once() {
    let mut app = undelivered_app(UiConfig::default());
    ch(&mut app, 'n');
    ch(&mut app, 'G');
    assert_eq!(ch(&mut app, 'D'), vec![Request::Discard(2)]);
    assert_eq!(ch(&mut app, 'D'), vec![]);
    assert_eq!(ch(&mut app, 'R'), vec![], "no retry of a discarded draft");
    assert!(render(&app, 160, 48).contains("discard asked"));
    // Moving on acts on the next one, never twice on the same.
    ch(&mut app, 'k');
    assert_eq!(ch(&mut app, 'D'), vec![Request::Discard(3)]);
    assert_eq!(app.not_delivered_count(), 1);
}

#[test]
fn retry_and_discard_act_on_the_shown_draft_only_when_not_delivered() {
    let mut app = one_pending();
    assert_eq!(ch(&mut app, 'R'), vec![], "a pending draft is not retried");
    assert_eq!(ch(&mut app, 'D'), vec![]);
    app.handle(AppEvent::Update(verdict(1, DraftState::Sending, "")));
    assert_eq!(ch(&mut app, 'R'), vec![], "nor one in flight");
    assert_eq!(ch(&mut app, 'r'), vec![], "nor regenerated while in flight");
    app.handle(AppEvent::Update(verdict(
        1,
        DraftState::Unconfirmed,
        "no answer from twitch within 5s",
    )));
    assert!(
        render(&app, 160, 48).contains("R retry · D discard · n lists all"),
        "{}",
        render(&app, 160, 48)
    );
    assert_eq!(
        ch(&mut app, 'r'),
        vec![],
        "an unconfirmed reply may be in chat: no second draft"
    );
    assert_eq!(ch(&mut app, 'R'), vec![Request::Retry(1)]);
    assert_eq!(ch(&mut app, 'R'), vec![]);
    assert!(render(&app, 160, 48).contains("retry asked"));
}

#[test]
fn not_delivered_drafts_outlive_the_draft_limit() {
    let mut app = testkit::app(UiConfig::default());
    app.handle(AppEvent::Update(verdict(1, DraftState::Refused, "rate")));
    for id in 2..400 {
        app.handle(AppEvent::Update(Update::Draft(draft(
            id,
            "m1",
            "sent",
            DraftState::Sent,
        ))));
    }
    assert!(app.drafts.len() <= 200);
    assert_eq!(
        app.not_delivered().iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn the_not_delivered_keys_can_be_remapped() {
    let mut cfg = UiConfig::default();
    cfg.keys.not_delivered = vec!["f2".into()];
    cfg.keys.retry = vec!["ctrl-r".into()];
    cfg.keys.discard = vec!["delete".into()];
    let mut app = undelivered_app(cfg);
    assert_eq!(ch(&mut app, 'n'), vec![]);
    assert!(matches!(app.mode, Mode::Normal));
    key(&mut app, KeyCode::F(2));
    assert!(matches!(app.mode, Mode::NotDelivered { .. }));
    assert_eq!(ch(&mut app, 'R'), vec![]);
    assert_eq!(ctrl(&mut app, 'r'), vec![Request::Retry(4)]);
    ch(&mut app, 'j');
    assert_eq!(key(&mut app, KeyCode::Delete), vec![Request::Discard(3)]);
    assert!(render(&app, 80, 24).contains("C-r retry"));
    key(&mut app, KeyCode::Esc);
    ch(&mut app, '?');
    assert!(
        render(&app, 80, 24).contains("F2  list replies not delivered (C-r retry, Delete discard)")
    );
}

#[test]
fn when_the_selected_message_leaves_the_queue_the_cursor_stays_in_place() {
    let mut app = busy_app(UiConfig::default());
    app.focus = Focus::Queue;
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.queue_selected(), Some(2));
    let next = app.ranked()[3].message.id.clone();
    // The runtime took the selected message out (a draft was asked for).
    let mut queue: Vec<_> = app.ranked().to_vec();
    queue.remove(2);
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(
        testkit::snapshot(queue),
    ))));
    assert_eq!(app.queue_selected(), Some(2), "not back at the top");
    assert_eq!(app.selected_item().unwrap().message.id, next);
}

#[test]
fn the_weight_tuner_offers_the_fit_to_the_operators_choices_and_applies_it_only_on_f() {
    use clank::engine::salience::SalienceWeights;
    use clank::engine::tuning::Suggestion;
    let mut app = busy_app(UiConfig::default());
    let fitted = SalienceWeights {
        content: 0.55,
        authority: 0.1,
        relevance: 0.2,
        temporal: 0.15,
    };
    let mut snap = testkit::snapshot(vec![]);
    snap.suggestion = Some(Suggestion {
        weights: fitted,
        choices: 40,
        agreement_now: 0.62,
        agreement_suggested: 0.81,
    });
    app.handle(AppEvent::Update(Update::Snapshot(Box::new(snap))));
    // Offered, not applied.
    assert_eq!(app.weights, SalienceWeights::default());
    assert!(
        ch(&mut app, 'f').is_empty(),
        "f outside the tuner does nothing"
    );
    ch(&mut app, 'w');
    let screen = render(&app, 160, 48);
    assert!(
        screen.contains("fit to your 40 choices: c 0.55 a 0.10 r 0.20 t 0.15"),
        "{screen}"
    );
    assert!(
        screen.contains("agrees 62% → 81% · f applies it"),
        "{screen}"
    );
    assert_eq!(ch(&mut app, 'f'), vec![Request::SetWeights(fitted)]);
    assert_eq!(app.weights, fitted);
    // Applied already: pressing again asks nothing more.
    assert!(ch(&mut app, 'f').is_empty());
}

#[test]
fn a_chat_filter_matches_case_insensitively_and_leaves_the_lines_as_they_were() {
    let mut app = testkit::app(UiConfig::default());
    app.handle(AppEvent::Update(Update::Chat {
        message: testkit::message(Platform::Twitch, "c1", "FooBar", "Hello THERE", 0).into(),
        salience: None,
    }));
    let before = app.chat.clone();
    let filter = clank::ui::app::ChatFilter::parse("user:foob there").unwrap();
    assert!(filter.matches(&app.chat[0]));
    assert!(
        !clank::ui::app::ChatFilter::parse("nowhere")
            .unwrap()
            .matches(&app.chat[0])
    );
    // The lowercased copy a filter keeps is a cache, not part of the line.
    assert_eq!(app.chat, before);
}
