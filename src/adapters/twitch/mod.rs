//! The Twitch chat adapter: reads channels over IRC (twitch-irc's transport
//! and parser under our own supervised session), maps messages to
//! [`Inbound`](crate::adapters::Inbound) events, sends drafts safely, and
//! reads raw IRC captures for `clank replay`.
//!
//! Why not `twitch_irc::TwitchIRCClient`: its connections are opened inside
//! tasks it spawns, through `MakeConnection::new_socket()`, which takes no
//! arguments, so a configured address could only reach it through process-wide
//! state; and it reconnects on its own without telling the caller, so the
//! operator could not see "reconnecting in N s" nor could tests drive the
//! backoff. We use its public `TCPTransport<C: MakeConnection>` with our own
//! connector ([`connect::ConfiguredConnector`]), its IRC parser and its typed
//! `ServerMessage`s, and run connection, login, PING and backoff ourselves.

pub mod connect;
pub mod map;
pub mod send;
pub mod session;

pub use connect::{Endpoint, validate_transport};
pub use map::{
    IrcCaptureReader, is_irc_line, map_line, map_server_message, read_irc_capture,
    read_irc_capture_events,
};
pub use send::{SendLimits, clean_outgoing};
pub use session::{AdapterGone, Backoff, TwitchAdapter, TwitchHandle, TwitchOptions, run, spawn};
