//! A small HTML checker for the site's pages, strict where the pages are simple: every
//! element that is not void is closed, in order (SVG elements may close themselves); attribute
//! values are quoted and not repeated on one element; text holds no raw `<` and every `&`
//! starts a character reference; ids are unique. It also lists the links (`href`, `src`),
//! the ids, and the text of table rows, for the other checks.

use std::collections::HashSet;

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

#[derive(Debug, Default)]
pub struct Page {
    pub links: Vec<String>,
    pub ids: HashSet<String>,
    /// Every `(element, attribute name, value)`.
    pub attributes: Vec<(String, String, String)>,
}

fn entity_ok(rest: &str) -> bool {
    let end = match rest.find(';') {
        Some(e) if e <= 10 => e,
        _ => return false,
    };
    let name = &rest[1..end];
    if let Some(num) = name.strip_prefix('#') {
        return num
            .strip_prefix('x')
            .map_or(num.parse::<u32>().is_ok(), |h| {
                u32::from_str_radix(h, 16).is_ok()
            });
    }
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check_text(what: &str, text: &str) {
    for (i, _) in text.match_indices('&') {
        assert!(
            entity_ok(&text[i..]),
            "{what}: a bare `&` in text: {:?}",
            &text[i..(i + 20).min(text.len())]
        );
    }
}

/// Checks `html` and returns what it holds; panics naming the first fault.
pub fn check(what: &str, html: &str) -> Page {
    let mut page = Page::default();
    let mut stack: Vec<String> = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    let mut saw_doctype = false;
    while i < b.len() {
        let Some(k) = html[i..].find('<') else {
            check_text(what, &html[i..]);
            break;
        };
        check_text(what, &html[i..i + k]);
        i += k;
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += rest
                .find("-->")
                .unwrap_or_else(|| panic!("{what}: unterminated comment"))
                + 3;
            continue;
        }
        if rest.to_ascii_lowercase().starts_with("<!doctype html>") {
            saw_doctype = true;
            i += "<!doctype html>".len();
            continue;
        }
        if let Some(close) = rest.strip_prefix("</") {
            let end = close
                .find('>')
                .unwrap_or_else(|| panic!("{what}: unterminated end tag"));
            let name = close[..end].trim().to_ascii_lowercase();
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("{what}: </{name}> closes nothing"));
            assert_eq!(open, name, "{what}: <{open}> closed by </{name}>");
            i += 2 + end + 1;
            continue;
        }
        // A start tag: name, attributes, `>` or `/>`.
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b':') {
            j += 1;
        }
        let name = html[i + 1..j].to_ascii_lowercase();
        assert!(
            !name.is_empty(),
            "{what}: a raw `<` in text near {:?}",
            &html[i..(i + 30).min(html.len())]
        );
        let mut seen = HashSet::new();
        let self_closing;
        loop {
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            assert!(j < b.len(), "{what}: unterminated <{name}>");
            if b[j] == b'>' {
                self_closing = false;
                j += 1;
                break;
            }
            if html[j..].starts_with("/>") {
                self_closing = true;
                j += 2;
                break;
            }
            let start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/')
            {
                j += 1;
            }
            let attr = html[start..j].to_ascii_lowercase();
            assert!(
                !attr.is_empty(),
                "{what}: junk in <{name}> at {:?}",
                &html[j..(j + 20).min(html.len())]
            );
            assert!(seen.insert(attr.clone()), "{what}: <{name}> repeats {attr}");
            let mut value = String::new();
            if b.get(j) == Some(&b'=') {
                j += 1;
                let q = b[j];
                assert!(
                    q == b'"' || q == b'\'',
                    "{what}: <{name} {attr}=…> value not quoted"
                );
                let end = j
                    + 1
                    + html[j + 1..]
                        .find(q as char)
                        .unwrap_or_else(|| panic!("{what}: unterminated value"));
                value = html[j + 1..end].to_string();
                assert!(!value.contains('<'), "{what}: `<` inside <{name} {attr}>");
                check_text(what, &value);
                j = end + 1;
            }
            match attr.as_str() {
                "href" | "src" => page.links.push(value.clone()),
                "id" => assert!(page.ids.insert(value.clone()), "{what}: id {value} twice"),
                _ => {}
            }
            page.attributes.push((name.clone(), attr, value));
        }
        i = j;
        if self_closing {
            let in_svg = name == "svg" || stack.iter().any(|t| t == "svg");
            assert!(
                in_svg || VOID.contains(&name.as_str()),
                "{what}: <{name}/> outside SVG"
            );
            continue;
        }
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" || name == "script" {
            let end = html[i..]
                .find(&format!("</{name}>"))
                .unwrap_or_else(|| panic!("{what}: unterminated <{name}>"));
            i += end;
        }
        stack.push(name);
    }
    assert!(saw_doctype, "{what}: no <!DOCTYPE html>");
    assert!(stack.is_empty(), "{what}: never closed: {stack:?}");
    page
}

/// Text with tags dropped and the five XML entities (and numeric ones) decoded.
pub fn text(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(out.trim())
}

pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let r = &rest[i..];
        let end = r.find(';').unwrap_or(0);
        let ent = &r[1..end.max(1)];
        let c = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &r[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &r[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The cells' text of every body row of every table in `html` (or of the section with `id`).
pub fn rows(html: &str) -> Vec<Vec<String>> {
    html.split("<tr")
        .skip(1)
        .map(|tr| tr.split("</tr>").next().unwrap_or_default())
        .filter(|tr| tr.contains("<td"))
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| {
                    text(&format!(
                        "<td{}",
                        td.split("</td>").next().unwrap_or_default()
                    ))
                })
                .collect()
        })
        .collect()
}

/// The part of `html` inside `<section id="{id}">`.
pub fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let len = html[start..].find("</section>").expect("section end");
    &html[start..start + len]
}

#[test]
fn the_checker_finds_faults() {
    let ok = "<!DOCTYPE html><html><body><p id=\"a\">x &amp; y<br></p><svg><line x1=\"1\"/></svg></body></html>";
    assert_eq!(check("ok", ok).ids.len(), 1);
    for bad in [
        "<!DOCTYPE html><html><body><p>x</body></html>",
        "<!DOCTYPE html><html><body><p>a & b</p></body></html>",
        "<!DOCTYPE html><html><body><p class=x>a</p></body></html>",
        "<!DOCTYPE html><html><body><p a=\"1\" a=\"2\">a</p></body></html>",
        "<!DOCTYPE html><html><body><div/></body></html>",
        "<html><body></body></html>",
    ] {
        assert!(
            std::panic::catch_unwind(|| check("bad", bad)).is_err(),
            "{bad}"
        );
    }
    assert_eq!(unescape("&lt;b&gt; &quot;x&quot; &#39;"), "<b> \"x\" '");
}
