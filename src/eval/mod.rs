//! Measures how clank judges chat: what the input filter stops or holds
//! (`clank filter`), and how salience ranks a labelled chat log against a
//! streamer's own tiers (`clank eval`).

pub mod filter;
pub mod labels;
