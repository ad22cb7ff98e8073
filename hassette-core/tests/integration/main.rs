//! Integration tests for `hassette-core`, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod cache;
mod config;
mod generated;
mod ha;
mod logging;
mod runtime;
mod scheduler;
mod web;
