//! Work in progress (SHELL).
