//! Websocket client and fake Home Assistant tests (issue 4).
