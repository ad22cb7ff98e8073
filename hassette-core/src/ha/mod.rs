//! The Home Assistant websocket client (issue 4).
