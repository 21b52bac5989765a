//! Reading a record's fields leniently and without copying.
//!
//! A connector lifts a handful of fields out of each record into its
//! envelope and keeps the record itself as it came. An unexpected type in
//! one of those fields must drop the field, not fail the record, so each is
//! read as any JSON value; [`Loose`] does that while borrowing text from the
//! record instead of allocating it (`serde_json::Value` allocated every
//! string, and the envelope then copied it again: about 15 % of the audit
//! connector's time under `perf`).
//!
//! ```
//! # use connector_sdk::loose::Loose;
//! #[derive(serde::Deserialize)]
//! struct Fields<'a> {
//!     #[serde(default, borrow)]
//!     user: Option<Loose<'a>>,
//! }
//! let f: Fields = serde_json::from_str(r#"{"user": "a@contoso.com"}"#).unwrap();
//! assert_eq!(f.user.as_ref().and_then(Loose::text).as_deref(), Some("a@contoso.com"));
//! ```

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

/// One field's value as far as an envelope cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Loose<'a> {
    /// A string, borrowed from the record unless it had escapes.
    Text(Cow<'a, str>),
    /// A number.
    Number(Number),
    /// An array: its string elements (anything else in it is skipped).
    List(Vec<Cow<'a, str>>),
    /// `null`.
    Null,
    /// A boolean or an object.
    Other,
}

impl<'a> Loose<'a> {
    /// The value as text: a non-blank string as it is, a number in its JSON
    /// spelling; none for anything else.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Loose::Text(s) if !s.trim().is_empty() => Some(Cow::Borrowed(s)),
            Loose::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    /// [`Loose::text`], keeping a borrowed string borrowed from the record
    /// rather than from this value.
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Loose::Text(s) if !s.trim().is_empty() => Some(s),
            Loose::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    /// What the value is, for a message: the text of a string or a number,
    /// otherwise its kind.
    pub fn describe(&self) -> String {
        match self {
            Loose::Text(s) => format!("`{s}`"),
            Loose::Number(n) => n.to_string(),
            Loose::List(_) => "(an array)".into(),
            Loose::Null => "null".into(),
            Loose::Other => "(not a string)".into(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Text(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(Loose::Other, Loose::Number))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        while let Some(item) = seq.next_element::<Loose<'de>>()? {
            if let Loose::Text(text) = item {
                texts.push(text);
            }
        }
        Ok(Loose::List(texts))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Loose<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_json_value_reads_and_text_borrows_unless_escaped() {
        assert!(matches!(
            read(r#""abc""#),
            Loose::Text(Cow::Borrowed("abc"))
        ));
        assert_eq!(
            read(r#""a\"b\u00e9""#),
            Loose::Text(Cow::Owned("a\"bé".into()))
        );
        assert_eq!(read("42"), Loose::Number(42.into()));
        assert_eq!(read("-7"), Loose::Number((-7).into()));
        assert_eq!(read("2.5").text().as_deref(), Some("2.5"));
        assert_eq!(read("null"), Loose::Null);
        assert_eq!(read("true"), Loose::Other);
        assert_eq!(read(r#"{"a":[1,{"b":2}]}"#), Loose::Other);
        assert_eq!(
            read(r#"["x", 1, {"y": 2}, ["z"], "w"]"#),
            Loose::List(vec!["x".into(), "w".into()])
        );
    }

    #[test]
    fn text_is_a_non_blank_string_or_a_number() {
        assert_eq!(read(r#"" a ""#).text().as_deref(), Some(" a "));
        assert_eq!(read(r#""  ""#).text(), None);
        assert_eq!(read("12").text().as_deref(), Some("12"));
        assert_eq!(read("[\"a\"]").text(), None);
        assert_eq!(read("null").text(), None);
    }
}
