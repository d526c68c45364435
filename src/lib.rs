//! clank: a terminal operator console for live streamers.
//!
//! - [`adapters`]: platform adapters (Twitch) and the Inbound/Outbound contract.
//! - [`auth`]: platform logins (Twitch OAuth device flow), tokens sealed at rest.
//! - [`model`]: the shared vocabulary (messages, authors, priorities, states, drafts).
//! - [`chatlog`]: the JSON Lines chat log that replay, score, demo and export use.
//! - [`validate`]: the config error type and range checks every section uses (a leaf).
//! - [`config`]: defaults < file < environment < CLI, validated, secrets hidden.
//! - [`engine`]: pure logic (filter, salience, queue, attention, triggers, commands).
//! - [`store`]: SQLite on its own thread behind a handle.
//! - [`core`]: wires filter -> store -> salience -> queue -> attention -> triggers.
//! - [`session`]: what the runtime tells the console and headless log, and what they ask.
//! - [`replay`]: the `score`, `replay` and `export` commands on top of the core.
//! - [`eval`]: how clank judges chat, measured: `clank filter`, `clank eval`.
//! - [`ui`]: the ratatui operator console, a view over [`session`].
//! - [`integrations`]: the autonomous agent (context out, guidance in) and the avatar.
//! - [`runtime`]: the running clank: sources -> core thread -> drafts -> sinks.
//! - [`headless`]: `--auto`: the runtime with no UI, one JSON line per event.
//! - [`signals`]: SIGINT and SIGTERM shut the run down cleanly.
#![forbid(unsafe_code)]

pub mod adapters;
pub mod auth;
pub mod chatlog;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod eval;
pub mod headless;
pub mod integrations;
pub mod live;
pub mod logging;
pub mod model;
pub mod replay;
pub mod reply;
pub mod runtime;
pub mod secret;
pub mod session;
pub mod signals;
pub mod store;
pub mod team;
pub mod ui;
pub mod validate;
