//! Measures how clank judges chat: what the input filter stops or holds
//! (`clank filter`), how salience ranks a labelled chat log against a
//! streamer's own tiers (`clank eval`), and how it agreed with the operator's
//! own choices (`clank eval --from-db`).

pub mod filter;
pub mod labels;
pub mod operator;
