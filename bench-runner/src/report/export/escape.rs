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

/// An SVG from our own charts, refused if anything in it could run script. plotters escapes
/// every text it writes, so this only guards against a future change there.
pub fn safe_svg(svg: &str) -> Option<&str> {
    let lower = svg.to_ascii_lowercase();
    let bad = [
        "<script",
        "javascript:",
        "<foreignobject",
        " onload",
        " onclick",
        " onerror",
        "<iframe",
        "href=",
    ];
    (lower.trim_start().starts_with("<svg") && !bad.iter().any(|b| lower.contains(b)))
        .then_some(svg)
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
}
