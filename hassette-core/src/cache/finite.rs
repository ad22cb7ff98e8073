//! Finds a NaN or infinite float in a value before it is stored.
//!
//! `serde_json` writes such a float as `null`, which then never reads back as a number: the
//! cache refuses the value instead. The check walks the value with a serializer that writes
//! nothing, and only runs when the JSON holds a `null` (the only trace a non-finite float
//! leaves), so ordinary writes pay nothing for it.

use serde::ser::{self, Serialize};

/// `Some("NaN" | "inf" | "-inf")` if `value` holds a non-finite float.
pub(crate) fn non_finite<T: Serialize + ?Sized>(value: &T, json: &[u8]) -> Option<String> {
    if !json.windows(4).any(|w| w == b"null") {
        return None;
    }
    match value.serialize(Check) {
        Err(Found(what)) => Some(what),
        Ok(()) => None,
    }
}

#[derive(Debug)]
struct Found(String);

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<M: std::fmt::Display>(_msg: M) -> Self {
        // A failing `Serialize` is reported by the real encoder, not here.
        Self(String::new())
    }
}

#[derive(Clone, Copy)]
struct Check;

fn float(v: f64) -> Result<(), Found> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Found(format!("{v}")))
    }
}

macro_rules! accept {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self $(, _: $arg)*) -> Result<(), Found> { Ok(()) })*
    };
}

impl ser::Serializer for Check {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    accept!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_f32(self, v: f32) -> Result<(), Found> {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Found> {
        float(v)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Found> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Found> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Found> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Found> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Found> {
        Ok(self)
    }
}

macro_rules! compound {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for Check {
            type Ok = ();
            type Error = Found;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Found> {
                v.serialize(Check)
            }
            fn end(self) -> Result<(), Found> {
                Ok(())
            }
        })*
    };
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Check {
    type Ok = ();
    type Error = Found;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Found> {
        k.serialize(Check)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Found> {
        v.serialize(Check)
    }
    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Check {
            type Ok = ();
            type Error = Found;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                v: &T,
            ) -> Result<(), Found> {
                v.serialize(Check)
            }
            fn end(self) -> Result<(), Found> {
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::non_finite;

    fn check<T: serde::Serialize>(v: &T) -> Option<String> {
        non_finite(v, &serde_json::to_vec(v).unwrap_or_default())
    }

    #[test]
    fn finds_non_finite_floats_anywhere() {
        assert_eq!(check(&f64::NAN).as_deref(), Some("NaN"));
        assert_eq!(check(&vec![1.0, f64::INFINITY]).as_deref(), Some("inf"));
        let mut map = std::collections::BTreeMap::new();
        map.insert("t", Some(f32::NEG_INFINITY));
        assert_eq!(check(&map).as_deref(), Some("-inf"));
        assert_eq!(check(&(Option::<f64>::None, 2.5)), None);
        assert_eq!(check(&serde_json::json!({"a": null, "b": 1.5})), None);
    }
}
