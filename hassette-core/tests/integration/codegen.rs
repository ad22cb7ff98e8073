//! `hassette codegen`'s generator: deterministic, rustfmt-clean output that compiles; a
//! removed entity is a compile error naming it.
//!
//! The compile checks run `rustc` on a tiny crate (the generated module and a file that uses
//! it) against the `hassette_core` this test binary was built with: type-checking only, about
//! a second each.

use std::path::{Path, PathBuf};
use std::process::Command;

use hassette_core::codegen::{Input, generate};
use serde_json::json;

fn real_input() -> Input {
    let text = include_str!("../data/codegen-input-2024.3.3.json");
    serde_json::from_str(text).unwrap()
}

/// A small house with areas, devices, and awkward names.
fn house() -> Input {
    serde_json::from_value(json!({
        "ha_version": "2024.3.3",
        "states": [
            {"entity_id": "light.kitchen", "state": "on",
             "attributes": {"friendly_name": "Kitchen Lights", "brightness": 180}},
            {"entity_id": "light.porch", "state": "off", "attributes": {}},
            {"entity_id": "sensor.outside_temperature", "state": "15.6",
             "attributes": {"friendly_name": "Outside \"Temp\"\nnorth", "unit_of_measurement": "°C"}},
            {"entity_id": "switch.1st_floor", "state": "off", "attributes": {}},
            {"entity_id": "vacuum.robbie", "state": "docked",
             "attributes": {"friendly_name": "Robbie"}},
        ],
        "services": {
            "light": {"turn_on": {"name": "Turn on", "description": "Turn on lights.",
                "fields": {
                    "brightness_pct": {"name": "Brightness",
                        "selector": {"number": {"min": 0, "max": 100, "unit_of_measurement": "%"}}},
                    "transition": {"selector": {"number": {"min": 0, "max": 300,
                        "unit_of_measurement": "seconds"}}},
                    "flash": {"selector": {"select": {"options": [
                        {"label": "Long", "value": "long"}, {"label": "Short", "value": "short"}]}}},
                },
                "target": {"entity": [{"domain": ["light"]}]}}},
            "weather": {"get_forecasts": {"fields": {"type": {"required": true,
                "selector": {"select": {"options": ["daily", "hourly", "twice_daily"]}}}},
                "target": {"entity": [{"domain": ["weather"]}]}, "response": {"optional": false}}},
            "vacuum": {"start": {"fields": {}, "target": {"entity": [{"domain": ["vacuum"]}]}}},
        },
        "entity_registry": [
            {"entity_id": "light.kitchen", "area_id": null, "device_id": "dev1"},
            {"entity_id": "sensor.outside_temperature", "area_id": "garden", "device_id": null},
        ],
        "device_registry": [{"id": "dev1", "area_id": "kitchen", "name": "Hue bridge",
            "name_by_user": null}],
        "area_registry": [{"area_id": "kitchen", "name": "Kitchen"},
            {"area_id": "garden", "name": "Garden"}],
    }))
    .unwrap()
}

#[test]
fn output_is_sorted_and_independent_of_input_order() {
    let input = real_input();
    let mut shuffled = input.clone();
    shuffled.states.reverse();
    shuffled.entity_registry.reverse();
    let a = generate(&input);
    assert_eq!(a, generate(&shuffled));
    assert!(
        a.contains("Assistant 2024.3.3 (110 entities, "),
        "{}",
        &a[..300]
    );
    let light = a.find("pub mod light {").unwrap();
    let sensor = a.find("pub mod sensor {").unwrap();
    assert!(light < sensor);
}

#[test]
fn docs_carry_name_area_device_and_unit() {
    let out = generate(&house());
    assert!(out.contains("/// Kitchen Lights (`light.kitchen`): area Kitchen, device Hue bridge."));
    assert!(
        out.contains(
            "/// Outside \"Temp\" north (`sensor.outside_temperature`): area Garden, unit °C."
        ),
        "{out}"
    );
    // Reachable by area.
    assert!(out.contains("pub const LIGHT_KITCHEN: EntityId<d::Light> = light::KITCHEN;"));
    // A domain hassette has no type for gets a marker type.
    assert!(out.contains("pub enum Vacuum {}"));
    assert!(out.contains("pub const ROBBIE: EntityId<domains::Vacuum>"));
    assert!(out.contains("pub const _1ST_FLOOR: EntityId<d::Switch>"));
}

#[test]
fn output_is_rustfmt_clean() {
    for (name, input) in [("real", real_input()), ("house", house())] {
        let out = generate(&input);
        let formatted = rustfmt(&out);
        if formatted != out {
            let dir = scratch(&format!("fmt-{name}"));
            std::fs::write(dir.join("generated.rs"), &out).unwrap();
            std::fs::write(dir.join("rustfmt.rs"), &formatted).unwrap();
            panic!(
                "{name}: not rustfmt-clean; diff {}/generated.rs rustfmt.rs",
                dir.display()
            );
        }
    }
}

#[test]
fn the_module_from_the_real_home_assistant_compiles_and_types_its_calls() {
    let module = generate(&real_input());
    let uses = r#"
        use std::time::Duration;
        use hassette_core::domain::OnOff;

        pub async fn uses(api: &hassette_core::ha::Api, states: &hassette_core::state::States)
            -> Result<(), hassette_core::ha::HaError> {
            let kitchen = ha::light::KITCHEN_LIGHTS.bind(&(api, states));
            let _on: bool = kitchen.state() == OnOff::On;
            kitchen.turn_on().brightness_pct(60).transition(Duration::from_secs(2)).await?;
            ha::services::light::turn_on(api)
                .brightness_pct(60)
                .flash(ha::services::light::turn_on::Flash::Short)
                .entity(ha::light::KITCHEN_LIGHTS)
                .await?;
            ha::services::climate::set_hvac_mode(api)
                .hvac_mode(ha::services::climate::set_hvac_mode::HvacMode::HeatCool)
                .entity(&ha::climate::ECOBEE)
                .await?;
            let forecasts = ha::services::weather::get_forecasts(
                api,
                ha::services::weather::get_forecasts::Type::Daily,
            )
            .entity(ha::weather::DEMO_WEATHER_NORTH)
            .await?;
            let _: Option<&hassette_core::domain::Forecasts> =
                forecasts.get("weather.demo_weather_north");
            let _ = ha::input_boolean::TEST_SWITCH.bind(&(api, states)).is_on();
            let _: &[&str] = ha::sensor::ALL;
            Ok(())
        }
    "#;
    check_crate("real", &module, uses).unwrap();
}

#[test]
fn a_removed_entity_is_a_compile_error_naming_it() {
    let uses = r#"
        pub fn uses(api: &hassette_core::ha::Api, states: &hassette_core::state::States) {
            let _ = ha::light::KITCHEN.bind(&(api, states)).is_on();
        }
    "#;
    let mut input = house();
    check_crate("present", &generate(&input), uses).unwrap();
    input.states.retain(|s| s.entity_id != "light.kitchen");
    let err = check_crate("removed", &generate(&input), uses).unwrap_err();
    assert!(
        err.contains("cannot find value `KITCHEN` in module `ha::light`"),
        "{err}"
    );
    assert!(err.contains("ha::light::KITCHEN"), "{err}");
}

#[test]
fn a_target_of_the_wrong_domain_is_a_compile_error() {
    let uses = r#"
        pub fn uses(api: &hassette_core::ha::Api) {
            let _ = ha::services::light::turn_on(api).entity(ha::switch::_1ST_FLOOR);
        }
    "#;
    let err = check_crate("wrong-domain", &generate(&house()), uses).unwrap_err();
    assert!(err.contains("Targets<Light>"), "{err}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hassette-codegen-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rustfmt(source: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rustfmt (rustup component add rustfmt)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rustfmt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Type-checks a crate of `module` (as `mod ha`) and `uses` against this build's
/// `hassette_core`; `Err` holds rustc's messages.
fn check_crate(name: &str, module: &str, uses: &str) -> Result<(), String> {
    let dir = scratch(name);
    std::fs::write(dir.join("ha.rs"), module).unwrap();
    std::fs::write(
        dir.join("lib.rs"),
        format!("#![allow(dead_code)]\nmod ha;\n{uses}\n"),
    )
    .unwrap();
    let deps = deps_dir();
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--edition=2024")
        .args([
            "--crate-type",
            "lib",
            "--crate-name",
            "user_app",
            "--emit=metadata",
        ])
        .arg("--extern")
        .arg(format!("hassette_core={}", core_lib(&deps).display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--out-dir")
        .arg(&dir)
        .arg(dir.join("lib.rs"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `target/<profile>/deps`, where this test binary and its dependencies are.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// The newest `libhassette_core-*.rlib` beside this test binary.
fn core_lib(deps: &Path) -> PathBuf {
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libhassette_core-") && n.ends_with(".rlib"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("libhassette_core rlib beside the test binary")
}
