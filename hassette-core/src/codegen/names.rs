//! Rust identifiers from Home Assistant's ids, option values and field keys.

use std::collections::HashSet;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "union",
];

/// `kitchen_2` → `KITCHEN_2`; `1st_floor` → `_1ST_FLOOR`.
pub(super) fn constant(object_id: &str) -> String {
    let mut out: String = object_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out == "_" {
        out.push('X');
    }
    out
}

/// `brightness_pct` → `brightness_pct`; `type` → `type_`; `1st` → `_1st`.
pub(super) fn snake(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out == "_" {
        out.push('x');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `heat_cool` → `HeatCool`; `clear-night` → `ClearNight`; `2` → `V2`.
pub(super) fn camel(value: &str) -> String {
    let mut out = String::new();
    for part in value.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if matches!(out.as_str(), "Self" | "Other") {
        out.push_str("Value");
    }
    out
}

/// Makes names unique in order of appearance: a repeat gets `_2`, `_3`, ... (or `2`, `3`
/// for camel case).
#[derive(Debug, Default)]
pub(super) struct Unique {
    seen: HashSet<String>,
}

impl Unique {
    pub(super) fn take(&mut self, name: String, camel: bool) -> String {
        if self.seen.insert(name.clone()) {
            return name;
        }
        (2..)
            .map(|n| {
                if camel {
                    format!("{name}{n}")
                } else {
                    format!("{name}_{n}")
                }
            })
            .find(|candidate| self.seen.insert(candidate.clone()))
            .unwrap_or(name)
    }
}

/// A Rust string literal (`Debug` of a `str` is one).
pub(super) fn literal(text: &str) -> String {
    format!("{text:?}")
}

/// Text for a doc comment: one line, no trailing spaces.
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(constant("kitchen"), "KITCHEN");
        assert_eq!(constant("1st_floor"), "_1ST_FLOOR");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("brightness_pct"), "brightness_pct");
        assert_eq!(camel("clear-night"), "ClearNight");
        assert_eq!(camel("heat_cool"), "HeatCool");
        assert_eq!(camel("2"), "V2");
        assert_eq!(camel("other"), "OtherValue");
        let mut u = Unique::default();
        assert_eq!(u.take("A".into(), true), "A");
        assert_eq!(u.take("A".into(), true), "A2");
        assert_eq!(literal("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
