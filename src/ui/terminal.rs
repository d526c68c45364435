//! The console's event loop and terminal handling: one `select!` over
//! crossterm's event stream, the runtime's updates and a frame deadline that
//! is armed only when something changed, so an idle console sleeps. The
//! terminal is restored on quit, on error and on panic.

use std::io::{self, Stdout};
use std::sync::Once;
use std::time::Duration;

use chrono::{Local, Offset, Utc};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::UiError;
use super::app::{App, AppEvent};
use super::views;
use crate::config::Config;
use crate::session::{Request, Update};

/// Most updates applied between two frames, so a flood cannot starve keys.
const UPDATE_BATCH: usize = 2048;

/// Puts the terminal back the way the shell expects it.
pub fn restore() -> io::Result<()> {
    let raw = disable_raw_mode();
    let mut out = io::stdout();
    execute!(
        out,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    raw
}

/// Restores the terminal before the default panic message prints, so a panic
/// leaves a readable message in a usable shell.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = restore();
            previous(info);
        }));
    });
}

/// Raw mode and the alternate screen for as long as it lives.
struct TerminalGuard;

impl TerminalGuard {
    fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        enable_raw_mode()?;
        // From here on, any early return restores via Drop.
        let guard = TerminalGuard;
        let mut out = io::stdout();
        execute!(out, EnterAlternateScreen)?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = restore();
    }
}

fn app_event(ev: Event) -> Option<AppEvent> {
    match ev {
        Event::Key(k) => Some(AppEvent::Key(k)),
        Event::Mouse(m) => Some(AppEvent::Mouse(m)),
        Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
        _ => None,
    }
}

/// Runs the console until the operator quits. `updates` come from the
/// runtime; the operator's `requests` go back to it (ending with
/// `Request::Quit`). Logging must already go to a file, never the screen.
pub async fn run(
    config: &Config,
    updates: mpsc::Receiver<Update>,
    requests: mpsc::Sender<Request>,
    shutdown: CancellationToken,
) -> Result<(), UiError> {
    config.ui.validate()?;
    let offset = Local::now().offset().fix();
    let app = App::new(config.ui.clone(), config.salience.weights, Utc::now()).with_offset(offset);
    install_panic_hook();
    let guard = TerminalGuard::enter(config.ui.mouse)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let result = event_loop(&mut terminal, app, updates, requests, shutdown).await;
    drop(terminal);
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut app: App,
    mut updates: mpsc::Receiver<Update>,
    requests: mpsc::Sender<Request>,
    shutdown: CancellationToken,
) -> Result<(), UiError> {
    let size = terminal.size()?;
    app.handle(AppEvent::Resize(size.width, size.height));
    let min_frame = Duration::from_secs(1) / app.config.max_fps.max(1);
    let mut events = EventStream::new();
    // The clock only moves the "time in state" display: once a second is enough.
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut last_draw = Instant::now() - min_frame;
    let mut updates_open = true;
    let mut out: Vec<Request> = Vec::new();

    loop {
        let next_frame = last_draw + min_frame;
        tokio::select! {
            // SIGINT / SIGTERM: leave like `q` does, so the terminal is restored.
            _ = shutdown.cancelled() => break,
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if let Some(ev) = app_event(ev) {
                        out.extend(app.handle(ev));
                        dirty = true;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            up = updates.recv(), if updates_open => match up {
                Some(u) => {
                    app.handle(AppEvent::Update(u));
                    for _ in 0..UPDATE_BATCH {
                        match updates.try_recv() {
                            Ok(u) => { app.handle(AppEvent::Update(u)); }
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                }
                None => {
                    updates_open = false;
                    tracing::warn!("the runtime closed the update channel");
                    app.handle(AppEvent::Update(Update::Error {
                        at: Utc::now(),
                        what: "the core stopped; press q to quit".into(),
                    }));
                    dirty = true;
                }
            },
            _ = clock.tick() => {
                app.handle(AppEvent::Tick(Utc::now()));
                dirty = true;
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => {
                terminal.draw(|f| views::draw(f, &app))?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        for r in out.drain(..) {
            tracing::debug!(request = ?r, "operator request");
            if requests.send(r).await.is_err() {
                app.handle(AppEvent::Update(Update::Error {
                    at: Utc::now(),
                    what: "the core is not listening; press q to quit".into(),
                }));
                dirty = true;
                break;
            }
        }
        if app.should_quit() {
            break;
        }
    }
    Ok(())
}
