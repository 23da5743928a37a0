//! One module per subcommand: its clap arguments and its `run`.

pub mod baseline;
pub mod bench;
pub mod data;
pub mod eval;
pub mod inspect;
pub mod predict;
pub mod selftest;
pub mod serve;
pub mod train;
