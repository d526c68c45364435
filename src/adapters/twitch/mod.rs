//! The Twitch chat adapter: reads channels over IRC (twitch-irc's transport
//! and parser, our own supervised session), maps messages to [`Inbound`]
//! events and sends drafts safely.

pub mod map;

pub use map::{IrcCaptureReader, is_irc_line, map_line, map_server_message, read_irc_capture};

#[allow(unused_imports)]
use crate::adapters::Inbound;
