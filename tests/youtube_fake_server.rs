//! Not a check: the YouTube fake as a server, for trying the `clank` binary
//! by hand against it (login, reading by streaming, a send). Ignored, so
//! `cargo test` never runs it; start it with
//! `FAKE_YT_ADDR=127.0.0.1:18181 cargo test --test youtube_fake_server -- --ignored --nocapture`
//! and point `[youtube] api_url` and `oauth_url` at it (client id and secret
//! as in `tests/support/fake_youtube.rs`). It pushes a chat line every 3 s,
//! drops each stream after 20 pages, and approves a login on the second poll.

mod support;

use std::time::Duration;

use support::fake_youtube::{DeviceOutcome, FakeYoutube, StreamMode, Video, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a server for manual runs, not a check"]
async fn serve_the_fake_for_manual_runs() {
    let addr = std::env::var("FAKE_YT_ADDR").unwrap_or_else(|_| "127.0.0.1:18181".into());
    let fake = FakeYoutube::start_at(&addr, vec![Video::Live("chat-manual".into())]).await;
    {
        let mut s = fake.state.lock().unwrap();
        s.stream = StreamMode::PagesThenDrop(20);
        s.device = DeviceOutcome::ApproveAfter(1);
        s.broadcast = Some(("vid_manual_01".into(), "chat-manual".into()));
        s.token = String::new();
    }
    println!("fake YouTube at {}", fake.base_url());
    let lines = [
        "hi chat!",
        "what build are you running?",
        "that boss fight was wild",
        "@mika how long have you been playing this?",
    ];
    for i in 0.. {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let who = format!("viewer{}", i % 7);
        fake.push([text(&format!("m{i}"), &who, lines[i % lines.len()])]);
        let sent = fake.state.lock().unwrap().inserted.clone();
        if !sent.is_empty() && i % 10 == 0 {
            println!("inserted so far: {sent:?}");
        }
    }
}
