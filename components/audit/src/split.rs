//! Reading the records of a content blob in one pass.
//!
//! A blob is a JSON array of records. Reading it as `Vec<&RawValue>` and
//! then each record's fields parses every byte twice; a separate scan for
//! where each element ends, then a parse of each, still reads every byte
//! twice. Here serde parses one record at a time straight from the blob
//! (a stream deserializer started at the record, which says where the
//! record ended), so each byte is read once, and only the commas and
//! brackets between records are looked at by hand.
//!
//! Any doubt (a body that is not shaped like an array of objects, a record
//! that does not parse) gives `None`, for the caller to read the whole body
//! exactly (`Vec<&RawValue>`, then each record): broken input is judged
//! exactly as before.

use crate::normalize::Record;

/// Each record of the JSON array `text`, read, or `None` if `text` is not
/// an array of JSON objects that all read as records.
pub fn records(text: &str) -> Option<Vec<Record<'_>>> {
    let b = text.as_bytes();
    let mut i = skip_whitespace(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_whitespace(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b']') {
        return (skip_whitespace(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        let (record, end) = Record::read_prefix(text.get(i..)?)?;
        out.push(record);
        i = skip_whitespace(b, i + end);
        match b.get(i)? {
            b',' => i = skip_whitespace(b, i + 1),
            b']' => return (skip_whitespace(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.raw().to_string()).collect()
    }

    #[test]
    fn finds_what_serde_finds() {
        for text in [
            "[]",
            " [ ] ",
            r#"[{"a":1}]"#,
            r#"[{"a":"x]}\"{"}, {"b":[1,{"c":"\\"}]} ,{}]"#,
            "[\n  {\"Id\": \"1\"},\n  {\"Id\": \"2\"}\n]\n",
            r#"[{"Id":"1","CreationTime":"2024-05-01T07:40:00","Nested":{"Id":"inner"}},{"Id":2}]"#,
        ] {
            let ours = records(text).unwrap_or_else(|| panic!("{text}"));
            let theirs: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).unwrap();
            let theirs: Vec<String> = theirs.iter().map(|r| r.get().to_string()).collect();
            assert_eq!(raw(&ours), theirs, "{text}");
        }
    }

    #[test]
    fn leaves_to_the_exact_reading_what_is_not_an_array_of_records() {
        for text in [
            "",
            "{}",
            "[",
            "[{},",
            "[{} {}]",
            "[{\"a\":1}}",
            "[\"open]",
            "[{}] x",
            "[,{}]",
            "[{]",
            // Valid JSON, but an element is not an object or not a record:
            // the exact reading decides what to publish for it.
            "[1, {}]",
            "[{}, \"two\"]",
            r#"[{"Id":"1","Id":"2"}]"#,
            r#"[{"a":tru}]"#,
        ] {
            assert!(records(text).is_none(), "{text}");
        }
    }
}
