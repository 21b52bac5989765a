//! The event envelope's schema, `docs/event-envelope.schema.json`, and a
//! small check of an envelope against its own words.
//!
//! Not a JSON Schema validator: enough to keep the components and the
//! schema from drifting apart (every field a component writes must be
//! declared, with its JSON type), which is what the golden tests need.

use serde_json::Value;

/// Where the schema lives, from this crate's directory.
const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/event-envelope.schema.json"
);

/// The envelope schema, `docs/event-envelope.schema.json`.
pub fn schema() -> Value {
    let text =
        std::fs::read_to_string(SCHEMA_PATH).unwrap_or_else(|e| panic!("{SCHEMA_PATH}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Checks `value` against the schema's own words: required fields, no
/// others, each declared field's JSON type (strings at least their `minLength`,
/// arrays non-empty and of strings), and a `source` the schema lists among
/// its examples.
pub fn conforms(schema: &Value, value: &Value) -> Result<(), String> {
    let object = value.as_object().ok_or("not an object")?;
    let properties = schema["properties"].as_object().unwrap();
    for required in schema["required"].as_array().unwrap() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            return Err(format!("missing required `{name}`"));
        }
    }
    for (name, field) in object {
        let declared = properties
            .get(name)
            .ok_or_else(|| format!("`{name}` is not in the schema"))?;
        let fits = match declared["type"].as_str().unwrap_or("any") {
            // A field declared without a type (`record`, whose type the
            // schema words conditionally) takes any JSON value.
            "any" => true,
            "string" => field.as_str().is_some_and(|s| {
                declared["minLength"]
                    .as_u64()
                    .is_none_or(|min| s.len() as u64 >= min)
            }),
            "integer" => field.is_u64() || field.is_i64(),
            "object" => field.is_object(),
            "array" => field
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)),
            other => {
                return Err(format!(
                    "schema type `{other}` of `{name}` is not checked here"
                ));
            }
        };
        if !fits {
            return Err(format!(
                "`{name}` is {field}, not of type {}",
                declared["type"]
            ));
        }
    }
    let source = &object["source"];
    let examples = schema["properties"]["source"]["examples"].as_array();
    if !examples.is_some_and(|e| e.contains(source)) {
        return Err(format!(
            "source {source} is not among the schema's `source` examples"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_schema_is_read_from_docs() {
        assert!(SCHEMA_PATH.ends_with("/docs/event-envelope.schema.json"));
        assert_eq!(schema()["type"], "object");
    }

    #[test]
    fn the_check_refuses_what_the_schema_does_not_allow() {
        let schema = json!({
            "required": ["id", "source"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "source": {"type": "string", "examples": ["a.b"]},
                "n": {"type": "integer"},
                "list": {"type": "array"},
                "odd": {"type": "boolean"},
                "anything": {}
            }
        });
        let good = json!({"id": "x", "source": "a.b", "n": -1, "list": ["y"], "anything": 7});
        assert_eq!(conforms(&schema, &good), Ok(()));
        let refused = |field: &str, value: Value| {
            let mut bad = good.clone();
            bad[field] = value;
            conforms(&schema, &bad).unwrap_err()
        };
        assert_eq!(
            refused("id", json!("")),
            "`id` is \"\", not of type \"string\""
        );
        assert_eq!(
            refused("n", json!(1.5)),
            "`n` is 1.5, not of type \"integer\""
        );
        assert!(refused("list", json!([])).starts_with("`list` is []"));
        assert!(refused("list", json!([1])).starts_with("`list` is [1]"));
        assert_eq!(
            refused("source", json!("c.d")),
            "source \"c.d\" is not among the schema's `source` examples"
        );
        assert_eq!(refused("extra", json!(1)), "`extra` is not in the schema");
        assert!(refused("odd", json!(true)).starts_with("schema type `boolean` of `odd`"));
        assert_eq!(
            conforms(&schema, &json!({"source": "a.b"})).unwrap_err(),
            "missing required `id`"
        );
        assert_eq!(conforms(&schema, &json!([])).unwrap_err(), "not an object");
    }
}
