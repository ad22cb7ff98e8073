//! Integration tests for `hassette-core`, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod app_api;
mod cache;
mod codegen;
mod config;
mod domain;
mod feed;
mod generated;
mod ha;
mod logging;
mod runtime;
mod scheduler;
mod web;
