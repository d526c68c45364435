//! Pure decision logic: no I/O, no wall clock. Time comes in as arguments and
//! randomness from a seeded RNG, so hours of chat can be simulated in a test.

pub mod attention;
pub mod commands;
pub mod filter;
pub mod lexicon;
pub mod queue;
pub mod salience;
pub mod triggers;
pub mod tuning;
