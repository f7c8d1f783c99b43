//! BFCL's prompt-mode decoder, so that a `bfcl:` suite's prompt-mode score is the one BFCL
//! would publish for the same answers.
//!
//! BFCL (`default_decode_ast_prompting` then `ast_parse`) reads an answer this way: strip
//! backticks, newlines and spaces from both ends; add `[` in front and `]` at the end where
//! missing; strip whitespace, then `'`, from both ends; parse what is left as *one Python
//! expression* (`ast.parse(…, mode="eval")`), which must be a call or a list / tuple / set
//! of calls. Each call becomes
//! `{name: {keyword: value}}`: positional arguments are dropped, and values are read as
//! `resolve_ast_by_type` reads them (Python literals; a bare name is its text; a unary
//! operator always negates; arithmetic is evaluated; a nested call is its source text, or
//! `{name: {…}}` when it has keywords). Anything else — prose, a JSON object, a fence with a
//! language tag, an unclosed bracket, text after the list, an attribute such as `math.pi`
//! as a value — fails to decode, which BFCL scores as "no call": correct on an irrelevance
//! item, wrong everywhere else. (BFCL reads Java and JavaScript answers with tree-sitter
//! parsers; edgebench reads them with this Python one, as the calls share that shape.)
//!
//! This is a re-implementation over the subset of Python that answers use; the fixtures in
//! the tests are outputs of BFCL's own decoder (bfcl-eval 2026.3.23).

use serde_json::{Map, Number, Value};

use super::call::Call;
use python::Expr;

mod python;

/// Decodes an answer as BFCL does; `Err` says why BFCL's decoder would raise.
pub fn decode(text: &str) -> Result<Vec<Call>, String> {
    let t = text.trim_matches(['`', '\n', ' ']);
    let mut wrapped = String::with_capacity(t.len() + 2);
    if !t.starts_with('[') {
        wrapped.push('[');
    }
    wrapped.push_str(t);
    if !wrapped.ends_with(']') {
        wrapped.push(']');
    }
    let body = wrapped.trim().trim_matches('\'');
    let e = python::parse(body)?;
    let elts = match e {
        Expr::Call { .. } => vec![e],
        Expr::List(v) | Expr::Tuple(v) | Expr::Set(v) => v,
        _ => return Err("not a call or a list of calls".into()),
    };
    elts.iter()
        .map(|c| match c {
            Expr::Call { func, kwargs, .. } => {
                let mut args = Map::new();
                for (k, v) in kwargs {
                    args.insert(keyword(k), resolve(v)?);
                }
                Ok(Call {
                    name: call_name(func),
                    arguments: args,
                })
            }
            _ => Err("an element of the list is not a call".into()),
        })
        .collect()
}

/// `a.b.c` for a call's function; a base that is not a name is left out, as BFCL does.
fn call_name(func: &Expr) -> String {
    let mut parts = Vec::new();
    let mut f = func;
    while let Expr::Attr(base, attr) = f {
        parts.push(attr.clone());
        f = base;
    }
    if let Expr::Name(n) = f {
        parts.push(n.clone());
    }
    parts.reverse();
    parts.join(".")
}

/// A keyword's name; `**mapping` has none, which BFCL keeps as the key `None` (`null`).
fn keyword(k: &Option<String>) -> String {
    k.clone().unwrap_or_else(|| "null".into())
}

fn int_value(v: i128) -> Result<Value, String> {
    i64::try_from(v)
        .map(Value::from)
        .or_else(|_| u64::try_from(v).map(Value::from))
        .map_err(|_| "integer out of range".to_string())
}

fn float_value(v: f64) -> Result<Value, String> {
    Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| "a float that JSON cannot hold".into())
}

/// BFCL's `resolve_ast_by_type`.
fn resolve(e: &Expr) -> Result<Value, String> {
    match e {
        Expr::Int(v) => int_value(*v),
        Expr::Float(v) => float_value(*v),
        Expr::Str(s) => Ok(Value::String(s.clone())),
        Expr::Bool(b) => Ok(Value::Bool(*b)),
        Expr::None_ => Ok(Value::Null),
        Expr::Ellipsis => Ok(Value::String("...".into())),
        Expr::Name(n) => Ok(Value::String(n.clone())),
        // BFCL negates `operand.value` whatever the operator (`+5` gives -5).
        Expr::Unary(inner) => match &**inner {
            Expr::Int(v) => int_value(-v),
            Expr::Float(v) => float_value(-v),
            Expr::Bool(b) => int_value(-i128::from(*b)),
            _ => Err("unsupported unary operand".into()),
        },
        Expr::List(v) | Expr::Tuple(v) => v
            .iter()
            .map(resolve)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Expr::Dict(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                let key = match resolve(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, resolve(v)?);
            }
            Ok(Value::Object(m))
        }
        Expr::Call { func, args, kwargs } => {
            if kwargs.is_empty() {
                return Ok(Value::String(unparse_call(func, args)?));
            }
            let mut inner = Map::new();
            for (k, v) in kwargs {
                inner.insert(keyword(k), resolve(v)?);
            }
            let mut m = Map::new();
            m.insert(call_name(func), Value::Object(inner));
            Ok(Value::Object(m))
        }
        Expr::Bin(..) => eval(e).and_then(|n| match n {
            Num::Int(i) => int_value(i),
            Num::Float(f) => float_value(f),
            Num::Str(s) => Ok(Value::String(s)),
        }),
        Expr::Attr(..) => Err("unsupported value: an attribute".into()),
        Expr::Set(_) => Err("unsupported value: a set".into()),
        Expr::Other(what) => Err(format!("unsupported value: {what}")),
    }
}

enum Num {
    Int(i128),
    Float(f64),
    Str(String),
}

/// BFCL `eval`s arithmetic; this covers numbers and string concatenation.
fn eval(e: &Expr) -> Result<Num, String> {
    let unsupported = || "unsupported arithmetic".to_string();
    Ok(match e {
        Expr::Int(v) => Num::Int(*v),
        Expr::Bool(b) => Num::Int(i128::from(*b)),
        Expr::Float(v) => Num::Float(*v),
        Expr::Str(s) => Num::Str(s.clone()),
        Expr::Unary(inner) => match eval(inner)? {
            Num::Int(i) => Num::Int(-i),
            Num::Float(f) => Num::Float(-f),
            Num::Str(_) => return Err(unsupported()),
        },
        Expr::Bin(a, op, b) => match (eval(a)?, *op, eval(b)?) {
            (Num::Str(x), "+", Num::Str(y)) => Num::Str(x + &y),
            (Num::Int(x), op, Num::Int(y)) => match op {
                "+" => Num::Int(x + y),
                "-" => Num::Int(x - y),
                "*" => Num::Int(x.checked_mul(y).ok_or_else(unsupported)?),
                "/" if y != 0 => Num::Float(x as f64 / y as f64),
                "//" if y != 0 => {
                    let floor = x % y != 0 && ((x < 0) != (y < 0));
                    Num::Int(x / y - i128::from(floor))
                }
                "%" if y != 0 => Num::Int(((x % y) + y) % y),
                "**" if (0..=64).contains(&y) => {
                    Num::Int(x.checked_pow(y as u32).ok_or_else(unsupported)?)
                }
                "**" => Num::Float((x as f64).powf(y as f64)),
                _ => return Err(unsupported()),
            },
            (x, op, y) => {
                let f = |n: Num| match n {
                    Num::Int(i) => Ok(i as f64),
                    Num::Float(f) => Ok(f),
                    Num::Str(_) => Err(unsupported()),
                };
                let (x, y) = (f(x)?, f(y)?);
                Num::Float(match op {
                    "+" => x + y,
                    "-" => x - y,
                    "*" => x * y,
                    "/" if y != 0.0 => x / y,
                    "**" => x.powf(y),
                    _ => return Err(unsupported()),
                })
            }
        },
        _ => return Err(unsupported()),
    })
}

/// `ast.unparse` of a call without keywords (its value in BFCL is this text).
fn unparse_call(func: &Expr, args: &[Expr]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(unparse).collect::<Result<_, _>>()?;
    Ok(format!("{}({})", unparse(func)?, args.join(", ")))
}

fn unparse(e: &Expr) -> Result<String, String> {
    let list = |v: &[Expr]| -> Result<String, String> {
        Ok(v.iter()
            .map(unparse)
            .collect::<Result<Vec<_>, _>>()?
            .join(", "))
    };
    Ok(match e {
        Expr::Int(v) => v.to_string(),
        Expr::Float(v) => py_float(*v),
        Expr::Str(s) => py_repr(s),
        Expr::Bool(b) => (if *b { "True" } else { "False" }).to_string(),
        Expr::None_ => "None".into(),
        Expr::Ellipsis => "...".into(),
        Expr::Name(n) => n.clone(),
        Expr::Attr(b, a) => format!("{}.{a}", unparse(b)?),
        Expr::Call { func, args, kwargs } if kwargs.is_empty() => unparse_call(func, args)?,
        Expr::List(v) => format!("[{}]", list(v)?),
        Expr::Tuple(v) if v.len() == 1 => format!("({},)", unparse(&v[0])?),
        Expr::Tuple(v) => format!("({})", list(v)?),
        Expr::Unary(inner) => format!("-{}", unparse(inner)?),
        Expr::Dict(pairs) => {
            let kv: Vec<String> = pairs
                .iter()
                .map(|(k, v)| Ok(format!("{}: {}", unparse(k)?, unparse(v)?)))
                .collect::<Result<_, String>>()?;
            format!("{{{}}}", kv.join(", "))
        }
        _ => return Err("an argument edgebench cannot write back as Python".into()),
    })
}

/// Python's `repr` of a float, for the forms answers use.
fn py_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:?}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    }
}

/// Python's `repr` of a string: single quotes unless the text holds one and no double quote.
fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every answer in the fixture decodes to what BFCL's own decoder gave, or fails where
    /// it raised; `no_call` is BFCL's irrelevance verdict input (`is_empty_output`).
    #[test]
    fn agrees_with_bfcls_decoder_on_every_fixture() {
        let fixtures: Value = serde_json::from_str(include_str!("fixtures.json")).unwrap();
        let cases = fixtures["cases"].as_array().unwrap();
        assert!(cases.len() >= 60, "{}", cases.len());
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let got = decode(text);
            match case.get("decoded") {
                Some(want) => {
                    let calls =
                        got.unwrap_or_else(|e| panic!("{text:?}: BFCL decodes it, we say {e}"));
                    let as_bfcl: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            let mut m = Map::new();
                            m.insert(c.name.clone(), Value::Object(c.arguments.clone()));
                            Value::Object(m)
                        })
                        .collect();
                    assert_eq!(&Value::Array(as_bfcl), want, "{text:?}");
                    assert_eq!(calls.is_empty(), case["no_call"] == true, "{text:?}");
                }
                None => assert!(
                    got.is_err(),
                    "{text:?}: BFCL raises {}, we decode {got:?}",
                    case["error"]
                ),
            }
        }
    }

    #[test]
    fn python_literals_unparse_as_python_does() {
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(2.5), "2.5");
        assert_eq!(py_float(3.0), "3.0");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\nb"), "'a\\nb'");
        let c = decode("[f(a=g([1,2], 'x', 1e20, 0x10, (1,), {'k':1}, -3, m.n))]").unwrap();
        assert_eq!(
            c[0].arguments["a"],
            Value::String("g([1, 2], 'x', 1e+20, 16, (1,), {'k': 1}, -3, m.n)".into())
        );
    }
}
