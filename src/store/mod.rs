//! SQLite on its own thread behind a handle (to be written).
