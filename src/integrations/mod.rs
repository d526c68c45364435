//! Outside services clank talks to besides chat and the LLM: the autonomous
//! agent ([`agent`]: context out, guidance in) and the VTuber avatar
//! ([`avatar`]: sent replies to speak). Both are optional and never fatal.

pub mod agent;
pub mod avatar;
