//! `kubectl workflow`: the kubectl plugin for kwf Workflows.
//!
//! `render` turns Workflows into text (pure, snapshot-tested); `cli` is the command line;
//! `commands` execute it, each with a [`session::Session`] (the cluster and the [`terminal`])
//! or, offline, the terminal alone; `kubeconfig` and `watch` are the rest of the thin layer that
//! talks to the API server, `errors`, `labels` and `manifests` pure helpers, and `convert`
//! maps the documents of the systems kwf grows from (kopf, KubeCI, JobFlow, oaat) to kwf's.

pub mod cli;
pub mod commands;
pub mod convert;
pub mod errors;
pub mod kubeconfig;
pub mod labels;
pub mod manifests;
pub mod object_arg;
pub mod render;
pub mod request_log;
pub mod session;
pub mod terminal;
pub mod watch;
