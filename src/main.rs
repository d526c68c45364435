//! The `clank` binary: parse the command line and hand over to the library.
#![forbid(unsafe_code)]

fn main() {}
