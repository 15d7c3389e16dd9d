//! `kubectl workflow`: the kubectl plugin for kwf Workflows.
//!
//! `render` turns Workflows into text (pure, snapshot-tested); everything else is the command
//! line and the thin layer that talks to the API server.

pub mod render;
