//! `kubectl workflow`: the kubectl plugin for kwf Workflows.
//!
//! `render` turns Workflows into text (pure, snapshot-tested); `cli` is the command line;
//! `commands` run it, through the thin layer that talks to the API server (`connect`,
//! `watch`) and pure helpers (`errors`, `labels`, `manifests`, `style`).

pub mod cli;
pub mod commands;
pub mod connect;
pub mod errors;
pub mod labels;
pub mod manifests;
pub mod output;
pub mod render;
pub mod style;
pub mod watch;
