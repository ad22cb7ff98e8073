//! Finding the field names of an app's `Config` struct, to suggest the right one for a typo.
//!
//! serde tells a deserializer a struct's field names when it asks for a struct. This
//! deserializer answers that request by recording the names and failing, which is all we need:
//! it never produces a value.

use serde::de::{self, Visitor};

/// The top-level field names of `T` if it deserializes as a struct, else nothing.
pub(crate) fn field_names<T: de::DeserializeOwned>() -> Vec<&'static str> {
    let mut probe = Probe { fields: Vec::new() };
    // The error is expected: the probe never yields a value.
    let _ = T::deserialize(&mut probe);
    probe.fields
}

struct Probe {
    fields: Vec<&'static str>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_msg: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.fields.extend_from_slice(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Conf {
        sensor: String,
        light: String,
    }

    #[test]
    fn finds_fields() {
        assert_eq!(super::field_names::<Conf>(), vec!["sensor", "light"]);
        assert!(super::field_names::<u32>().is_empty());
    }
}
