//! Structured output: is the text one JSON value that satisfies the item's schema?
//!
//! The text must parse as JSON on its own (surrounding whitespace allowed; a ``` fence or
//! prose around it is not — that is the "broken structured output" being measured). The
//! value is validated against the schema as JSON Schema Draft 2020-12 with the `jsonschema`
//! crate; remote `$ref`s are never fetched.

use serde_json::Value;

use super::failure::Failure;

#[derive(Debug, Clone, PartialEq)]
pub enum Compliance {
    Valid(Value),
    /// [`Failure::InvalidJson`] or [`Failure::SchemaViolation`], with the first error.
    Invalid(Failure, String),
}

/// Compiles a schema once (the loader calls this to reject a bad schema up front).
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::new(schema).map_err(|e| e.to_string())
}

/// Checks one output against a compiled schema.
pub fn check(validator: &jsonschema::Validator, text: &str) -> Compliance {
    let value: Value = match serde_json::from_str(text.trim()) {
        Ok(v) => v,
        Err(e) => return Compliance::Invalid(Failure::InvalidJson, e.to_string()),
    };
    match validator.validate(&value) {
        Ok(()) => Compliance::Valid(value),
        Err(e) => Compliance::Invalid(
            Failure::SchemaViolation,
            format!("{} at '{}'", e, e.instance_path()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_invalid_and_violating() {
        let v = compile(&json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": false})).unwrap();
        assert!(matches!(check(&v, " {\"n\": 3}\n"), Compliance::Valid(_)));
        assert!(matches!(
            check(&v, "{\"n\": 3.5}"),
            Compliance::Invalid(Failure::SchemaViolation, _)
        ));
        assert!(matches!(
            check(&v, "{\"n\": 3, \"x\": 1}"),
            Compliance::Invalid(Failure::SchemaViolation, _)
        ));
        assert!(matches!(
            check(&v, "```json\n{\"n\": 3}\n```"),
            Compliance::Invalid(Failure::InvalidJson, _)
        ));
        assert!(matches!(
            check(&v, "{\"n\": "),
            Compliance::Invalid(Failure::InvalidJson, _)
        ));
        // Draft 2020-12 keywords work.
        let v =
            compile(&json!({"type": "array", "prefixItems": [{"type": "string"}], "items": false}))
                .unwrap();
        assert!(matches!(check(&v, "[\"a\"]"), Compliance::Valid(_)));
        assert!(matches!(
            check(&v, "[\"a\", 1]"),
            Compliance::Invalid(Failure::SchemaViolation, _)
        ));
        assert!(compile(&json!({"type": 5})).is_err());
    }
}
