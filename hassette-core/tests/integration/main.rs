//! Integration tests for `hassette-core`, one module per area.

mod cache;
mod ha;
