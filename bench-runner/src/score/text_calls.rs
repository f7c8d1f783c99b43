//! Calls written as text, for prompt mode (servers without native tools) and to recognise
//! `call_as_plain_text` in native mode. This is the `lenient` prompt decoder; `bfcl:` suites
//! read prompt-mode answers with BFCL's own, stricter one ([`super::bfcl_decode`]).
//!
//! Accepted forms, inside or outside a ``` fence or `<tool_call>` tags:
//! - Python syntax, BFCL's prompt format: `[func(a=1, b="x"), mod.other(c=[1, 2])]`, with or
//!   without the outer brackets; literals are Python's (`True`, `None`, `'single'`, tuples);
//! - JSON: `{"name": "f", "arguments": {…}}` (or `parameters`), a list of those,
//!   `{"function": {…}}`, `{"tool_calls": […]}`, and several objects one after another.
//!
//! [`parse`] answers `Found(calls)`, `NoCall` (plain prose), or `Malformed` (text that starts
//! like a call and does not parse — scored as `invalid_json_arguments`).

use serde_json::{Map, Number, Value};

use super::call::Call;

#[derive(Debug, Clone, PartialEq)]
pub enum TextCalls {
    Found(Vec<Call>),
    NoCall,
    Malformed(String),
}

/// Finds the calls in a model's text.
pub fn parse(text: &str) -> TextCalls {
    let mut malformed = None;
    for cand in candidates(text) {
        let c = cand.trim();
        if c.is_empty() {
            continue;
        }
        match from_json(c) {
            Some(Ok(calls)) if !calls.is_empty() => return TextCalls::Found(calls),
            Some(Err(e)) => malformed = malformed.or(Some(e)),
            _ => {}
        }
        match from_python(c) {
            Some(Ok(calls)) if !calls.is_empty() => return TextCalls::Found(calls),
            Some(Err(e)) => malformed = malformed.or(Some(e)),
            _ => {}
        }
    }
    malformed.map_or(TextCalls::NoCall, TextCalls::Malformed)
}

/// Fenced blocks and `<tool_call>` bodies first, then the whole text.
fn candidates(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("```") {
        let after = &rest[i + 3..];
        // Skip the info string (`json`, `python`, `tool_code`…).
        let body_start = after.find('\n').map_or(0, |n| n + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(end) => {
                out.push(&body[..end]);
                rest = &body[end + 3..];
            }
            None => {
                out.push(body);
                break;
            }
        }
    }
    let mut rest = text;
    while let Some(i) = rest.find("<tool_call>") {
        let body = &rest[i + "<tool_call>".len()..];
        let end = body.find("</tool_call>").unwrap_or(body.len());
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out.push(text);
    out
}

/// `None`: not JSON-looking at all. `Some(Err)`: JSON that is not a call.
fn from_json(c: &str) -> Option<Result<Vec<Call>, String>> {
    let start = c.find(['{', '['])?;
    // Prose before a JSON object is allowed ("Here is the call: {…}"); Python calls start with a name.
    let body = &c[start..];
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
    loop {
        match stream.next() {
            Some(Ok(v)) => values.push(v),
            Some(Err(e)) => {
                if values.is_empty() {
                    return if body.starts_with('{')
                        || body.trim_start_matches('[').trim_start().starts_with('{')
                    {
                        Some(Err(format!("malformed JSON call: {e}")))
                    } else {
                        None
                    };
                }
                break;
            }
            None => break,
        }
    }
    let mut calls = Vec::new();
    for v in values {
        collect_json_calls(&v, &mut calls);
    }
    if calls.is_empty() {
        None
    } else {
        Some(Ok(calls))
    }
}

fn collect_json_calls(v: &Value, out: &mut Vec<Call>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_json_calls(i, out)),
        Value::Object(m) => {
            if let Some(tc) = m.get("tool_calls") {
                return collect_json_calls(tc, out);
            }
            if let Some(f) = m.get("function").filter(|f| f.is_object()) {
                return collect_json_calls(f, out);
            }
            if let Some(name) = m.get("name").and_then(Value::as_str) {
                let args = m
                    .get("arguments")
                    .or_else(|| m.get("parameters"))
                    .cloned()
                    .unwrap_or(Value::Object(Map::new()));
                // Some models double-encode the arguments as a JSON string.
                let args = match args {
                    Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
                    a => a,
                };
                out.push(Call::new(name, args));
            } else if m.len() == 1 {
                // BFCL's own answer shape: {"func": {"a": 1}}.
                if let Some((name, Value::Object(args))) = m.iter().next()
                    && is_identifier(name)
                {
                    out.push(Call::new(name.clone(), Value::Object(args.clone())));
                }
            }
        }
        _ => {}
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// `None`: does not start like a Python call list.
fn from_python(c: &str) -> Option<Result<Vec<Call>, String>> {
    let t = c.trim();
    let inner = t.strip_prefix('[').map(|r| r.trim_start());
    let head = inner.unwrap_or(t);
    // Must start with `name(`.
    let name_len = head.find('(')?;
    if !is_identifier(head[..name_len].trim()) {
        return None;
    }
    let mut p = Py {
        s: t.as_bytes(),
        i: 0,
        text: t,
    };
    Some(p.call_list())
}

struct Py<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl Py<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("malformed call text at byte {}: {what}", self.i))
    }

    fn call_list(&mut self) -> Result<Vec<Call>, String> {
        let bracketed = self.eat(b'[');
        let mut calls = Vec::new();
        loop {
            self.ws();
            if bracketed && self.eat(b']') {
                break;
            }
            if self.peek().is_none() {
                if bracketed {
                    return self.err("missing ']'");
                }
                break;
            }
            calls.push(self.call()?);
            if self.eat(b',') {
                continue;
            }
            if bracketed {
                if self.eat(b']') {
                    break;
                }
                return self.err("expected ',' or ']'");
            }
            // Unbracketed: one call per line, or trailing prose ends the list.
            self.ws();
            let save = self.i;
            if self.ident().is_some() && self.eat(b'(') {
                self.i = save;
                continue;
            }
            self.i = save;
            break;
        }
        Ok(calls)
    }

    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric()
                || self.s[self.i] == b'_'
                || self.s[self.i] == b'.'
                || self.s[self.i] >= 0x80)
        {
            self.i += 1;
        }
        (self.i > start).then(|| self.text[start..self.i].to_string())
    }

    fn call(&mut self) -> Result<Call, String> {
        let Some(name) = self.ident() else {
            return self.err("expected a function name");
        };
        if !self.eat(b'(') {
            return self.err("expected '('");
        }
        let mut args = Map::new();
        loop {
            if self.eat(b')') {
                break;
            }
            let Some(key) = self.ident() else {
                return self.err("expected a keyword argument");
            };
            if !self.eat(b'=') {
                return self.err("expected '=' (arguments must be named)");
            }
            let v = self.value()?;
            args.insert(key, v);
            if self.eat(b',') {
                continue;
            }
            if self.eat(b')') {
                break;
            }
            return self.err("expected ',' or ')'");
        }
        Ok(Call {
            name,
            arguments: args,
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.peek() {
            Some(b'"') | Some(b'\'') => self.string().map(Value::String),
            Some(b'[') => self.seq(b'[', b']'),
            Some(b'(') => self.seq(b'(', b')'),
            Some(b'{') => self.dict(),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() || c == b'.' => self.number(),
            Some(_) => {
                let save = self.i;
                match self.ident().as_deref() {
                    Some("True" | "true") => Ok(Value::Bool(true)),
                    Some("False" | "false") => Ok(Value::Bool(false)),
                    Some("None" | "null") => Ok(Value::Null),
                    Some(other) => {
                        // A nested call or a bare name: keep its source text, as BFCL does.
                        if self.peek() == Some(b'(') {
                            self.i = save;
                            let start = self.i;
                            self.call()?;
                            Ok(Value::String(self.text[start..self.i].trim().to_string()))
                        } else {
                            Ok(Value::String(other.to_string()))
                        }
                    }
                    None => self.err("expected a value"),
                }
            }
            None => self.err("unexpected end"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        let start = self.i;
        let mut chars = self.text[start..].char_indices();
        while let Some((off, c)) = chars.next() {
            if c as u32 == q as u32 {
                self.i = start + off + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        self.i = self.s.len();
        self.err("unterminated string")
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'_'
            )
        {
            self.i += 1;
        }
        let t = self.text[start..self.i].replace('_', "");
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Value::from(i));
        }
        match t.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Ok(Value::Number(n)),
            None => self.err("bad number"),
        }
    }

    fn seq(&mut self, open: u8, close: u8) -> Result<Value, String> {
        self.eat(open);
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.value()?);
            if self.eat(b',') {
                continue;
            }
            if self.eat(close) {
                break;
            }
            return self.err("expected ',' or closing bracket");
        }
        Ok(Value::Array(items))
    }

    fn dict(&mut self) -> Result<Value, String> {
        self.eat(b'{');
        let mut m = Map::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let k = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return self.err("expected ':'");
            }
            let v = self.value()?;
            m.insert(k, v);
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                break;
            }
            return self.err("expected ',' or '}'");
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(t: &str) -> Vec<Call> {
        match parse(t) {
            TextCalls::Found(c) => c,
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn python_call_lists() {
        let c = found("[get_weather(city='Paris', days=3), math.hypot(x=4, y=5.5, z=None)]");
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            Call::new("get_weather", json!({"city": "Paris", "days": 3}))
        );
        assert_eq!(
            c[1],
            Call::new("math.hypot", json!({"x": 4, "y": 5.5, "z": null}))
        );
        let c = found("f(a=[1, 2], b={'k': True}, c=(1, 2))");
        assert_eq!(c[0].arguments["b"], json!({"k": true}));
        assert_eq!(c[0].arguments["c"], json!([1, 2]));
    }

    #[test]
    fn json_forms_and_fences() {
        let c = found(
            "Sure!\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```",
        );
        assert_eq!(c, vec![Call::new("get_weather", json!({"city": "Paris"}))]);
        let c = found("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>");
        assert_eq!(c[0].name, "f");
        let c = found(
            "{\"name\": \"a\", \"parameters\": {}}{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}",
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].arguments["x"], json!(1));
        let c = found("[{\"function\": {\"name\": \"f\", \"arguments\": {}}}]");
        assert_eq!(c[0].name, "f");
    }

    #[test]
    fn prose_is_no_call_and_broken_calls_are_malformed() {
        assert_eq!(parse("I cannot help with that."), TextCalls::NoCall);
        assert_eq!(parse("The answer is 42 (roughly)."), TextCalls::NoCall);
        assert!(matches!(
            parse("[get_weather(city='Paris'"),
            TextCalls::Malformed(_)
        ));
        assert!(matches!(
            parse("{\"name\": \"f\", \"arguments\": {\"a\": "),
            TextCalls::Malformed(_)
        ));
        assert!(matches!(parse("f(1, 2)"), TextCalls::Malformed(_)));
    }
}
