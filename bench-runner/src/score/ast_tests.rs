//! Every rule of the AST checker on hand-written transcripts.

use serde_json::{Value, json};

use super::*;

fn func(name: &str, props: Value, required: &[&str]) -> Value {
    json!({"name": name, "description": "", "parameters": {"type": "dict", "properties": props, "required": required}})
}

fn exp(v: Value) -> ExpectedCall {
    ExpectedCall::from_bfcl(&v).unwrap()
}

fn call(name: &str, args: Value) -> Call {
    Call::new(name, args)
}

fn one(f: &Value, c: Call, e: Value) -> Result<(), Failure> {
    check_call(f, &c, &exp(e), Language::Python).map_err(|m| m.failure)
}

fn area() -> Value {
    func(
        "area",
        json!({"base": {"type": "integer"}, "height": {"type": "integer"}, "unit": {"type": "string"}}),
        &["base", "height"],
    )
}

#[test]
fn exact_match_passes_and_names_must_match() {
    let e = json!({"area": {"base": [10], "height": [5], "unit": ["units", ""]}});
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 10, "height": 5})),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(&area(), call("Area", json!({"base": 10, "height": 5})), e),
        Err(Failure::WrongFunction)
    );
}

#[test]
fn required_unexpected_and_optional_parameters() {
    let e = json!({"area": {"base": [10], "height": [5], "unit": ["units", ""]}});
    assert_eq!(
        one(&area(), call("area", json!({"base": 10})), e.clone()),
        Err(Failure::MissingRequired)
    );
    // Declared by the function but not listed in the answer: unexpected.
    let e2 = json!({"area": {"base": [10], "height": [5]}});
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 10, "height": 5, "unit": "units"})),
            e2
        ),
        Err(Failure::UnexpectedParam)
    );
    // Not declared at all.
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 10, "height": 5, "colour": "red"})),
            e.clone()
        ),
        Err(Failure::UnexpectedParam)
    );
    // Optional ("" among the values) may be left out, or given with an acceptable value.
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 10, "height": 5, "unit": "Units"})),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 10, "height": 5, "unit": "cm"})),
            e
        ),
        Err(Failure::WrongValue)
    );
    // In the answer without "": absent fails even though the function does not require it.
    let e3 = json!({"area": {"base": [10], "height": [5], "unit": ["units"]}});
    assert_eq!(
        one(&area(), call("area", json!({"base": 10, "height": 5})), e3),
        Err(Failure::MissingRequired)
    );
}

#[test]
fn integer_rejects_float_bool_and_string() {
    let e = json!({"area": {"base": [5], "height": [5]}});
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": 5.0, "height": 5})),
            e.clone()
        ),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": true, "height": 5})),
            e.clone()
        ),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(
            &area(),
            call("area", json!({"base": "5", "height": 5})),
            e.clone()
        ),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(&area(), call("area", json!({"base": 6, "height": 5})), e),
        Err(Failure::WrongValue)
    );
}

#[test]
fn float_accepts_integer_and_boolean_rejects_one() {
    let f = func(
        "f",
        json!({"x": {"type": "float"}, "flag": {"type": "boolean"}}),
        &["x"],
    );
    let e = json!({"f": {"x": [2.0], "flag": [true, ""]}});
    assert_eq!(one(&f, call("f", json!({"x": 2})), e.clone()), Ok(()));
    assert_eq!(one(&f, call("f", json!({"x": 2.0})), e.clone()), Ok(()));
    // An integer answer for a float parameter still matches by value.
    assert_eq!(
        one(&f, call("f", json!({"x": 2.0})), json!({"f": {"x": [2]}})),
        Ok(())
    );
    assert_eq!(
        one(&f, call("f", json!({"x": "2.0"})), e.clone()),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(&f, call("f", json!({"x": 2, "flag": 1})), e.clone()),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(&f, call("f", json!({"x": 2, "flag": "true"})), e.clone()),
        Err(Failure::WrongType)
    );
    assert_eq!(one(&f, call("f", json!({"x": 2, "flag": true})), e), Ok(()));
}

#[test]
fn strings_are_normalised() {
    let f = func("w", json!({"city": {"type": "string"}}), &["city"]);
    let e = json!({"w": {"city": ["San Francisco, CA"]}});
    for ok in [
        "san francisco ca",
        "SanFrancisco,CA",
        "San-Francisco/CA.",
        "san_francisco*ca^",
    ] {
        assert_eq!(
            one(&f, call("w", json!({"city": ok})), e.clone()),
            Ok(()),
            "{ok}"
        );
    }
    assert_eq!(
        one(
            &f,
            call("w", json!({"city": "San Francisco, California"})),
            e
        ),
        Err(Failure::WrongValue)
    );
    // ' and " compare equal.
    let e = json!({"w": {"city": ["say \"hi\""]}});
    assert_eq!(one(&f, call("w", json!({"city": "say 'hi'"})), e), Ok(()));
}

#[test]
fn a_variable_of_the_answers_type_is_compared_as_is() {
    // Integer parameter, answer given as a variable name (a string).
    let f = func("f", json!({"n": {"type": "integer"}}), &["n"]);
    assert_eq!(
        one(
            &f,
            call("f", json!({"n": "count"})),
            json!({"f": {"n": ["count"]}})
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &f,
            call("f", json!({"n": "Count"})),
            json!({"f": {"n": ["count"]}})
        ),
        Err(Failure::WrongValue)
    );
}

#[test]
fn lists_compare_in_order_element_by_element() {
    let f = func(
        "s",
        json!({"xs": {"type": "array", "items": {"type": "integer"}}, "names": {"type": "array", "items": {"type": "string"}}}),
        &["xs"],
    );
    let e = json!({"s": {"xs": [[1, 2, 3]], "names": [["New York", "Paris"], ""]}});
    assert_eq!(
        one(&f, call("s", json!({"xs": [1, 2, 3]})), e.clone()),
        Ok(())
    );
    assert_eq!(
        one(&f, call("s", json!({"xs": [3, 2, 1]})), e.clone()),
        Err(Failure::WrongValue)
    );
    assert_eq!(
        one(&f, call("s", json!({"xs": [1, 2]})), e.clone()),
        Err(Failure::WrongValue)
    );
    // Items of the wrong type: BFCL's nested type check fails, but the value then has the
    // answers' type (a list), so it is compared as a "variable" and fails on its value.
    assert_eq!(
        one(&f, call("s", json!({"xs": [1, "2", 3]})), e.clone()),
        Err(Failure::WrongValue)
    );
    assert_eq!(
        one(&f, call("s", json!({"xs": "1, 2, 3"})), e.clone()),
        Err(Failure::WrongType)
    );
    assert_eq!(
        one(
            &f,
            call(
                "s",
                json!({"xs": [1, 2, 3], "names": ["new york", "PARIS"]})
            ),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &f,
            call(
                "s",
                json!({"xs": [1, 2, 3], "names": ["Paris", "New York"]})
            ),
            e
        ),
        Err(Failure::WrongValue)
    );
}

#[test]
fn dicts_compare_key_by_key_with_the_optional_rule() {
    let f = func("b", json!({"opts": {"type": "dict"}}), &["opts"]);
    let e = json!({"b": {"opts": [{"room": ["Double"], "nights": [2], "breakfast": [true, ""]}]}});
    assert_eq!(
        one(
            &f,
            call("b", json!({"opts": {"room": "double", "nights": 2}})),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &f,
            call(
                "b",
                json!({"opts": {"room": "double", "nights": 2, "breakfast": true}})
            ),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &f,
            call("b", json!({"opts": {"room": "double"}})),
            e.clone()
        ),
        Err(Failure::MissingRequired)
    );
    assert_eq!(
        one(
            &f,
            call("b", json!({"opts": {"room": "double", "nights": 3}})),
            e.clone()
        ),
        Err(Failure::WrongValue)
    );
    assert_eq!(
        one(
            &f,
            call(
                "b",
                json!({"opts": {"room": "double", "nights": 2, "pets": 1}})
            ),
            e
        ),
        Err(Failure::UnexpectedParam)
    );
}

#[test]
fn lists_of_dicts_compare_dict_by_dict() {
    let f = func(
        "o",
        json!({"items": {"type": "array", "items": {"type": "dict"}}}),
        &["items"],
    );
    let e = json!({"o": {"items": [[{"sku": ["A1"], "qty": [2]}, {"sku": ["B2"], "qty": [1]}]]}});
    assert_eq!(
        one(
            &f,
            call(
                "o",
                json!({"items": [{"sku": "a1", "qty": 2}, {"sku": "B2", "qty": 1}]})
            ),
            e.clone()
        ),
        Ok(())
    );
    assert_eq!(
        one(
            &f,
            call(
                "o",
                json!({"items": [{"sku": "B2", "qty": 1}, {"sku": "a1", "qty": 2}]})
            ),
            e.clone()
        ),
        Err(Failure::WrongValue)
    );
    assert_eq!(
        one(
            &f,
            call("o", json!({"items": [{"sku": "a1", "qty": 2}]})),
            e
        ),
        Err(Failure::WrongValue)
    );
}

#[test]
fn simple_needs_exactly_one_call() {
    let fs = vec![area()];
    let e = vec![exp(json!({"area": {"base": [10], "height": [5]}}))];
    let c = call("area", json!({"base": 10, "height": 5}));
    assert!(
        check_item(
            CheckKind::Simple,
            &fs,
            std::slice::from_ref(&c),
            &e,
            Language::Python
        )
        .is_ok()
    );
    let r = check_item(
        CheckKind::Simple,
        &fs,
        &[c.clone(), c],
        &e,
        Language::Python,
    );
    assert_eq!(r.unwrap_err().failure, Failure::WrongCount);
    assert_eq!(
        check_item(CheckKind::Simple, &fs, &[], &e, Language::Python)
            .unwrap_err()
            .failure,
        Failure::WrongCount
    );
}

#[test]
fn multiple_picks_the_expected_function() {
    let fs = vec![
        area(),
        func("volume", json!({"side": {"type": "integer"}}), &["side"]),
    ];
    let e = vec![exp(json!({"volume": {"side": [3]}}))];
    assert!(
        check_item(
            CheckKind::of("multiple"),
            &fs,
            &[call("volume", json!({"side": 3}))],
            &e,
            Language::Python
        )
        .is_ok()
    );
    let r = check_item(
        CheckKind::of("multiple"),
        &fs,
        &[call("area", json!({"base": 3, "height": 3}))],
        &e,
        Language::Python,
    );
    assert_eq!(r.unwrap_err().failure, Failure::WrongFunction);
}

#[test]
fn parallel_matches_in_any_order_greedily() {
    let f = func(
        "play",
        json!({"artist": {"type": "string"}, "duration": {"type": "integer"}}),
        &["artist"],
    );
    let fs = vec![f];
    let e = vec![
        exp(json!({"play": {"artist": ["Taylor Swift"], "duration": [20]}})),
        exp(json!({"play": {"artist": ["Maroon 5"], "duration": [15]}})),
    ];
    let a = call("play", json!({"artist": "Taylor Swift", "duration": 20}));
    let b = call("play", json!({"artist": "Maroon 5", "duration": 15}));
    assert_eq!(CheckKind::of("parallel"), CheckKind::Parallel);
    assert_eq!(CheckKind::of("live_parallel_multiple"), CheckKind::Parallel);
    assert!(
        check_item(
            CheckKind::Parallel,
            &fs,
            &[a.clone(), b.clone()],
            &e,
            Language::Python
        )
        .is_ok()
    );
    assert!(
        check_item(
            CheckKind::Parallel,
            &fs,
            &[b.clone(), a.clone()],
            &e,
            Language::Python
        )
        .is_ok()
    );
    let r = check_item(
        CheckKind::Parallel,
        &fs,
        &[a.clone(), a.clone()],
        &e,
        Language::Python,
    );
    assert_eq!(r.unwrap_err().failure, Failure::WrongValue);
    let r = check_item(CheckKind::Parallel, &fs, &[a], &e, Language::Python);
    assert_eq!(r.unwrap_err().failure, Failure::WrongCount);
}

#[test]
fn irrelevance_passes_only_without_calls() {
    let fs = vec![area()];
    assert!(
        check_item(
            CheckKind::of("irrelevance"),
            &fs,
            &[],
            &[],
            Language::Python
        )
        .is_ok()
    );
    let r = check_item(
        CheckKind::of("live_irrelevance"),
        &fs,
        &[call("area", json!({}))],
        &[],
        Language::Python,
    );
    assert_eq!(r.unwrap_err().failure, Failure::HallucinatedCall);
    assert_eq!(CheckKind::of("live_relevance"), CheckKind::Relevance);
    assert!(
        check_item(
            CheckKind::Relevance,
            &fs,
            &[call("area", json!({}))],
            &[],
            Language::Python
        )
        .is_ok()
    );
}

#[test]
fn java_arguments_are_strings_converted_before_checking() {
    let f = func(
        "Copy.run",
        json!({"force": {"type": "boolean"}, "n": {"type": "long"}, "dst": {"type": "any"}}),
        &["force"],
    );
    let e = exp(json!({"Copy.run": {"force": [true], "n": [5, ""], "dst": ["backupPath", ""]}}));
    assert!(
        check_call(
            &f,
            &call(
                "Copy.run",
                json!({"force": "true", "n": "5L", "dst": "backupPath"})
            ),
            &e,
            Language::Java
        )
        .is_ok()
    );
    let r = check_call(
        &f,
        &call("Copy.run", json!({"force": true})),
        &e,
        Language::Java,
    );
    assert_eq!(r.unwrap_err().failure, Failure::WrongType);
}

#[test]
fn python_equality_of_values() {
    assert!(py_eq(&json!(5), &json!(5.0)));
    assert!(py_eq(&json!([1, {"a": 2.0}]), &json!([1.0, {"a": 2}])));
    assert!(!py_eq(&json!("5"), &json!(5)));
    assert!(!py_eq(&json!([1, 2]), &json!([2, 1])));
}
