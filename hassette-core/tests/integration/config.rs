//! `hassette.toml` loading: defaults, every error message, precedence, instances, the token.

use std::path::{Path, PathBuf};

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::{Config, ConfigError, LoadOptions, Secret, load};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct LightConfig {
    sensor: String,
    light: String,
    #[serde(default)]
    brightness: Option<u8>,
}

/// Defines a config-only app type: enough for config validation.
macro_rules! config_app {
    ($name:ident, $config:ty) => {
        struct $name {
            ctx: AppContext<Self>,
        }
        impl App for $name {
            type Config = $config;
            type Message = ();
            async fn initialize(_: $config, ctx: AppContext<Self>) -> Result<Self, BoxError> {
                Ok(Self { ctx })
            }
            fn context(&self) -> &AppContext<Self> {
                &self.ctx
            }
        }
    };
}

config_app!(MotionLight, LightConfig);

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct WeatherConfig {
    #[serde(default)]
    city: String,
}

config_app!(WeatherApp, WeatherConfig);

fn registry() -> AppRegistry {
    let mut r = AppRegistry::new();
    r.register::<MotionLight>().register::<WeatherApp>();
    r
}

/// A temp dir holding `hassette.toml` with `text`.
struct Fixture {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    options: LoadOptions,
}

impl Fixture {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hassette.toml"), text).unwrap();
        let options = LoadOptions {
            cwd: Some(dir.path().to_path_buf()),
            ..LoadOptions::default()
        };
        Self {
            dir,
            env: Vec::new(),
            options,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self) -> PathBuf {
        self.path().join("hassette.toml")
    }

    fn env(mut self, var: &str, value: &str) -> Self {
        self.env.push((var.to_owned(), value.to_owned()));
        self
    }

    fn load(&self) -> Result<Config, ConfigError> {
        let mut options = self.options.clone();
        options.env = Some(self.env.clone());
        load(&options, &registry())
    }

    fn error(&self) -> String {
        match self.load() {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e
                .to_string()
                .replace(&self.file().display().to_string(), "hassette.toml"),
        }
    }
}

const APP: &str = r#"
[hassette.apps.porch]
class_name = "MotionLight"
[hassette.apps.porch.config]
sensor = "binary_sensor.porch_motion"
light = "light.porch"
"#;

#[test]
fn defaults_apply_to_an_empty_hassette_table() {
    let f = Fixture::new("[hassette]\n");
    let c = f.load().unwrap();
    assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8123/");
    assert_eq!(
        c.websocket_url.as_str(),
        "ws://127.0.0.1:8123/api/websocket"
    );
    assert!(c.verify_ssl);
    assert_eq!(c.default_cache_size, 104_857_600);
    assert_eq!(c.log_level, "INFO");
    assert_eq!(c.cache_flush_interval.as_secs(), 1);
    assert_eq!(c.command_timeout.as_secs(), 10);
    assert_eq!(c.heartbeat_interval.as_secs(), 30);
    assert_eq!(c.reconnect_max_delay.as_secs(), 60);
    assert!(c.token.is_none());
    assert!(c.apps.is_empty());
    let expected = dirs_data_dir().join("hassette");
    assert_eq!(c.data_dir, expected);
}

fn dirs_data_dir() -> PathBuf {
    // The platform's user data directory, as the XDG spec defines it on Linux.
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share"))
}

#[test]
fn websocket_url_is_derived_from_base_url() {
    for (base, ws) in [
        ("http://ha.local:8123", "ws://ha.local:8123/api/websocket"),
        (
            "https://ha.example.com",
            "wss://ha.example.com/api/websocket",
        ),
        (
            "https://example.com/ha/",
            "wss://example.com/ha/api/websocket",
        ),
        (
            "http://10.0.0.2:8123/?x=1",
            "ws://10.0.0.2:8123/api/websocket",
        ),
    ] {
        let f = Fixture::new(&format!("[hassette]\nbase_url = \"{base}\"\n"));
        assert_eq!(f.load().unwrap().websocket_url.as_str(), ws, "{base}");
    }
    let f = Fixture::new("[hassette]\nbase_url = \"ftp://ha.local\"\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: `hassette.base_url`: \"ftp://ha.local\" is not usable: the scheme must be http or https"
    );
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let f = Fixture::new("[hassette]\nbase_url = \"http://x\"\nverify_ssl = tru\n");
    let err = f.error();
    assert!(
        err.starts_with("hassette.toml:3:14: TOML syntax error: "),
        "{err}"
    );
}

#[test]
fn unknown_key_suggests_the_closest() {
    let f = Fixture::new("[hassette]\nbase_ur = \"http://x:8123\"\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: unknown key `hassette.base_ur` (did you mean `base_url`?)"
    );
    let f = Fixture::new("[hasette]\n");
    assert_eq!(
        f.error(),
        "hassette.toml:1:2: unknown key `hasette` (did you mean `hassette`?)"
    );
}

#[test]
fn unknown_app_config_key_suggests_the_field() {
    let f = Fixture::new(&format!("{APP}lihgt_level = 3\n"));
    assert_eq!(
        f.error(),
        "hassette.toml:7:1: app `porch` instance `MotionLight.0` (MotionLight): unknown key `lihgt_level` (did you mean `light`?)"
    );
}

#[test]
fn unknown_app_table_key_suggests_the_closest() {
    let f = Fixture::new("[hassette.apps.porch]\nclass_name = \"WeatherApp\"\nenabeld = false\n");
    assert_eq!(
        f.error(),
        "hassette.toml:3:1: unknown key `hassette.apps.porch.enabeld` (did you mean `enabled`?)"
    );
}

#[test]
fn wrong_type_names_key_and_expected_type() {
    let f = Fixture::new("[hassette]\nverify_ssl = \"yes\"\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: `hassette.verify_ssl` must be a boolean (true or false), found the string \"yes\""
    );
    let f = Fixture::new("[hassette]\ndefault_cache_size = true\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: `hassette.default_cache_size` must be a size in bytes (an integer, or a string such as \"100 MiB\"), found the boolean true"
    );
    let f = Fixture::new("[hassette]\ndefault_cache_size = \"12 parsecs\"\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: `hassette.default_cache_size`: unknown size unit \"parsecs\"; use B, KiB, MiB, GiB, KB, MB or GB"
    );
}

#[test]
fn sizes_and_durations_accept_units() {
    let f = Fixture::new(
        "[hassette]\ndefault_cache_size = \"16 MiB\"\ncache_flush_interval = \"250ms\"\ncommand_timeout = 2.5\n",
    );
    let c = f.load().unwrap();
    assert_eq!(c.default_cache_size, 16 * 1024 * 1024);
    assert_eq!(c.cache_flush_interval.as_millis(), 250);
    assert_eq!(c.command_timeout.as_millis(), 2500);
}

#[test]
fn unknown_class_lists_registered_classes() {
    let f = Fixture::new("[hassette.apps.porch]\nclass_name = \"MotionLite\"\n");
    assert_eq!(
        f.error(),
        "hassette.toml:2:1: app `porch`: unknown class_name `MotionLite` (did you mean `MotionLight`?); registered app classes: MotionLight, WeatherApp"
    );
    let f = Fixture::new("[hassette.apps.porch]\nenabled = true\n");
    assert_eq!(
        f.error(),
        "hassette.toml:1:16: `hassette.apps.porch.class_name` is required: registered app classes: MotionLight, WeatherApp"
    );
}

#[test]
fn app_config_errors_name_app_instance_and_field() {
    let f = Fixture::new(
        "[hassette.apps.porch]\nclass_name = \"MotionLight\"\n[hassette.apps.porch.config]\ninstance_name = \"front\"\nsensor = \"binary_sensor.x\"\n",
    );
    assert_eq!(
        f.error(),
        "hassette.toml:3:22: app `porch` instance `front` (MotionLight): missing field `light`"
    );
    let f = Fixture::new(&format!("{APP}brightness = 300\n"));
    assert_eq!(
        f.error(),
        "hassette.toml:7:1: app `porch` instance `MotionLight.0` (MotionLight): field `brightness`: invalid value: integer `300`, expected u8"
    );
}

#[test]
fn disabled_apps_are_not_checked_against_their_type() {
    let f = Fixture::new("[hassette.apps.porch]\nclass_name = \"MotionLight\"\nenabled = false\n");
    let c = f.load().unwrap();
    assert!(!c.apps[0].enabled);
}

#[test]
fn instances_get_default_and_explicit_names() {
    let f = Fixture::new(
        r#"
[hassette.apps.weather]
class_name = "WeatherApp"
[[hassette.apps.weather.config]]
city = "Amsterdam"
[[hassette.apps.weather.config]]
instance_name = "home"
city = "Utrecht"
[[hassette.apps.weather.config]]
city = "Delft"
"#,
    );
    let c = f.load().unwrap();
    let names: Vec<&str> = c.apps[0]
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["WeatherApp.0", "home", "WeatherApp.2"]);
    assert!(!c.apps[0].instances[1].config.contains_key("instance_name"));
    assert_eq!(
        c.cache_dir("WeatherApp"),
        c.data_dir.join("WeatherApp").join("cache")
    );
}

#[test]
fn an_app_without_config_has_one_instance() {
    let f = Fixture::new("[hassette.apps.w]\nclass_name = \"WeatherApp\"\n");
    let c = f.load().unwrap();
    assert_eq!(c.apps[0].instances.len(), 1);
    assert_eq!(c.apps[0].instances[0].name, "WeatherApp.0");
}

#[test]
fn duplicate_instance_names_are_an_error() {
    let f = Fixture::new(
        r#"
[hassette.apps.weather]
class_name = "WeatherApp"
[[hassette.apps.weather.config]]
instance_name = "home"
[[hassette.apps.weather.config]]
instance_name = "home"
"#,
    );
    assert_eq!(
        f.error(),
        "hassette.toml:7:1: app `weather`: instance name `home` is already used by instance 0 of app `weather`; give each instance its own `instance_name`"
    );
    // Two app keys of one class share a cache, so their default names would collide too.
    let f = Fixture::new(
        "[hassette.apps.a]\nclass_name = \"WeatherApp\"\n[hassette.apps.b]\nclass_name = \"WeatherApp\"\n",
    );
    assert!(
        f.error()
            .contains("instance name `WeatherApp.0` is already used by instance 0 of app `a`")
    );
}

#[test]
fn several_errors_are_reported_together() {
    let f = Fixture::new(
        "[hassette]\nverify_ssl = 1\nlog_level = \"LOUD\"\n[hassette.apps.x]\nclass_name = \"Nope\"\n",
    );
    let err = f.load().unwrap_err();
    assert_eq!(err.errors().len(), 3, "{err}");
    assert!(err.to_string().starts_with("3 configuration errors:\n  "));
}

#[test]
fn precedence_is_flags_env_dotenv_file_defaults() {
    let f = Fixture::new("[hassette]\nlog_level = \"WARN\"\n");
    assert_eq!(f.load().unwrap().log_level, "WARN");
    std::fs::write(
        f.path().join(".env"),
        "HASSETTE__LOG_LEVEL=ERROR\nOTHER=1\n",
    )
    .unwrap();
    assert_eq!(f.load().unwrap().log_level, "ERROR");
    let mut f = f.env("HASSETTE__LOG_LEVEL", "DEBUG");
    assert_eq!(f.load().unwrap().log_level, "DEBUG");
    f.options.log_level = Some("TRACE".to_owned());
    assert_eq!(f.load().unwrap().log_level, "TRACE");

    let f = Fixture::new("[hassette]\n");
    assert_eq!(f.load().unwrap().log_level, "INFO");
}

#[test]
fn env_overrides_typed_settings_and_app_config() {
    let f = Fixture::new(&format!(
        "{APP}\n[hassette.apps.weather]\nclass_name = \"WeatherApp\"\n[[hassette.apps.weather.config]]\ncity = \"A\"\n[[hassette.apps.weather.config]]\ncity = \"B\"\n"
    ))
    .env("HASSETTE__VERIFY_SSL", "false")
    .env("HASSETTE__DEFAULT_CACHE_SIZE", "1024")
    .env("HASSETTE__DATA_DIR", "/tmp/hassette-data")
    .env("HASSETTE__APPS__PORCH__CONFIG__LIGHT", "light.other")
    .env("HASSETTE__APPS__PORCH__CONFIG__BRIGHTNESS", "40")
    .env("HASSETTE__APPS__WEATHER__CONFIG__1__CITY", "Leiden")
    .env("HASSETTE__APPS__WEATHER__ENABLED", "false")
    .env("UNRELATED", "x");
    let c = f.load().unwrap();
    assert!(!c.verify_ssl);
    assert_eq!(c.default_cache_size, 1024);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/hassette-data"));
    let porch = c.app("porch").unwrap();
    assert_eq!(
        porch.instances[0].config["light"].as_str(),
        Some("light.other")
    );
    assert_eq!(
        porch.instances[0].config["brightness"].as_integer(),
        Some(40)
    );
    let weather = c.app("weather").unwrap();
    assert!(!weather.enabled);
    assert_eq!(weather.instances[0].config["city"].as_str(), Some("A"));
    assert_eq!(weather.instances[1].config["city"].as_str(), Some("Leiden"));
}

#[test]
fn env_errors_name_the_variable() {
    let f = Fixture::new("[hassette]\n").env("HASSETTE__BASE_UR", "http://x");
    assert_eq!(
        f.error(),
        "environment variable HASSETTE__BASE_UR: unknown key `hassette.base_ur` (did you mean `base_url`?)"
    );
    let f = Fixture::new("[hassette]\n").env("HASSETTE__VERIFY_SSL", "maybe");
    assert_eq!(
        f.error(),
        "environment variable HASSETTE__VERIFY_SSL: `hassette.verify_ssl` must be a boolean (true or false), found the string \"maybe\""
    );
    let f = Fixture::new(APP).env("HASSETTE__APPS__PORCH__CONFIG__BRIGHTNESS", "bright");
    assert_eq!(
        f.error(),
        "environment variable HASSETTE__APPS__PORCH__CONFIG__BRIGHTNESS: app `porch` instance `MotionLight.0` (MotionLight): field `brightness`: invalid type: string \"bright\", expected u8"
    );
}

#[test]
fn relative_paths_follow_their_source() {
    let mut f = Fixture::new("[hassette]\ndata_dir = \"data\"\n");
    assert_eq!(f.load().unwrap().data_dir, f.path().join("data"));
    let cwd = tempfile::tempdir().unwrap();
    f.options.cwd = Some(cwd.path().to_path_buf());
    f.options.config_file = Some(f.file());
    f.options.data_dir = Some(PathBuf::from("flagdata"));
    assert_eq!(f.load().unwrap().data_dir, cwd.path().join("flagdata"));
}

#[test]
fn the_token_is_never_printed() {
    let f = Fixture::new("[hassette]\n").env("HASSETTE__TOKEN", "super-secret-token-value");
    let c = f.load().unwrap();
    assert_eq!(
        c.token.as_ref().map(Secret::expose),
        Some("super-secret-token-value")
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("super-secret"), "{debug}");
    assert!(debug.contains("***"));
    assert_eq!(c.token.unwrap().to_string(), "***");
}

#[test]
fn token_file_is_read_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("[hassette]\ntoken_file = \"token\"\n");
    let token = f.path().join("token");
    std::fs::write(&token, "abc.def\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = f.load().unwrap();
    assert_eq!(c.token.as_ref().map(Secret::expose), Some("abc.def"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = f.load().unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].contains("is readable by every user (mode 644); run: chmod 600"),
        "{:?}",
        c.warnings
    );
    assert!(!c.warnings[0].contains("abc.def"));

    std::fs::remove_file(&token).unwrap();
    let err = f.error();
    assert!(
        err.starts_with("hassette.toml:2:1: cannot read token_file "),
        "{err}"
    );
    assert!(err.ends_with("/token"), "{err}");
}

#[test]
fn an_inline_token_in_a_world_readable_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("[hassette]\ntoken = \"inline-secret\"\n");
    std::fs::set_permissions(f.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = f.load().unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("holds the access token"));
}

#[test]
fn discovery_order_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = LoadOptions {
        cwd: Some(dir.path().to_path_buf()),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let err = load(&options, &registry()).unwrap_err().to_string();
    assert!(
        err.starts_with("no hassette.toml found (looked for "),
        "{err}"
    );
    assert!(
        err.contains("config/hassette.toml, /config/hassette.toml"),
        "{err}"
    );

    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/hassette.toml"),
        "[hassette]\nlog_level = \"DEBUG\"\n",
    )
    .unwrap();
    assert_eq!(load(&options, &registry()).unwrap().log_level, "DEBUG");
    std::fs::write(
        dir.path().join("hassette.toml"),
        "[hassette]\nlog_level = \"WARN\"\n",
    )
    .unwrap();
    assert_eq!(load(&options, &registry()).unwrap().log_level, "WARN");

    options.config_file = Some(PathBuf::from("missing.toml"));
    let err = load(&options, &registry()).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read ") && err.ends_with("missing.toml"),
        "{err}"
    );
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hassette.toml.example");
    let options = LoadOptions {
        config_file: Some(example),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    // Checked against the real example apps in the CLI tests; here only the settings.
    let err = load(&options, &AppRegistry::new()).unwrap_err();
    for e in err.errors() {
        assert!(matches!(e, ConfigError::UnknownClass { .. }), "{e}");
    }
}

#[test]
fn the_cache_memory_budget_is_a_hassette_setting() {
    let c = Fixture::new("[hassette]\n").load().unwrap();
    assert_eq!(
        c.cache_memory_budget,
        hassette_core::cache::DEFAULT_MEMORY_BUDGET as u64
    );
    let c = Fixture::new("[hassette]\ncache_memory_budget = \"4 MiB\"\n")
        .load()
        .unwrap();
    assert_eq!(c.cache_memory_budget, 4 << 20);
}

#[test]
fn two_apps_of_one_class_with_different_cache_sizes_are_an_error() {
    let two = |a: &str, b: &str| {
        format!(
            "[hassette.apps.london]\nclass_name = \"WeatherApp\"\n{a}\n\
             [hassette.apps.london.config]\ninstance_name = \"london\"\n\
             [hassette.apps.paris]\nclass_name = \"WeatherApp\"\n{b}\n\
             [hassette.apps.paris.config]\ninstance_name = \"paris\"\n"
        )
    };
    let err = Fixture::new(&two("cache_size = \"1 MiB\"", "cache_size = \"2 MiB\"")).error();
    assert!(
        err.contains("hassette.apps.paris.cache_size")
            && err.contains("`london`")
            && err.contains("`paris`")
            && err.contains("WeatherApp")
            && err.contains("1048576 and 2097152"),
        "{err}"
    );
    // One sets a size, the other takes the default: they differ too.
    let err = Fixture::new(&two("cache_size = \"1 MiB\"", "")).error();
    assert!(err.contains("hassette.apps.london.cache_size"), "{err}");
    // The same size, or none at all, is fine; so is a disabled app.
    Fixture::new(&two("cache_size = \"1 MiB\"", "cache_size = 1048576"))
        .load()
        .unwrap();
    Fixture::new(&two("", "")).load().unwrap();
    Fixture::new(&two("cache_size = \"1 MiB\"", "enabled = false"))
        .load()
        .unwrap();
}
