//! The shapes the scorers work on: calls a model made and calls a suite expects.

use serde_json::{Map, Value};

/// A call as it came off the wire, produced by backends (a protocol type of theirs).
pub use crate::backend::RawCall;

/// A call with parsed arguments, ready for the checker.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub arguments: Map<String, Value>,
}

impl Call {
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        let arguments = match arguments {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Call {
            name: name.into(),
            arguments,
        }
    }
}

/// One expected call in BFCL's `possible_answer` shape: for each parameter, the list of
/// acceptable values (`""` among them marks the parameter as optional).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCall {
    pub name: String,
    pub params: Map<String, Value>,
}

impl ExpectedCall {
    /// Reads `{"func": {"param": [v1, v2], …}}`, BFCL's ground-truth entry.
    pub fn from_bfcl(v: &Value) -> Option<Self> {
        let obj = v.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        let (name, params) = obj.iter().next()?;
        let params = params.as_object()?.clone();
        if params.values().any(|a| !a.is_array()) {
            return None;
        }
        Some(ExpectedCall {
            name: name.clone(),
            params,
        })
    }

    /// The acceptable values of a parameter (empty when the answer does not list it).
    pub fn acceptable(&self, param: &str) -> &[Value] {
        self.params
            .get(param)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}
