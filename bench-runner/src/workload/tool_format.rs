//! How functions are shown to a model.
//!
//! Native mode: as OpenAI `tools`, converted the way BFCL converts them for OpenAI-compatible
//! servers — names with `.` sent with `_` (mapped back by the scorer), `parameters.type`
//! `object`, and BFCL's type names mapped to JSON Schema (`dict`→`object`, `float`→`number`,
//! `tuple`→`array`, `any`→`string`, Java/JS names likewise). For Java and JavaScript items
//! every parameter is a `string` holding a value in that language's syntax, and the
//! description says so, as BFCL's own pre-processing does.
//!
//! Prompt mode: the functions as JSON inside a system message that asks for calls written
//! as `[func(param=value, …), …]` and nothing else.

use serde_json::{Map, Value, json};

use crate::score::lang::Language;
use crate::score::verdict::sanitize_name;

fn json_schema_type(t: &str) -> &'static str {
    match t {
        "integer" | "int" | "byte" | "short" | "long" | "Bigint" => "integer",
        "number" | "float" | "double" => "number",
        "boolean" | "bool" | "Boolean" => "boolean",
        "array" | "list" | "tuple" | "ArrayList" | "Array" | "Queue" | "Stack" | "Set" => "array",
        "dict" | "object" | "HashMap" | "Hashtable" => "object",
        _ => "string",
    }
}

fn convert_schema(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in obj {
        let converted = match k.as_str() {
            "type" => match val.as_str() {
                Some(t) => json!(json_schema_type(t)),
                None => val.clone(),
            },
            "properties" => match val.as_object() {
                Some(props) => Value::Object(
                    props
                        .iter()
                        .map(|(p, s)| (p.clone(), convert_schema(s)))
                        .collect(),
                ),
                None => val.clone(),
            },
            "items" => convert_schema(val),
            _ => val.clone(),
        };
        out.insert(k.clone(), converted);
    }
    Value::Object(out)
}

/// Java / JavaScript: every parameter becomes a string in the language's syntax.
fn stringify_params(params: &Value, lang: Language) -> Value {
    let mut p = params.clone();
    let lname = if lang == Language::Java {
        "Java"
    } else {
        "JavaScript"
    };
    if let Some(props) = p.get_mut("properties").and_then(Value::as_object_mut) {
        for (_, s) in props.iter_mut() {
            let t = s
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("any")
                .to_string();
            let mut d = s
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if t == "any" {
                d.push_str(&format!(
                    " This parameter can be of any type of {lname} object in string representation."
                ));
            } else {
                d.push_str(&format!(
                    " This is {lname} {t} type parameter in string representation."
                ));
            }
            *s = json!({"type": "string", "description": d});
        }
    }
    p
}

/// The `tools` array for a native request.
pub fn openai_tools(functions: &[Value], category: &str) -> Vec<Value> {
    let lang = Language::of(category);
    functions
        .iter()
        .map(|f| {
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let mut params = f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            if lang != Language::Python {
                params = stringify_params(&params, lang);
            }
            let mut params = convert_schema(&params);
            if let Some(o) = params.as_object_mut() {
                o.insert("type".into(), json!("object"));
                o.entry("properties").or_insert_with(|| json!({}));
            }
            json!({
                "type": "function",
                "function": {
                    "name": sanitize_name(name),
                    "description": f.get("description").and_then(Value::as_str).unwrap_or_default(),
                    "parameters": params,
                }
            })
        })
        .collect()
}

/// The system message of prompt mode.
pub fn prompt_mode_system(functions: &[Value], category: &str) -> String {
    let lang = match Language::of(category) {
        Language::Python => "Python 3",
        Language::Java => "Java 8",
        Language::JavaScript => "JavaScript",
    };
    let list = serde_json::to_string_pretty(functions).unwrap_or_default();
    format!(
        "You can call functions. Given the question and the functions below, answer only with \
the calls that fulfil the request, written as [func_name(param1=value1, param2=value2), other_func(param=value)] \
with named parameters, and no other text. Make several calls in the list when the request needs several. \
If no function fits the question, or required values are missing, say so in plain words and make no call. \
The functions are described in {lang} terms.\n\nFunctions (JSON):\n{list}\n"
    )
}

/// Parallel categories need `parallel_tool_calls: true` (llama-server defaults to false).
pub fn wants_parallel(category: &str) -> bool {
    category.contains("parallel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfcl_functions_become_openai_tools() {
        let f = json!({"name": "math.hypot", "description": "d", "parameters": {"type": "dict", "properties": {
            "x": {"type": "float"}, "pts": {"type": "array", "items": {"type": "tuple"}}, "o": {"type": "dict", "properties": {"k": {"type": "any"}}}
        }, "required": ["x"]}});
        let t = &openai_tools(&[f.clone()], "simple_python")[0];
        assert_eq!(t["function"]["name"], "math_hypot");
        let p = &t["function"]["parameters"];
        assert_eq!(p["type"], "object");
        assert_eq!(p["properties"]["x"]["type"], "number");
        assert_eq!(p["properties"]["pts"]["items"]["type"], "array");
        assert_eq!(p["properties"]["o"]["properties"]["k"]["type"], "string");
        assert_eq!(p["required"], json!(["x"]));
        let j = &openai_tools(&[f], "simple_java")[0];
        assert_eq!(
            j["function"]["parameters"]["properties"]["x"]["type"],
            "string"
        );
        assert!(wants_parallel("live_parallel_multiple") && !wants_parallel("multiple"));
    }
}
