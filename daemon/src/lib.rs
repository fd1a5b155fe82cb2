//! lcd: the daemon that stores every command typed in zsh and bash, and the
//! command-line tool that sets it up and reads the history back.
//!
//! The modules follow a record's path: [`server`] accepts frames on the
//! socket, [`ingest`] validates and batches them, [`store`] writes and reads
//! SQLite. [`cli`] holds one file per subcommand.

pub mod cli;
pub mod config;
pub mod enrich;
pub mod forward;
pub mod ingest;
pub mod paths;
pub mod server;
pub mod service;
pub mod store;
pub mod time;
