//! BFCL's AST checker (bfcl-eval 2026.3.23, `ast_checker.py`), re-implemented over JSON.
//!
//! Dispatch by category name, as BFCL does: a name containing `parallel` is checked without
//! order, one containing `multiple` picks the one expected function among several, anything
//! else is `simple` (exactly one call).
//!
//! Rules for one call against one expected call (`simple_function_checker`):
//! 1. the function name matches exactly;
//! 2. every parameter the function marks `required` is present;
//! 3. every parameter given is declared by the function *and* listed in the answer;
//! 4. types, with Python's exactness: `integer` rejects `5.0`, `true` and `"5"`; `float`
//!    accepts an integer (converted); `boolean` rejects `1`; `array`/`tuple` items are checked
//!    one level deep. A value whose type differs from the declared one but equals the type of
//!    the acceptable values passes as a "variable" (BFCL's `is_variable`) and is compared as is;
//! 5. values: strings compare after [`standardize`]; lists compare in order, element by
//!    element (strings standardised); dicts key by key (string values standardised, a missing
//!    key passes only if `""` is among its acceptable values, an extra key fails); lists of
//!    dicts compare dict by dict; anything else by equality (numbers by value);
//! 6. a parameter listed in the answer but absent passes only if `""` is among its values.
//!
//! Parallel: as many calls as expected; for each expected call in turn, the first unused model
//! call that passes is taken (greedy, any order). Irrelevance: pass when no call is made.

use serde_json::{Map, Value};

use super::call::{Call, ExpectedCall};
use super::failure::Failure;
use super::lang::{self, Language};
use super::normalize::standardize;

/// Why a check failed, with BFCL's own words for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub failure: Failure,
    pub detail: String,
}

fn fail(failure: Failure, detail: impl Into<String>) -> Mismatch {
    Mismatch {
        failure,
        detail: detail.into(),
    }
}

/// How a suite category is checked (BFCL dispatches on substrings of the category name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Simple,
    Multiple,
    /// `parallel` and `parallel_multiple`: any order.
    Parallel,
    /// No call may be made.
    Irrelevance,
    /// At least one call must be made (BFCL `live_relevance`).
    Relevance,
}

impl CheckKind {
    pub fn of(category: &str) -> Self {
        if category.contains("irrelevance") {
            CheckKind::Irrelevance
        } else if category.contains("relevance") {
            CheckKind::Relevance
        } else if category.contains("parallel") {
            CheckKind::Parallel
        } else if category.contains("multiple") {
            CheckKind::Multiple
        } else {
            CheckKind::Simple
        }
    }
}

/// Python's `type(value)` for a JSON value, as `json.loads` would make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyType {
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
}

pub fn py_type(v: &Value) -> PyType {
    match v {
        Value::Null => PyType::None,
        Value::Bool(_) => PyType::Bool,
        Value::Number(n) if n.is_f64() => PyType::Float,
        Value::Number(_) => PyType::Int,
        Value::String(_) => PyType::Str,
        Value::Array(_) => PyType::List,
        Value::Object(_) => PyType::Dict,
    }
}

/// BFCL's `PYTHON_TYPE_MAPPING` plus the JSON-Schema names our own suites use. `None` for a
/// type name we do not know: such a parameter is compared by value only.
pub fn declared_type(name: &str) -> Option<PyType> {
    Some(match name {
        "string" | "any" | "String" | "char" | "Any" => PyType::Str,
        "integer" | "int" | "long" | "short" | "byte" | "Bigint" => PyType::Int,
        "float" | "number" | "double" => PyType::Float,
        "boolean" | "bool" | "Boolean" => PyType::Bool,
        "array" | "tuple" | "list" | "Array" | "ArrayList" | "Queue" | "Stack" | "Set" => {
            PyType::List
        }
        "dict" | "object" | "HashMap" | "Hashtable" => PyType::Dict,
        _ => return None,
    })
}

/// Python `==` on JSON values: numbers by value (`5 == 5.0`, `True == 1`), lists in order,
/// dicts key by key.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Bool(_), Value::Number(_)) | (Value::Number(_), Value::Bool(_)) => num(a) == num(b),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| py_eq(x, v))
}

fn is_optional_marker(v: &Value) -> bool {
    v.as_str() == Some("")
}

/// The type of the first acceptable value that is not the optional marker `""`.
fn answer_type(acceptable: &[Value]) -> Option<PyType> {
    acceptable
        .iter()
        .find(|v| !is_optional_marker(v))
        .map(py_type)
}

/// BFCL's `type_checker`; `Ok(is_variable)` on success.
fn type_check(
    param: &str,
    value: &Value,
    acceptable: &[Value],
    expected: PyType,
    nested: Option<PyType>,
) -> Result<bool, Mismatch> {
    let ans_type = answer_type(acceptable);
    let is_variable = ans_type.is_some_and(|t| t != expected);
    if py_type(value) == expected {
        let Some(inner) = nested else {
            return Ok(is_variable);
        };
        // Each acceptable value that is a list: every item of the value must have the inner
        // type. A non-list acceptable value (the optional marker) lets the check pass, as in BFCL.
        for a in acceptable {
            let ok = match (a, value) {
                (Value::Array(items), Value::Array(vals)) => vals
                    .iter()
                    .all(|v| type_check(param, v, items, inner, None).is_ok()),
                _ => true,
            };
            if ok {
                return Ok(is_variable);
            }
        }
    }
    if ans_type.is_some_and(|t| py_type(value) == t) {
        return Ok(true);
    }
    Err(fail(
        Failure::WrongType,
        format!(
            "parameter '{param}': expected {expected:?}, got {:?} ({value})",
            py_type(value)
        ),
    ))
}

fn standardized(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize(s)),
        other => other.clone(),
    }
}

fn string_check(param: &str, value: &str, acceptable: &[Value]) -> Result<(), Mismatch> {
    let got = standardize(value);
    if acceptable
        .iter()
        .filter_map(Value::as_str)
        .any(|a| standardize(a) == got)
    {
        Ok(())
    } else {
        Err(fail(
            Failure::WrongValue,
            format!(
                "parameter '{param}': {value:?} is not one of {}",
                Value::from(acceptable.to_vec())
            ),
        ))
    }
}

fn list_check(param: &str, value: &[Value], acceptable: &[Value]) -> Result<(), Mismatch> {
    let got: Vec<Value> = value.iter().map(standardized).collect();
    let ok = acceptable.iter().any(|a| match a {
        Value::Array(items) => {
            let want: Vec<Value> = items.iter().map(standardized).collect();
            py_eq(&Value::Array(got.clone()), &Value::Array(want))
        }
        _ => false,
    });
    if ok {
        Ok(())
    } else {
        Err(fail(
            Failure::WrongValue,
            format!(
                "parameter '{param}': {} is not one of {}",
                Value::from(value.to_vec()),
                Value::from(acceptable.to_vec())
            ),
        ))
    }
}

/// BFCL's `dict_checker`: the value must match one acceptable dict, key by key.
fn dict_check(
    param: &str,
    value: &Map<String, Value>,
    acceptable: &[Value],
) -> Result<(), Mismatch> {
    let mut last = fail(
        Failure::WrongValue,
        format!("parameter '{param}': no acceptable dict"),
    );
    for a in acceptable {
        let Some(answer) = a.as_object() else {
            continue;
        };
        match dict_matches(param, value, answer) {
            Ok(()) => return Ok(()),
            Err(m) => last = m,
        }
    }
    Err(last)
}

fn dict_matches(
    param: &str,
    value: &Map<String, Value>,
    answer: &Map<String, Value>,
) -> Result<(), Mismatch> {
    for (k, v) in value {
        let Some(allowed) = answer.get(k) else {
            return Err(fail(
                Failure::UnexpectedParam,
                format!("parameter '{param}': unexpected dict key '{k}'"),
            ));
        };
        let allowed: Vec<Value> = allowed
            .as_array()
            .map_or_else(|| vec![allowed.clone()], Clone::clone);
        let want: Vec<Value> = allowed.iter().map(standardized).collect();
        if !contains(&want, &standardized(v)) {
            return Err(fail(
                Failure::WrongValue,
                format!(
                    "parameter '{param}': dict key '{k}' = {v} is not one of {}",
                    Value::from(allowed)
                ),
            ));
        }
    }
    for (k, allowed) in answer {
        let optional = allowed
            .as_array()
            .is_some_and(|a| a.iter().any(is_optional_marker));
        if !value.contains_key(k) && !optional {
            return Err(fail(
                Failure::MissingRequired,
                format!("parameter '{param}': missing dict key '{k}'"),
            ));
        }
    }
    Ok(())
}

/// BFCL's `list_dict_checker`: same length, and dict by dict against one acceptable list.
fn list_dict_check(param: &str, value: &[Value], acceptable: &[Value]) -> Result<(), Mismatch> {
    let mut last = fail(
        Failure::WrongValue,
        format!("parameter '{param}': no acceptable list of dicts"),
    );
    for a in acceptable {
        let Some(answer) = a.as_array() else { continue };
        if answer.len() != value.len() {
            last = fail(
                Failure::WrongValue,
                format!(
                    "parameter '{param}': {} dicts, expected {}",
                    value.len(),
                    answer.len()
                ),
            );
            continue;
        }
        let mut ok = true;
        for (v, want) in value.iter().zip(answer) {
            let r = match v.as_object() {
                Some(v) => dict_check(param, v, std::slice::from_ref(want)),
                None => Err(fail(
                    Failure::WrongType,
                    format!("parameter '{param}': list item {v} is not a dict"),
                )),
            };
            if let Err(m) = r {
                last = m;
                ok = false;
                break;
            }
        }
        if ok {
            return Ok(());
        }
    }
    Err(last)
}

/// The `properties` and `required` of a function doc (`parameters` in BFCL / OpenAI shape).
fn params_of(function: &Value) -> (Map<String, Value>, Vec<String>) {
    let p = function.get("parameters");
    let props = p
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let req = p
        .and_then(|p| p.get("required"))
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (props, req)
}

/// Checks one model call against one expected call (BFCL's `simple_function_checker`).
pub fn check_call(
    function: &Value,
    call: &Call,
    expected: &ExpectedCall,
    language: Language,
) -> Result<(), Mismatch> {
    let (props, required) = params_of(function);
    if call.name != expected.name {
        return Err(fail(
            Failure::WrongFunction,
            format!("called '{}', expected '{}'", call.name, expected.name),
        ));
    }
    for r in &required {
        if !call.arguments.contains_key(r) {
            return Err(fail(
                Failure::MissingRequired,
                format!("missing required parameter '{r}'"),
            ));
        }
    }
    for (param, raw_value) in &call.arguments {
        let (Some(decl), true) = (props.get(param), expected.params.contains_key(param)) else {
            return Err(fail(
                Failure::UnexpectedParam,
                format!("unexpected parameter '{param}'"),
            ));
        };
        let acceptable = expected.acceptable(param);
        let type_name = decl.get("type").and_then(Value::as_str).unwrap_or("string");
        let nested_name = decl.pointer("/items/type").and_then(Value::as_str);
        let mut value = raw_value.clone();
        if language != Language::Python {
            // Java / JavaScript arguments travel as strings in the language's own syntax.
            let Value::String(s) = raw_value else {
                return Err(fail(
                    Failure::WrongType,
                    format!(
                        "parameter '{param}': expected a {language:?} value as a string, got {raw_value}"
                    ),
                ));
            };
            value = lang::convert(s, type_name, nested_name, language);
        }
        let Some(expected_type) = declared_type(type_name) else {
            if !contains(acceptable, &value) {
                return Err(fail(
                    Failure::WrongValue,
                    format!(
                        "parameter '{param}': {value} is not one of {}",
                        Value::from(acceptable.to_vec())
                    ),
                ));
            }
            continue;
        };
        let nested = match expected_type {
            PyType::List if matches!(type_name, "array" | "tuple" | "Array" | "ArrayList") => {
                nested_name.and_then(declared_type)
            }
            _ => None,
        };
        // Python converts an int to a float where a float is declared.
        if expected_type == PyType::Float
            && py_type(&value) == PyType::Int
            && let Some(f) = value.as_f64().and_then(serde_json::Number::from_f64)
        {
            value = Value::Number(f);
        }
        let is_variable = type_check(param, &value, acceptable, expected_type, nested)?;
        if !is_variable {
            match (&value, expected_type) {
                (Value::Object(m), PyType::Dict) => {
                    dict_check(param, m, acceptable)?;
                    continue;
                }
                (Value::Array(items), PyType::List) if nested == Some(PyType::Dict) => {
                    list_dict_check(param, items, acceptable)?;
                    continue;
                }
                (Value::String(s), PyType::Str) => {
                    string_check(param, s, acceptable)?;
                    continue;
                }
                (Value::Array(items), PyType::List) => {
                    list_check(param, items, acceptable)?;
                    continue;
                }
                _ => {}
            }
        }
        if !contains(acceptable, &value) {
            return Err(fail(
                Failure::WrongValue,
                format!(
                    "parameter '{param}': {value} is not one of {}",
                    Value::from(acceptable.to_vec())
                ),
            ));
        }
    }
    for (param, acceptable) in &expected.params {
        let optional = acceptable
            .as_array()
            .is_some_and(|a| a.iter().any(is_optional_marker));
        if !call.arguments.contains_key(param) && !optional {
            return Err(fail(
                Failure::MissingRequired,
                format!("parameter '{param}' is in the answer, not optional, and absent"),
            ));
        }
    }
    Ok(())
}

fn find_function<'a>(functions: &'a [Value], name: &str) -> Option<&'a Value> {
    functions
        .iter()
        .find(|f| f.get("name").and_then(Value::as_str) == Some(name))
}

/// Checks a whole item: the model's calls against the expected calls, by category.
pub fn check_item(
    kind: CheckKind,
    functions: &[Value],
    calls: &[Call],
    expected: &[ExpectedCall],
    language: Language,
) -> Result<(), Mismatch> {
    match kind {
        CheckKind::Irrelevance => {
            if calls.is_empty() {
                Ok(())
            } else {
                Err(fail(
                    Failure::HallucinatedCall,
                    format!("{} call(s) on an irrelevance item", calls.len()),
                ))
            }
        }
        CheckKind::Relevance => {
            if calls.is_empty() {
                Err(fail(Failure::WrongCount, "no call on a relevance item"))
            } else {
                Ok(())
            }
        }
        CheckKind::Simple | CheckKind::Multiple => {
            if calls.len() != expected.len() || calls.len() != 1 {
                return Err(fail(
                    Failure::WrongCount,
                    format!("{} call(s), expected {}", calls.len(), expected.len()),
                ));
            }
            let f = lookup(functions, &expected[0].name)?;
            check_call(f, &calls[0], &expected[0], language)
        }
        CheckKind::Parallel => {
            if calls.len() != expected.len() {
                return Err(fail(
                    Failure::WrongCount,
                    format!("{} call(s), expected {}", calls.len(), expected.len()),
                ));
            }
            let mut used = vec![false; calls.len()];
            for (i, exp) in expected.iter().enumerate() {
                let f = lookup(functions, &exp.name)?;
                let mut best: Option<Mismatch> = None;
                let mut matched = false;
                for (j, call) in calls.iter().enumerate() {
                    if used[j] {
                        continue;
                    }
                    match check_call(f, call, exp, language) {
                        Ok(()) => {
                            used[j] = true;
                            matched = true;
                            break;
                        }
                        // The most telling error: one from a call to the same function.
                        Err(m) => {
                            if best.as_ref().is_none_or(|b| {
                                b.failure == Failure::WrongFunction
                                    && m.failure != Failure::WrongFunction
                            }) {
                                best = Some(m);
                            }
                        }
                    }
                }
                if !matched {
                    let m = best.unwrap_or_else(|| fail(Failure::WrongCount, "no model call left"));
                    return Err(Mismatch {
                        failure: m.failure,
                        detail: format!("expected call {i} ({}) unmatched: {}", exp.name, m.detail),
                    });
                }
            }
            Ok(())
        }
    }
}

fn lookup<'a>(functions: &'a [Value], name: &str) -> Result<&'a Value, Mismatch> {
    // An answer naming a function the item does not offer is a suite error; score it as a
    // mismatch rather than crash on user input.
    find_function(functions, name).ok_or_else(|| {
        fail(
            Failure::WrongFunction,
            format!("the item offers no function '{name}'"),
        )
    })
}

#[cfg(test)]
#[path = "ast_tests.rs"]
mod tests;
