//! Typed entities against the fake Home Assistant: typed state, typed calls that await the
//! result, subscriptions from a handle, and values a later Home Assistant adds.

use std::time::Duration;

use hassette_core::app::{App, AppContext, BoxError};
use hassette_core::domain::{
    BinarySensor, Climate, Entity, EntityId, HvacAction, HvacMode, Light, OnOff, Sensor,
    SensorValue, StateValue,
};
use hassette_core::testing::AppHarness;
use serde_json::json;

const KITCHEN: EntityId<Light> = EntityId::from_static("light.kitchen");
const MOTION: EntityId<BinarySensor> = EntityId::from_static("binary_sensor.hall_motion");

#[derive(Clone)]
enum Msg {
    Motion,
}

struct TypedLight {
    kitchen: Entity<Light>,
}

impl App for TypedLight {
    type Config = std::collections::HashMap<String, String>;
    type Message = Msg;

    async fn initialize(_: Self::Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let motion = MOTION.bind(ctx);
        ctx.bus().on(&motion).to(OnOff::On).send(Msg::Motion);
        Ok(Self {
            kitchen: KITCHEN.bind(ctx),
        })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, _: Msg) -> Result<(), BoxError> {
        // Awaiting returns once Home Assistant has run the call: the state is already there.
        let context = self
            .kitchen
            .turn_on()
            .brightness_pct(60)
            .transition(Duration::from_secs(2))
            .await?;
        assert!(!context.id.is_empty());
        ctx.cache()
            .set("brightness_after", &self.kitchen.brightness())?;
        ctx.cache().set("on_after", &self.kitchen.is_on())?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_call_awaits_the_result_and_the_typed_state_follows() {
    let h = AppHarness::<TypedLight>::builder()
        .state("binary_sensor.hall_motion", "off", None)
        .state("light.kitchen", "off", Some(json!({"brightness": null})))
        .start()
        .await
        .unwrap();
    h.set_state("binary_sensor.hall_motion", "on").await;
    let calls = h.service_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].domain.as_str(), calls[0].service.as_str()),
        ("light", "turn_on")
    );
    assert_eq!(calls[0].target, json!({"entity_id": ["light.kitchen"]}));
    assert_eq!(
        calls[0].service_data,
        json!({"brightness_pct": 60, "transition": 2.0})
    );
    // 60 % of 255, as Home Assistant rounds it.
    assert_eq!(
        h.cache().get::<Option<u8>>("brightness_after").unwrap(),
        Some(Some(153))
    );
    assert_eq!(h.cache().get::<bool>("on_after").unwrap(), Some(true));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_unknown_and_later_values_are_values_not_errors() {
    let h = AppHarness::<TypedLight>::builder()
        .state("binary_sensor.hall_motion", "off", None)
        .state("light.kitchen", "unavailable", None)
        .state(
            "climate.hall",
            "heat",
            Some(
                json!({"current_temperature": 19.5, "temperature": "not a number",
                "hvac_action": "warming_up", "hvac_modes": ["off", "heat", "geothermal"]}),
            ),
        )
        .state(
            "sensor.outside",
            "21.5",
            Some(json!({"unit_of_measurement": "°C"})),
        )
        .state("sensor.washer", "unknown", None)
        .start()
        .await
        .unwrap();
    let kitchen = KITCHEN.bind(&h);
    assert_eq!(kitchen.state(), OnOff::Unavailable);
    assert!(!kitchen.is_on() && !kitchen.is_off() && !kitchen.is_available());

    let hall = EntityId::<Climate>::new("climate.hall").unwrap().bind(&h);
    assert_eq!(hall.state(), HvacMode::Heat);
    assert_eq!(hall.current_temperature(), Some(19.5));
    // An attribute of another shape is `None`, never an error.
    assert_eq!(hall.target_temperature(), None);
    // Values this version does not know decode to the fallback.
    assert_eq!(
        hall.hvac_action(),
        Some(HvacAction::Other("warming_up".into()))
    );
    assert_eq!(
        hall.hvac_modes(),
        [
            HvacMode::Off,
            HvacMode::Heat,
            HvacMode::Other("geothermal".into())
        ]
    );
    // A state value a later Home Assistant adds, arriving live.
    h.set_state("climate.hall", "defrost_cycle").await;
    assert_eq!(hall.state(), HvacMode::Other("defrost_cycle".into()));

    let outside = EntityId::<Sensor>::new("sensor.outside").unwrap().bind(&h);
    let m = outside.measurement().unwrap();
    assert_eq!((m.value, m.unit.as_deref()), (21.5, Some("°C")));
    assert_eq!(m.to_string(), "21.5 °C");
    let washer = EntityId::<Sensor>::new("sensor.washer").unwrap().bind(&h);
    assert_eq!(washer.state(), SensorValue::Unknown);
    let gone = EntityId::<Sensor>::new("sensor.gone").unwrap().bind(&h);
    assert_eq!(gone.state(), SensorValue::missing());
    assert_eq!(gone.measurement(), None);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_typed_call_is_home_assistants_error() {
    let h = AppHarness::<TypedLight>::builder()
        .state("binary_sensor.hall_motion", "off", None)
        .start()
        .await
        .unwrap();
    let light = KITCHEN.bind(&h);
    let err = light.call("no_such_service").await.unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    h.stop().await;
}

#[test]
fn entity_ids_check_their_domain_in_config() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Config {
        light: EntityId<Light>,
    }
    let ok: Config = toml::from_str(r#"light = "light.porch""#).unwrap();
    assert_eq!(ok.light.as_str(), "light.porch");
    let err = toml::from_str::<Config>(r#"light = "switch.porch""#).unwrap_err();
    assert!(
        err.to_string()
            .contains("`switch.porch` is not a light entity id"),
        "{err}"
    );
}
