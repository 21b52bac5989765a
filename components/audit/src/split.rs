//! Finding the records of a content blob without parsing them twice.
//!
//! A blob is a JSON array of records. Reading it as `Vec<&RawValue>` and
//! then each record's fields parses every byte twice; this finds where each
//! element starts and ends with a plain scan (strings and nesting only), and
//! leaves validation to the one real parse of each record's fields. The scan
//! does not validate: a body it cannot split, or an element that then fails
//! to parse, sends the caller back to the exact parse of the whole body, so
//! broken input is judged exactly as before.

/// The text of each element of the JSON array `text`, or `None` if `text`
/// is not shaped like an array of values separated by commas.
pub fn array_elements(text: &str) -> Option<Vec<&str>> {
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
        let start = i;
        i = value_end(b, i)?;
        out.push(&text[start..i]);
        i = skip_whitespace(b, i);
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

/// Where the value starting at `start` ends (one past its last byte).
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        b'"' => string_end(b, start),
        _ => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

/// One past the closing quote of the string whose opening quote is at
/// `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let offset = b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\')?;
        i += offset;
        if b[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_serde_splits() {
        for text in [
            "[]",
            " [ ] ",
            r#"[{"a":1}]"#,
            r#"[{"a":"x]}\"{"}, {"b":[1,{"c":"\\"}]} ,{}]"#,
            "\u{feff}[1, \"two\", null, true, [3], {\"k\": -4.5e3}]".trim_start_matches('\u{feff}'),
            "[\n  {\"Id\": \"1\"},\n  {\"Id\": \"2\"}\n]\n",
        ] {
            let ours = array_elements(text).unwrap_or_else(|| panic!("{text}"));
            let theirs: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).unwrap();
            let theirs: Vec<&str> = theirs.iter().map(|r| r.get()).collect();
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_array_of_values() {
        for text in [
            "",
            "{}",
            "[",
            "[1,",
            "[1 2]",
            "[{\"a\":1}}",
            "[\"open]",
            "[1] x",
            "[,1]",
            "[{]",
        ] {
            assert_eq!(array_elements(text), None, "{text}");
        }
    }
}
