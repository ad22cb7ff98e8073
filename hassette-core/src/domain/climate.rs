//! Devices with modes: climate, cover, lock, media_player.

use super::call::typed_call;
use super::switchable::domain;
use super::value::{ha_enum, state_enum};
use super::{Domain, Entity, ServiceCall};

state_enum! {
    /// A climate entity's state: its HVAC mode.
    HvacMode {
        /// Off.
        Off = "off",
        /// Heating.
        Heat = "heat",
        /// Cooling.
        Cool = "cool",
        /// Heating or cooling to a range.
        HeatCool = "heat_cool",
        /// Automatic (schedule, AI).
        Auto = "auto",
        /// Drying.
        Dry = "dry",
        /// Fan only.
        FanOnly = "fan_only",
    }
}

ha_enum! {
    /// What a climate device is doing now (`hvac_action`).
    HvacAction {
        /// Off.
        Off = "off",
        /// Heating.
        Heating = "heating",
        /// Cooling.
        Cooling = "cooling",
        /// Drying.
        Drying = "drying",
        /// Idle.
        Idle = "idle",
        /// Running the fan.
        Fan = "fan",
        /// Preheating.
        Preheating = "preheating",
        /// Defrosting.
        Defrosting = "defrosting",
    }
}

state_enum! {
    /// A cover's state.
    CoverState {
        /// Open.
        Open = "open",
        /// Closed.
        Closed = "closed",
        /// Opening.
        Opening = "opening",
        /// Closing.
        Closing = "closing",
    }
}

state_enum! {
    /// A lock's state.
    LockState {
        /// Locked.
        Locked = "locked",
        /// Unlocked.
        Unlocked = "unlocked",
        /// Locking.
        Locking = "locking",
        /// Unlocking.
        Unlocking = "unlocking",
        /// Jammed.
        Jammed = "jammed",
        /// Open (a lock that can open the door).
        Open = "open",
        /// Opening.
        Opening = "opening",
    }
}

state_enum! {
    /// A media player's state.
    MediaPlayerState {
        /// Off.
        Off = "off",
        /// On.
        On = "on",
        /// Idle.
        Idle = "idle",
        /// Playing.
        Playing = "playing",
        /// Paused.
        Paused = "paused",
        /// Standby.
        Standby = "standby",
        /// Buffering.
        Buffering = "buffering",
    }
}

domain!(
    /// `climate`: thermostats, air conditioners.
    Climate = "climate", HvacMode
);
domain!(
    /// `cover`: blinds, garage doors.
    Cover = "cover", CoverState
);
domain!(
    /// `lock`.
    Lock = "lock", LockState
);
domain!(
    /// `media_player`.
    MediaPlayer = "media_player", MediaPlayerState
);

typed_call!(
    /// `climate.set_temperature`, being built.
    SetTemperature
);

impl SetTemperature {
    /// Also switch to this mode.
    pub fn hvac_mode(self, mode: HvacMode) -> Self {
        self.data("hvac_mode", String::from(mode))
    }
}

/// Declares `turn_on`, `turn_off` and `toggle` for a domain whose state is not on/off.
macro_rules! power {
    ($($domain:ty),+) => {$(
        impl Entity<$domain> {
            /// `turn_on`.
            pub fn turn_on(&self) -> ServiceCall {
                self.service("turn_on")
            }
            /// `turn_off`.
            pub fn turn_off(&self) -> ServiceCall {
                self.service("turn_off")
            }
            /// `toggle`.
            pub fn toggle(&self) -> ServiceCall {
                self.service("toggle")
            }
        }
    )+};
}

power!(Climate, MediaPlayer);

impl Entity<Climate> {
    /// The measured temperature (`current_temperature`).
    #[must_use]
    pub fn current_temperature(&self) -> Option<f64> {
        self.number("current_temperature")
    }
    /// The target temperature (`temperature`), in single-setpoint modes.
    #[must_use]
    pub fn target_temperature(&self) -> Option<f64> {
        self.number("temperature")
    }
    /// The measured humidity (`current_humidity`).
    #[must_use]
    pub fn current_humidity(&self) -> Option<f64> {
        self.number("current_humidity")
    }
    /// What the device is doing now.
    #[must_use]
    pub fn hvac_action(&self) -> Option<HvacAction> {
        self.attribute("hvac_action")
    }
    /// The modes it supports.
    #[must_use]
    pub fn hvac_modes(&self) -> Vec<HvacMode> {
        self.attribute("hvac_modes").unwrap_or_default()
    }
    /// The preset mode (`eco`, `away`, ...).
    #[must_use]
    pub fn preset_mode(&self) -> Option<String> {
        self.attribute("preset_mode")
    }
    /// `climate.set_temperature` to one setpoint.
    pub fn set_temperature(&self, temperature: f64) -> SetTemperature {
        SetTemperature(
            self.service("set_temperature")
                .data("temperature", temperature),
        )
    }
    /// `climate.set_temperature` to a range (`heat_cool`).
    pub fn set_temperature_range(&self, low: f64, high: f64) -> SetTemperature {
        SetTemperature(
            self.service("set_temperature")
                .data("target_temp_low", low)
                .data("target_temp_high", high),
        )
    }
    /// `climate.set_hvac_mode`.
    pub fn set_hvac_mode(&self, mode: HvacMode) -> ServiceCall {
        self.service("set_hvac_mode")
            .data("hvac_mode", String::from(mode))
    }
    /// `climate.set_preset_mode`.
    pub fn set_preset_mode(&self, mode: &str) -> ServiceCall {
        self.service("set_preset_mode").data("preset_mode", mode)
    }
}

impl Entity<Cover> {
    /// Position 0 (closed) to 100 (open), for covers that report it.
    #[must_use]
    pub fn current_position(&self) -> Option<u8> {
        self.attribute("current_position")
    }
    /// Whether it is open (or opening).
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(self.state(), CoverState::Open | CoverState::Opening)
    }
    /// `cover.open_cover`.
    pub fn open(&self) -> ServiceCall {
        self.service("open_cover")
    }
    /// `cover.close_cover`.
    pub fn close(&self) -> ServiceCall {
        self.service("close_cover")
    }
    /// `cover.stop_cover`.
    pub fn stop(&self) -> ServiceCall {
        self.service("stop_cover")
    }
    /// `cover.toggle`.
    pub fn toggle(&self) -> ServiceCall {
        self.service("toggle")
    }
    /// `cover.set_cover_position`, 0 (closed) to 100 (open).
    pub fn set_position(&self, position: u8) -> ServiceCall {
        self.service("set_cover_position")
            .data("position", position.min(100))
    }
}

typed_call!(
    /// `lock.lock`, `lock.unlock` or `lock.open`, being built.
    LockCall
);

impl LockCall {
    /// The lock's code, for locks that need one.
    pub fn code(self, code: &str) -> Self {
        self.data("code", code)
    }
}

impl Entity<Lock> {
    /// Whether it is locked.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.state() == LockState::Locked
    }
    /// `lock.lock`.
    pub fn lock(&self) -> LockCall {
        LockCall(self.service("lock"))
    }
    /// `lock.unlock`.
    pub fn unlock(&self) -> LockCall {
        LockCall(self.service("unlock"))
    }
    /// `lock.open` (unlatch the door).
    pub fn open(&self) -> LockCall {
        LockCall(self.service("open"))
    }
}

impl Entity<MediaPlayer> {
    /// Volume 0.0 to 1.0.
    #[must_use]
    pub fn volume_level(&self) -> Option<f64> {
        self.number("volume_level")
    }
    /// Whether it is muted.
    #[must_use]
    pub fn is_volume_muted(&self) -> Option<bool> {
        self.attribute("is_volume_muted")
    }
    /// The title of what plays.
    #[must_use]
    pub fn media_title(&self) -> Option<String> {
        self.attribute("media_title")
    }
    /// The artist of what plays.
    #[must_use]
    pub fn media_artist(&self) -> Option<String> {
        self.attribute("media_artist")
    }
    /// The selected source.
    #[must_use]
    pub fn source(&self) -> Option<String> {
        self.attribute("source")
    }
    /// Whether it plays.
    #[must_use]
    pub fn is_playing(&self) -> bool {
        self.state() == MediaPlayerState::Playing
    }
    /// `media_player.media_play`.
    pub fn play(&self) -> ServiceCall {
        self.service("media_play")
    }
    /// `media_player.media_pause`.
    pub fn pause(&self) -> ServiceCall {
        self.service("media_pause")
    }
    /// `media_player.media_stop`.
    pub fn stop(&self) -> ServiceCall {
        self.service("media_stop")
    }
    /// `media_player.media_play_pause`.
    pub fn play_pause(&self) -> ServiceCall {
        self.service("media_play_pause")
    }
    /// `media_player.volume_set`, 0.0 to 1.0.
    pub fn set_volume(&self, level: f64) -> ServiceCall {
        self.service("volume_set")
            .data("volume_level", level.clamp(0.0, 1.0))
    }
    /// `media_player.volume_mute`.
    pub fn mute(&self, muted: bool) -> ServiceCall {
        self.service("volume_mute").data("is_volume_muted", muted)
    }
    /// `media_player.select_source`.
    pub fn select_source(&self, source: &str) -> ServiceCall {
        self.service("select_source").data("source", source)
    }
    /// `media_player.play_media`.
    pub fn play_media(&self, content_id: &str, content_type: &str) -> ServiceCall {
        self.service("play_media")
            .data("media_content_id", content_id)
            .data("media_content_type", content_type)
    }
}
