//! The app model: the `App` trait and the registry of app classes.
