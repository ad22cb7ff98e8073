//! What an app file needs, in one line: `use hassette_core::prelude::*;`.
//!
//! ```
//! use hassette_core::prelude::*;
//!
//! struct Hello;
//! impl App for Hello {
//!     type Config = ();
//!     type Message = ();
//!     async fn initialize(_: (), ctx: &AppContext<Self>) -> Result<Self, BoxError> {
//!         tracing::info!(instance = ctx.instance_name(), "hello");
//!         Ok(Self)
//!     }
//! }
//! ```

pub use std::sync::Arc;
pub use std::time::Duration;

pub use serde_json::{Value, json};

pub use crate::app::{App, AppContext, AppRegistry, BoxError, IntoEntities};
pub use crate::ha::{Event, State, StateChanged, Target};
