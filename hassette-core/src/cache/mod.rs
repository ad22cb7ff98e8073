//! The per-app-class persistent cache (issue 3).
