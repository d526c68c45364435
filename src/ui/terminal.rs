//! The console's event loop and terminal handling: one `select!` over
//! crossterm's event stream, the runtime's updates and a frame deadline that
//! is armed only when something changed, so an idle console sleeps. The
//! terminal is restored on quit, on error and on panic.

use std::io::{self, BufWriter, Stdout};
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

/// Updates since the last frame above which chat counts as a flood (600 a
/// second at 30 fps).
const FLOOD_UPDATES: usize = 20;

/// Under a flood, a frame that only shows new chat comes at most this often:
/// nobody reads 1,000 messages a second line by line, and a frame of a
/// scrolling 200x50 console costs ~1.3 ms (a third of clank's CPU at 1,000
/// msgs/s at 30 fps). A key still redraws at `ui.max_fps`.
const FLOOD_FRAME: Duration = Duration::from_millis(100);

/// Updates within one [`FLOOD_FRAME`] above which the flood is heavy (600
/// a second and more, a raid or an emote wall on a big channel).
const HEAVY_FLOOD_UPDATES: usize = 60;

/// Under a heavy flood a chat-only frame comes at most this often (5 fps):
/// each frame then replaces the whole chat pane, so drawing it twice as
/// often shows nothing more, while frames were a third of clank's CPU at
/// 1,000 msgs/s (the drawing, and writing ~30 KiB of escape codes a frame to
/// the terminal, whose own work on them is on top). Measured with the
/// release binary at 1,000 msgs/s: the console thread 7.4-9.0 -> 4.8-5.3
/// us/msg. The queue and the state change four times a second anyway (the
/// snapshots), and a key still redraws at `ui.max_fps`.
const HEAVY_FLOOD_FRAME: Duration = Duration::from_millis(200);

/// The least time between the last frame and the next: `min_frame`
/// (`ui.max_fps`), or [`FLOOD_FRAME`] or [`HEAVY_FLOOD_FRAME`] when only a
/// flood of chat changed.
fn frame_gap(min_frame: Duration, input_since_draw: bool, updates_since_draw: usize) -> Duration {
    if input_since_draw {
        min_frame
    } else if updates_since_draw > HEAVY_FLOOD_UPDATES {
        HEAVY_FLOOD_FRAME.max(min_frame)
    } else if updates_since_draw > FLOOD_UPDATES {
        FLOOD_FRAME.max(min_frame)
    } else {
        min_frame
    }
}

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

/// Bytes of escape codes a frame is gathered in before it is written (a
/// full redraw of a 200x50 console is ~30 KiB; ratatui flushes each frame).
const FRAME_BUFFER: usize = 64 * 1024;

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
    // A frame goes to the terminal in one write: through `Stdout` alone it
    // went in 1 KiB pieces (five or six writes a frame under a flood), and
    // a terminal may show a half-drawn frame between them.
    let out = BufWriter::with_capacity(FRAME_BUFFER, io::stdout());
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    terminal.clear()?;
    let result = event_loop(&mut terminal, app, updates, requests, shutdown).await;
    drop(terminal);
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<BufWriter<Stdout>>>,
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
    // What the next frame shows: the operator's own input (keys, mouse,
    // resize) never waits longer than `min_frame`.
    let mut input_since_draw = false;
    let mut updates_since_draw = 0usize;

    loop {
        let next_frame = last_draw + frame_gap(min_frame, input_since_draw, updates_since_draw);
        tokio::select! {
            // SIGINT / SIGTERM: leave like `q` does, so the terminal is restored.
            _ = shutdown.cancelled() => break,
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if let Some(ev) = app_event(ev) {
                        out.extend(app.handle(ev));
                        dirty = true;
                        input_since_draw = true;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            up = updates.recv(), if updates_open => match up {
                Some(u) => {
                    app.handle(AppEvent::Update(u));
                    updates_since_draw += 1;
                    for _ in 0..UPDATE_BATCH {
                        match updates.try_recv() {
                            Ok(u) => { app.handle(AppEvent::Update(u)); }
                            Err(_) => break,
                        }
                        updates_since_draw += 1;
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
                input_since_draw = false;
                updates_since_draw = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_30_FPS: Duration = Duration::from_millis(33);

    #[test]
    fn ordinary_chat_redraws_at_max_fps() {
        assert_eq!(frame_gap(FRAME_30_FPS, false, 0), FRAME_30_FPS);
        assert_eq!(frame_gap(FRAME_30_FPS, false, FLOOD_UPDATES), FRAME_30_FPS);
    }

    #[test]
    fn a_flood_of_chat_redraws_at_most_ten_times_a_second() {
        assert_eq!(
            frame_gap(FRAME_30_FPS, false, FLOOD_UPDATES + 1),
            FLOOD_FRAME
        );
        assert_eq!(
            frame_gap(FRAME_30_FPS, false, HEAVY_FLOOD_UPDATES),
            FLOOD_FRAME
        );
        // A slower max_fps than the flood's stays as configured.
        let one_fps = Duration::from_secs(1);
        assert_eq!(frame_gap(one_fps, false, 5_000), one_fps);
    }

    #[test]
    fn a_heavy_flood_redraws_at_most_five_times_a_second() {
        // Past the mark within one flood frame (600 a second or more).
        assert_eq!(
            frame_gap(FRAME_30_FPS, false, HEAVY_FLOOD_UPDATES + 1),
            HEAVY_FLOOD_FRAME
        );
        assert_eq!(frame_gap(FRAME_30_FPS, false, 5_000), HEAVY_FLOOD_FRAME);
    }

    #[test]
    fn a_key_during_a_flood_redraws_at_max_fps() {
        assert_eq!(frame_gap(FRAME_30_FPS, true, 5_000), FRAME_30_FPS);
    }
}
