//! Escaping for the places where names and model output end up. Names of devices, backends
//! and models are user input and may be hostile (`<script>`); GitHub renders HTML inside
//! Markdown, so Markdown cells are escaped as HTML too.

/// Text for a Markdown table cell: HTML-escaped, pipes escaped, on one line.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            // A trailing backslash would escape the cell's closing pipe.
            '*' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text or attribute value for XML (JUnit).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Elements an SVG of our charts may hold (what plotters' SVG backend writes). None of them
/// runs script, loads anything, or makes the HTML parser leave SVG content.
const SVG_ELEMENTS: &[&str] = &[
    "svg", "g", "rect", "line", "polyline", "polygon", "circle", "ellipse", "path", "text",
    "tspan", "title", "desc",
];

/// An SVG from our own charts, checked structurally before it is placed raw in report.html:
/// only the elements above, every attribute quoted and none that runs script or loads
/// anything (`on…` handlers, `href`, `src`, `style`), no comments, CDATA or processing
/// instructions, tags balanced. Text between tags is data: a name such as
/// `x" onload="alert(1)` arrives as `x&quot; onload=&quot;alert(1)` (plotters escapes every
/// text it writes), which is inert there, so the figure is kept. Before this check looked
/// at the tokens, it looked for substrings such as ` onload` anywhere, and a name that merely
/// contained one withheld every figure of the report.
pub fn safe_svg(svg: &str) -> Option<&str> {
    check_svg(svg).ok().map(|()| svg)
}

/// Why an SVG is refused (for tests and debugging): the first offending token.
fn check_svg(svg: &str) -> Result<(), String> {
    let s = svg.trim();
    if !s.starts_with("<svg") {
        return Err("does not start with <svg".into());
    }
    let b = s.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut closed_root = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            // Text: `<` is the only byte that starts markup; entities stay text.
            if closed_root && !b[i].is_ascii_whitespace() {
                return Err(format!("content after </svg> at byte {i}"));
            }
            i += 1;
            continue;
        }
        if closed_root {
            return Err(format!("markup after </svg> at byte {i}"));
        }
        i += 1;
        let end_tag = b.get(i) == Some(&b'/');
        if end_tag {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let name = &s[name_start..i];
        if name.is_empty() || !b[name_start].is_ascii_alphabetic() {
            return Err(format!(
                "not a tag at byte {name_start} (comment, CDATA or `<` in text)"
            ));
        }
        if !SVG_ELEMENTS.contains(&name) {
            return Err(format!("element <{name}> is not allowed"));
        }
        if end_tag {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if b.get(i) != Some(&b'>') {
                return Err(format!("malformed </{name}>"));
            }
            i += 1;
            if open.pop() != Some(name) {
                return Err(format!("</{name}> does not close the open element"));
            }
            closed_root = open.is_empty();
            continue;
        }
        if open.is_empty() && name != "svg" {
            return Err(format!("<{name}> outside the root <svg>"));
        }
        // Attributes, each `name="value"` (or single-quoted), then `>` or `/>`.
        loop {
            let ws = i;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(b'>') => {
                    i += 1;
                    open.push(name);
                    break;
                }
                Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    closed_root = open.is_empty();
                    break;
                }
                Some(_) if ws == i => {
                    return Err(format!("no space before an attribute of <{name}>"));
                }
                Some(_) => {}
                None => return Err(format!("unterminated <{name}>")),
            }
            let an = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b':' | b'_'))
            {
                i += 1;
            }
            let attr = s[an..i].to_ascii_lowercase();
            if attr.is_empty() || !b[an].is_ascii_alphabetic() {
                return Err(format!("malformed attribute in <{name}> at byte {an}"));
            }
            if attr.starts_with("on") || attr.contains("href") || attr == "src" || attr == "style" {
                return Err(format!("attribute {attr} is not allowed"));
            }
            if b.get(i) != Some(&b'=') {
                return Err(format!("attribute {attr} of <{name}> has no value"));
            }
            i += 1;
            let quote = match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return Err(format!("attribute {attr} of <{name}> is not quoted")),
            };
            i += 1;
            let vs = i;
            while i < b.len() && b[i] != quote {
                i += 1;
            }
            if i == b.len() {
                return Err(format!("unterminated value of {attr}"));
            }
            let value = s[vs..i].to_ascii_lowercase();
            if value.contains('<') || value.contains("javascript:") || value.contains("url(") {
                return Err(format!("value of {attr} is not allowed"));
            }
            i += 1;
        }
    }
    if !closed_root || !open.is_empty() {
        return Err("the root <svg> is not closed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_inert() {
        assert_eq!(
            md("<script>alert(1)</script>|x"),
            "&lt;script&gt;alert(1)&lt;/script&gt;\\|x"
        );
        assert_eq!(md("a\\|b*x*"), "a\\\\\\|b\\*x\\*");
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        assert!(safe_svg("<svg><text>&lt;script&gt;</text></svg>").is_some());
        assert!(safe_svg("<svg><script>x</script></svg>").is_none());
    }

    /// Names are data: an escaped name that reads like an attribute or a link stays text and
    /// the figure is kept.
    #[test]
    fn names_that_read_like_markup_keep_the_figure() {
        let svg = r##"<svg width="10" height="10" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg">
<rect x="0" y="0" width="10" height="10" opacity="1" fill="#FFFFFF" stroke="none"/>
<text x="1" y="2" dy="0.76em" text-anchor="start" font-family="sans-serif" font-size="13" opacity="1" fill="#000000">x&quot; onload=&quot;alert(1) href=&quot;javascript:alert(2)&quot; onerror=x &lt;script&gt;</text>
</svg>
"##;
        assert_eq!(check_svg(svg), Ok(()));
        assert!(safe_svg(svg).is_some());
    }

    /// Anything that could run script, load something or break out of the SVG is refused.
    #[test]
    fn markup_that_could_run_or_load_is_refused() {
        let refused = [
            r#"<svg><rect onload="alert(1)"/></svg>"#,
            r#"<svg><rect ONERROR="alert(1)"/></svg>"#,
            r#"<svg><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            r##"<svg><use xlink:href="#x"/></svg>"##,
            r#"<svg><image src="http://x"/></svg>"#,
            r#"<svg><rect style="fill:url(http://x)"/></svg>"#,
            r#"<svg><rect fill="url(http://x)"/></svg>"#,
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<svg><foreignObject><div></div></foreignObject></svg>"#,
            r#"<svg><!-- --><text>x</text></svg>"#,
            r#"<svg><![CDATA[x]]></svg>"#,
            r#"<svg><rect x=1/></svg>"#,
            r#"<svg><rect x="1"y="2"/></svg>"#,
            r#"<svg><text>a</svg>"#,
            r#"<svg><text>a</text>"#,
            r#"<svg></svg><script>alert(1)</script>"#,
            r#"<svg></svg>trailing"#,
            r#"<div><svg></svg></div>"#,
            r#"<svg><text>a < b</text></svg>"#,
            r#"<svg><p>x</p></svg>"#,
            r#"<svg><rect x="1"#,
        ];
        for svg in refused {
            assert!(safe_svg(svg).is_none(), "accepted: {svg}");
        }
    }
}
