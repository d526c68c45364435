//! Console frame cost: one full `draw` of the busy console with 10k messages
//! of scrollback (target: at most 4 ms per frame), with and without a chat
//! filter, and the cost of applying one chat update.

use std::hint::black_box;

use clank::session::Update;
use clank::ui::UiConfig;
use clank::ui::app::{AppEvent, ChatFilter};
use clank::ui::testkit::{busy_app, flood, message, salience};
use clank::ui::views;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn frames(c: &mut Criterion) {
    let mut app = busy_app(UiConfig::default());
    flood(&mut app, 10_000);
    for (w, h) in [(80u16, 24u16), (160, 48), (240, 70)] {
        let Ok(mut term) = Terminal::new(TestBackend::new(w, h));
        c.bench_function(&format!("frame_10k_scrollback_{w}x{h}"), |b| {
            b.iter(|| {
                let Ok(_) = term.draw(|f| views::draw(f, black_box(&app)));
            })
        });
    }
    // A filter that matches one message in a hundred: the chat view must walk
    // far back through the scrollback to fill the pane.
    app.filter = ChatFilter::parse("viewer42");
    let Ok(mut term) = Terminal::new(TestBackend::new(160, 48));
    c.bench_function("frame_10k_scrollback_sparse_filter_160x48", |b| {
        b.iter(|| {
            let Ok(_) = term.draw(|f| views::draw(f, black_box(&app)));
        })
    });
    app.filter = ChatFilter::parse("nobody-says-this");
    c.bench_function("frame_10k_scrollback_filter_matches_nothing_160x48", |b| {
        b.iter(|| {
            let Ok(_) = term.draw(|f| views::draw(f, black_box(&app)));
        })
    });
}

fn updates(c: &mut Criterion) {
    let mut app = busy_app(UiConfig::default());
    flood(&mut app, 10_000);
    // Shared, as the conductor sends them.
    let m = std::sync::Arc::new(message(
        clank::model::Platform::Twitch,
        "x",
        "viewer",
        "what build is this?",
        5,
    ));
    let s = std::sync::Arc::new(salience(0.5, 0.5, 0.5, 0.5));
    c.bench_function("apply_chat_update_at_10k_scrollback", |b| {
        b.iter(|| {
            app.handle(AppEvent::Update(Update::Chat {
                message: m.clone(),
                salience: Some(s.clone()),
            }))
        })
    });
}

criterion_group!(benches, frames, updates);
criterion_main!(benches);
