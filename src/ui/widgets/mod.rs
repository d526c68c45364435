//! Small drawing helpers shared by the views: span-aware wrapping, factor
//! bars and the attention timeline strip.

pub mod bars;
pub mod wrap;
