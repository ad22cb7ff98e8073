//! Generated bad input (proptest): configuration files and frames from the server. Never a
//! panic; always a clear error, and the connection recovers.

use std::time::Duration;

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::{LoadOptions, load};
use hassette_core::ha::{Client, ConnectionState};
use hassette_core::testing::FakeHomeAssistant;
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct LightConfig {
    sensor: String,
    #[serde(default)]
    brightness: Option<u8>,
    #[serde(default)]
    delays: Vec<u32>,
}

struct Light {}

impl App for Light {
    type Config = LightConfig;
    type Message = ();
    async fn initialize(_: LightConfig, _: &AppContext<Self>) -> Result<Self, BoxError> {
        Ok(Self {})
    }
}

/// Pieces that TOML configurations are made of, valid and not.
fn toml_fragment() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("base_url"),
        Just("token"),
        Just("token_file"),
        Just("verify_ssl"),
        Just("data_dir"),
        Just("default_cache_size"),
        Just("cache_flush_interval"),
        Just("log_level"),
        Just("class_name"),
        Just("enabled"),
        Just("cache_size"),
        Just("config"),
        Just("instance_name"),
        Just("sensor"),
        Just("brightness"),
        Just("delays"),
        Just("bogus"),
        Just("apps"),
        Just("hassette"),
    ];
    let value = prop_oneof![
        Just("\"http://ha.local:8123\"".to_owned()),
        Just("\"ftp://x\"".to_owned()),
        Just("true".to_owned()),
        Just("-5".to_owned()),
        Just("300".to_owned()),
        Just("1e400".to_owned()),
        Just("\"100 MiB\"".to_owned()),
        Just("\"Light\"".to_owned()),
        Just("\"Nope\"".to_owned()),
        Just("[1, \"x\"]".to_owned()),
        Just("{ sensor = \"s\" }".to_owned()),
        Just("[]".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"\\u0000\"".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        "[a-z\"\\[\\]{}=., 0-9]{0,12}",
    ];
    let line = prop_oneof![
        (key.clone(), value).prop_map(|(k, v)| format!("{k} = {v}")),
        Just("[hassette]".to_owned()),
        Just("[hassette.apps.a]".to_owned()),
        Just("[hassette.apps.a.config]".to_owned()),
        Just("[[hassette.apps.a.config]]".to_owned()),
        Just("[hassette.apps.b]".to_owned()),
        "[\\[\\]a-z.\"=]{0,16}",
    ];
    proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_configuration_gives_a_config_or_a_clear_error(text in toml_fragment()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hassette.toml"), &text).unwrap();
        let mut registry = AppRegistry::new();
        registry.register::<Light>();
        let options = LoadOptions { cwd: Some(dir.path().to_path_buf()), env: Some(Vec::new()), ..LoadOptions::default() };
        if let Err(e) = load(&options, &registry) {
            for one in e.errors() {
                let message = one.to_string();
                // Every error says where: the file (with line and column) or the source.
                prop_assert!(message.contains("hassette.toml") || message.starts_with("environment"), "{message}");
                prop_assert!(!message.is_empty());
            }
        }
    }

    #[test]
    fn any_frame_decodes_or_errors_without_a_panic(frame in prop_oneof![
        "\\PC{0,200}",
        Just(r#"{"type":"event","event":{"event_type":"state_changed","data":{}},"id":5}"#.to_owned()),
        Just(r#"[{"type":"event","id":"x"},{"type":"result"}]"#.to_owned()),
        Just(r#"{"type":"event","event":{"event_type":"state_changed","data":{"entity_id":5,"new_state":{"state":1}}},"id":1}"#.to_owned()),
        Just(r#"{"id":1,"type":"result","success":"yes"}"#.to_owned()),
        Just("[".repeat(10_000)),
        (0usize..4000).prop_map(|n| format!(r#"{{"type":"event","id":1,"event":{{"event_type":"x","data":{{"v":"{}"}}}}}}"#, "a".repeat(n))),
    ]) {
        let _ = hassette_core::ha::decode_events(&frame);
    }
}

/// Garbage and wrong shapes over a real socket: the client resets the connection and comes
/// back, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_bad_frames_reset_the_connection_and_it_recovers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut options = fake.client_options();
    options.reconnect_initial = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(100);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (client, _session) = Client::connect(options, cancel.clone()).await.unwrap();
    let mut runner = TestRunner::deterministic();
    let frames = prop_oneof![
        "\\PC{1,80}",
        Just(r#"{"id":"one","type":"result","success":true}"#.to_owned()),
        Just(r#"{"type":"event","event":null}"#.to_owned()),
        Just(r#"[1,2,3]"#.to_owned()),
        Just(r#"{"id":99999,"type":"result","success":false,"error":7}"#.to_owned()),
    ];
    for _ in 0..24 {
        let frame = frames.new_tree(&mut runner).unwrap().current();
        fake.send_raw(frame.clone());
        // Whatever the frame did, the client is (again) able to talk to Home Assistant.
        let mut ok = false;
        for _ in 0..400 {
            if client.state() == ConnectionState::Connected && client.ping().await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ok, "the client did not recover after {frame:?}");
    }
    cancel.cancel();
}
