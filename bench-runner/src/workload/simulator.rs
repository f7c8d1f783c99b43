//! The deterministic tool simulator of the agent loop: a calculator, a file table and a
//! weather table. Same call, same answer, always — so multi-turn items are reproducible and
//! replayable.
//!
//! - `calculator(expression)`: `+ - * /`, parentheses, unary minus and decimals; the result
//!   is printed with up to 6 decimals, trailing zeros removed (`17*23+5` → `396`);
//! - `list_files()`, `read_file(path)`: the built-in table plus the item's own `files`;
//! - `get_weather(city)`: the built-in table plus the item's own `weather` rows; city names
//!   compare case-insensitively.
//!
//! Any other name, or a missing argument, gets `{"error": …}` — the model must cope.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The functions the simulator implements, as suite `define` lines would give them.
pub fn functions() -> Vec<Value> {
    vec![
        json!({"name": "calculator", "description": "Evaluate an arithmetic expression with + - * / and parentheses.",
               "parameters": {"type": "dict", "properties": {"expression": {"type": "string", "description": "The expression, e.g. (2+3)*4"}}, "required": ["expression"]}}),
        json!({"name": "list_files", "description": "List the files in the workspace.", "parameters": {"type": "dict", "properties": {}, "required": []}}),
        json!({"name": "read_file", "description": "Read a text file from the workspace.",
               "parameters": {"type": "dict", "properties": {"path": {"type": "string", "description": "Path as list_files shows it"}}, "required": ["path"]}}),
        json!({"name": "get_weather", "description": "Current weather for a city.",
               "parameters": {"type": "dict", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}),
    ]
}

pub struct Simulator {
    files: BTreeMap<String, String>,
    weather: BTreeMap<String, Value>,
}

impl Simulator {
    pub fn new(
        extra_files: &BTreeMap<String, String>,
        extra_weather: &BTreeMap<String, Value>,
    ) -> Self {
        let mut files: BTreeMap<String, String> = [
            (
                "README.md",
                "edgebench workspace. Budget figures are in data/budget.csv.",
            ),
            (
                "data/budget.csv",
                "item,amount\nrent,1200\nfood,450\ntransport,130\n",
            ),
            (
                "notes/todo.txt",
                "1. call the plumber\n2. renew passport\n3. buy 3 kg of rice",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        files.extend(extra_files.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut weather: BTreeMap<String, Value> = [
            (
                "paris",
                json!({"city": "Paris", "temperature_c": 18, "condition": "cloudy"}),
            ),
            (
                "tokyo",
                json!({"city": "Tokyo", "temperature_c": 24, "condition": "sunny"}),
            ),
            (
                "oslo",
                json!({"city": "Oslo", "temperature_c": -3, "condition": "snow"}),
            ),
            (
                "lima",
                json!({"city": "Lima", "temperature_c": 21, "condition": "fog"}),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        weather.extend(
            extra_weather
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone())),
        );
        Simulator { files, weather }
    }

    /// The tool result for one call, as the text of a `tool` message.
    pub fn answer(&self, name: &str, args: &Map<String, Value>) -> String {
        let arg = |k: &str| args.get(k).and_then(Value::as_str);
        let v = match name {
            "calculator" => match arg("expression").map(evaluate) {
                Some(Ok(x)) => json!({"result": format_number(x)}),
                Some(Err(e)) => json!({"error": e}),
                None => json!({"error": "missing argument `expression`"}),
            },
            "list_files" => json!({"files": self.files.keys().collect::<Vec<_>>()}),
            "read_file" => match arg("path") {
                Some(p) => match self.files.get(p.trim_start_matches("./")) {
                    Some(t) => json!({"path": p, "content": t}),
                    None => json!({"error": format!("no such file: {p}")}),
                },
                None => json!({"error": "missing argument `path`"}),
            },
            "get_weather" => match arg("city") {
                Some(c) => self
                    .weather
                    .get(&c.trim().to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| json!({"error": format!("unknown city: {c}")})),
                None => json!({"error": "missing argument `city`"}),
            },
            other => json!({"error": format!("unknown function: {other}")}),
        };
        v.to_string()
    }
}

fn format_number(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Evaluates `+ - * /` with parentheses (recursive descent).
pub fn evaluate(expr: &str) -> Result<f64, String> {
    let tokens: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let v = sum(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected `{}` in expression", tokens[pos]));
    }
    if !v.is_finite() {
        return Err("division by zero".into());
    }
    Ok(v)
}

fn sum(t: &[char], p: &mut usize) -> Result<f64, String> {
    let mut v = product(t, p)?;
    while *p < t.len() && (t[*p] == '+' || t[*p] == '-') {
        let op = t[*p];
        *p += 1;
        let r = product(t, p)?;
        v = if op == '+' { v + r } else { v - r };
    }
    Ok(v)
}

fn product(t: &[char], p: &mut usize) -> Result<f64, String> {
    let mut v = atom(t, p)?;
    while *p < t.len() && matches!(t[*p], '*' | '/' | '×' | '÷') {
        let op = t[*p];
        *p += 1;
        let r = atom(t, p)?;
        v = if op == '*' || op == '×' {
            v * r
        } else {
            v / r
        };
    }
    Ok(v)
}

fn atom(t: &[char], p: &mut usize) -> Result<f64, String> {
    match t.get(*p) {
        Some('-') => {
            *p += 1;
            Ok(-atom(t, p)?)
        }
        Some('(') => {
            *p += 1;
            let v = sum(t, p)?;
            if t.get(*p) != Some(&')') {
                return Err("missing `)`".into());
            }
            *p += 1;
            Ok(v)
        }
        Some(c) if c.is_ascii_digit() || *c == '.' => {
            let start = *p;
            while *p < t.len() && (t[*p].is_ascii_digit() || t[*p] == '.' || t[*p] == ',') {
                *p += 1;
            }
            let s: String = t[start..*p].iter().filter(|c| **c != ',').collect();
            s.parse().map_err(|_| format!("bad number `{s}`"))
        }
        Some(c) => Err(format!("unexpected `{c}` in expression")),
        None => Err("unexpected end of expression".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calculator_and_tables() {
        assert_eq!(evaluate("(17*23)+5").unwrap(), 396.0);
        assert_eq!(evaluate("-2 * (3 + 4) / 7").unwrap(), -2.0);
        assert!(evaluate("1/0").is_err());
        assert!(evaluate("2 +").is_err());
        let s = Simulator::new(&BTreeMap::new(), &BTreeMap::new());
        let a = |n: &str, v: Value| s.answer(n, v.as_object().unwrap());
        assert_eq!(
            a("calculator", json!({"expression": "1/3"})),
            "{\"result\":\"0.333333\"}"
        );
        assert!(a("get_weather", json!({"city": "PARIS"})).contains("cloudy"));
        assert!(a("get_weather", json!({"city": "Atlantis"})).contains("error"));
        assert!(a("read_file", json!({"path": "data/budget.csv"})).contains("rent,1200"));
        assert!(a("list_files", json!({})).contains("notes/todo.txt"));
        assert!(a("delete_all", json!({})).contains("unknown function"));
    }
}
