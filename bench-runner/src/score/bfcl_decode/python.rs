//! Python's expression syntax, as far as answers use it: `ast.parse(text, mode="eval")` over
//! literals, names, attributes, calls, containers and operators, with Python's tokenizer
//! rules (newlines only inside brackets, no indented first line, comments, `\` joins).

/// One Python expression (`eval` input): the text must hold exactly one, followed by
/// nothing but newlines.
pub(super) fn parse(text: &str) -> Result<Expr, String> {
    let (tokens, spans) = tokenize(text)?;
    let mut p = Parser {
        t: &tokens,
        spans: &spans,
        src: text,
        i: 0,
    };
    let e = p.expression_list()?;
    while p.peek() == &Tok::Newline {
        p.i += 1;
    }
    if p.peek() != &Tok::End {
        return Err("invalid syntax: text after the expression".into());
    }
    Ok(e)
}

/// Byte range of a token in the decoded text.
type Span = (usize, usize);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i128),
    Float(f64),
    Str(String),
    /// A bytes or complex literal: BFCL keeps a Python value no JSON can hold; edgebench
    /// keeps its source text, which matches no expected value either.
    Opaque(String),
    FString,
    Op(&'static str),
    Newline,
    End,
}

const OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "(", ")", "[", "]", "{", "}", ",", ":",
    ".", ";", "@", "=", "+", "-", "*", "/", "%", "&", "|", "^", "~", "<", ">",
];

/// Python's tokenizer for `eval` input: newlines count only outside brackets, the first
/// line may not be indented, `#` starts a comment, `\` joins lines. Each token comes with
/// the byte range of its source text.
fn tokenize(s: &str) -> Result<(Vec<Tok>, Vec<Span>), String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut line_start = true;
    while i < b.len() {
        let (c, first, count) = (b[i], i, out.len());
        if line_start && depth == 0 {
            // Indentation of a line that holds a token.
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\x0c') {
                j += 1;
            }
            let blank = j >= b.len() || matches!(b[j], b'\n' | b'\r' | b'#');
            if !blank && j > i {
                return Err("unexpected indent".into());
            }
            line_start = false;
            i = j;
            continue;
        }
        match c {
            b' ' | b'\t' | b'\x0c' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' if matches!(b.get(i + 1), Some(b'\n')) => i += 2,
            b'\\' if b.get(i + 1) == Some(&b'\r') => {
                i += if b.get(i + 2) == Some(&b'\n') { 3 } else { 2 };
            }
            b'\n' | b'\r' => {
                if depth == 0 {
                    if !matches!(out.last(), None | Some(Tok::Newline)) {
                        out.push(Tok::Newline);
                    }
                    line_start = true;
                }
                i += 1;
            }
            _ if is_ident_start(&s[i..]) => {
                let start = i;
                while let Some(ch) = s[i..].chars().next().filter(|&ch| is_ident_char(ch)) {
                    i += ch.len_utf8();
                }
                let word = &s[start..i];
                if matches!(b.get(i), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    let lower = word.to_ascii_lowercase();
                    let (text, next) = string(s, i, lower.contains('r'))?;
                    i = next;
                    out.push(if lower.contains('b') {
                        Tok::Opaque(s[start..i].to_string())
                    } else if lower.contains('f') {
                        Tok::FString
                    } else {
                        Tok::Str(text)
                    });
                } else {
                    out.push(Tok::Name(word.to_string()));
                }
            }
            b'\'' | b'"' => {
                let (text, next) = string(s, i, false)?;
                i = next;
                out.push(Tok::Str(text));
            }
            _ if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let (tok, next) = number(s, i)?;
                i = next;
                out.push(tok);
            }
            _ => {
                let op = OPS
                    .iter()
                    .find(|op| s[i..].starts_with(**op))
                    .ok_or_else(|| format!("invalid character {:?}", &s[i..].chars().next()))?;
                match *op {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => {
                        depth = depth
                            .checked_sub(1)
                            .ok_or_else(|| format!("unmatched '{op}'"))?;
                    }
                    _ => {}
                }
                out.push(Tok::Op(op));
                i += op.len();
            }
        }
        if out.len() > count {
            spans.push((first, i));
        }
    }
    if depth != 0 {
        return Err("unexpected end: a bracket is not closed".into());
    }
    out.push(Tok::End);
    spans.push((s.len(), s.len()));
    Ok((out, spans))
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn is_ident_start(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_alphabetic())
}

fn is_string_prefix(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf"
    )
}

/// A string literal starting at the quote `start`; returns its value and the index after it.
fn string(s: &str, start: usize, raw: bool) -> Result<(String, usize), String> {
    let q = &s[start..start + 1];
    let triple = s[start..].starts_with(&q.repeat(3));
    let close = if triple { q.repeat(3) } else { q.to_string() };
    let mut i = start + close.len();
    let mut out = String::new();
    loop {
        let rest = &s[i..];
        if rest.starts_with(close.as_str()) {
            return Ok((out, i + close.len()));
        }
        let Some(c) = rest.chars().next() else {
            return Err("unterminated string literal".into());
        };
        if (c == '\n' || c == '\r') && !triple {
            return Err("unterminated string literal".into());
        }
        if c != '\\' {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let Some(e) = rest[1..].chars().next() else {
            return Err("unterminated string literal".into());
        };
        i += 1 + e.len_utf8();
        if raw {
            out.push('\\');
            out.push(e);
            continue;
        }
        let hex = |n: usize, i: &mut usize| -> Result<char, String> {
            let h = s.get(*i..*i + n).ok_or("truncated escape")?;
            let v = u32::from_str_radix(h, 16).map_err(|_| "bad escape")?;
            *i += n;
            char::from_u32(v).ok_or_else(|| "bad escape".to_string())
        };
        match e {
            '\n' => {}
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' => out.push(hex(2, &mut i)?),
            'u' => out.push(hex(4, &mut i)?),
            'U' => out.push(hex(8, &mut i)?),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match s[i..].chars().next().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).ok_or("bad escape")?);
            }
            '\\' | '\'' | '"' => out.push(e),
            // Python keeps an unknown escape as written (with a warning).
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
}

fn number(s: &str, start: usize) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let mut i = start;
    let radix = match (b[i], b.get(i + 1).map(u8::to_ascii_lowercase)) {
        (b'0', Some(b'x')) => 16,
        (b'0', Some(b'o')) => 8,
        (b'0', Some(b'b')) => 2,
        _ => 10,
    };
    if radix != 10 {
        i += 2;
        let from = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let digits = s[from..i].replace('_', "");
        let v = i128::from_str_radix(&digits, radix).map_err(|_| "invalid number literal")?;
        return Ok((Tok::Int(v), i));
    }
    let mut float = false;
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' | b'_' => i += 1,
            b'.' if !float => {
                float = true;
                i += 1;
            }
            b'e' | b'E' => {
                float = true;
                i += 1;
                if matches!(b.get(i), Some(b'+' | b'-')) {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    let text = s[start..i].replace('_', "");
    if matches!(b.get(i), Some(b'j' | b'J')) {
        return Ok((Tok::Opaque(s[start..=i].to_string()), i + 1));
    }
    if b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("invalid number literal".into());
    }
    if float {
        let v: f64 = text.parse().map_err(|_| "invalid number literal")?;
        return Ok((Tok::Float(v), i));
    }
    if text.len() > 1 && text.starts_with('0') && text.bytes().any(|d| d != b'0') {
        return Err("leading zeros in decimal integer literals are not permitted".into());
    }
    let v: i128 = text.parse().map_err(|_| "integer literal too large")?;
    Ok((Tok::Int(v), i))
}

/// The parts of Python's expression grammar an answer can hold; what BFCL cannot resolve
/// is kept as `Other` and fails only where its value is needed (a positional argument
/// is parsed but never resolved, as in BFCL).
#[derive(Debug, Clone)]
pub(super) enum Expr {
    Int(i128),
    Float(f64),
    Str(String),
    Bool(bool),
    None_,
    Ellipsis,
    Name(String),
    Attr(Box<Expr>, String),
    Call {
        func: Box<Expr>,
        args: Vec<Expr>,
        kwargs: Vec<(Option<String>, Expr)>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Set(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Unary(Box<Expr>),
    Bin(Box<Expr>, &'static str, Box<Expr>),
    /// Parsed, but of a kind `resolve_ast_by_type` rejects (comparison, f-string, bytes…).
    Other(&'static str),
}

struct Parser<'a> {
    t: &'a [Tok],
    spans: &'a [Span],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.t[self.i.min(self.t.len() - 1)]
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Tok::Name(w) if w == n)
    }

    fn eat(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        self.i += usize::from(yes);
        yes
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(format!("invalid syntax: expected '{op}'"))
        }
    }

    /// `a, b, c` (a tuple when a comma appears).
    fn expression_list(&mut self) -> Result<Expr, String> {
        let first = self.test()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.ends_item() {
                break;
            }
            items.push(self.test()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn ends_item(&self) -> bool {
        matches!(self.peek(), Tok::Newline | Tok::End)
            || self.is_op(")")
            || self.is_op("]")
            || self.is_op("}")
    }

    /// `x if c else y`, `lambda`, boolean operators and comparisons: parsed, never resolved.
    fn test(&mut self) -> Result<Expr, String> {
        if self.is_name("lambda") {
            return Err("lambda is not supported".into());
        }
        let e = self.or_test()?;
        if self.is_name("if") {
            self.i += 1;
            self.or_test()?;
            if !self.is_name("else") {
                return Err("invalid syntax: expected 'else'".into());
            }
            self.i += 1;
            self.test()?;
            return Ok(Expr::Other("conditional expression"));
        }
        Ok(e)
    }

    fn or_test(&mut self) -> Result<Expr, String> {
        let mut e = self.not_test()?;
        while self.is_name("or") || self.is_name("and") {
            self.i += 1;
            self.not_test()?;
            e = Expr::Other("boolean operator");
        }
        Ok(e)
    }

    fn not_test(&mut self) -> Result<Expr, String> {
        if self.is_name("not") {
            self.i += 1;
            return Ok(Expr::Unary(Box::new(self.not_test()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let mut e = self.binary(0)?;
        loop {
            let op = ["<", ">", "==", ">=", "<=", "!="]
                .iter()
                .any(|o| self.is_op(o))
                || self.is_name("in")
                || self.is_name("is")
                || self.is_name("not");
            if !op {
                return Ok(e);
            }
            if self.is_name("not") {
                self.i += 1;
                if !self.is_name("in") {
                    return Err("invalid syntax".into());
                }
            }
            self.i += 1;
            if self.is_name("not") {
                self.i += 1;
            }
            self.binary(0)?;
            e = Expr::Other("comparison");
        }
    }

    /// Binary operators by precedence level, loosest first.
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: &[&[&str]] = &[
            &["|"],
            &["^"],
            &["&"],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "//", "%", "@"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut e = self.binary(level + 1)?;
        while let Some(op) = LEVELS[level].iter().find(|o| self.is_op(o)) {
            self.i += 1;
            let rhs = self.binary(level + 1)?;
            e = Expr::Bin(Box::new(e), op, Box::new(rhs));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") || self.eat("+") || self.eat("~") {
            return Ok(Expr::Unary(Box::new(self.unary()?)));
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, String> {
        let base = self.primary()?;
        if self.eat("**") {
            let exp = self.unary()?;
            return Ok(Expr::Bin(Box::new(base), "**", Box::new(exp)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let start = self.spans[self.i.min(self.spans.len() - 1)].0;
        let mut e = self.atom()?;
        loop {
            if self.eat(".") {
                match self.peek().clone() {
                    Tok::Name(n) => {
                        self.i += 1;
                        e = Expr::Attr(Box::new(e), n);
                    }
                    _ => return Err("invalid syntax after '.'".into()),
                }
            } else if self.eat("(") {
                e = self.call_args(e)?;
            } else if self.eat("[") {
                while !self.eat("]") {
                    if self.eat(":") || self.eat(",") {
                        continue;
                    }
                    self.test()?;
                }
                // BFCL keeps a subscript as its text.
                let end = self.spans[self.i - 1].1;
                e = Expr::Str(self.src[start..end].to_string());
            } else {
                return Ok(e);
            }
        }
    }

    fn call_args(&mut self, func: Expr) -> Result<Expr, String> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        while !self.eat(")") {
            if self.eat("**") {
                kwargs.push((None, self.test()?));
            } else if self.eat("*") {
                self.test()?;
                args.push(Expr::Other("starred"));
            } else if matches!(self.peek(), Tok::Name(_))
                && matches!(self.t.get(self.i + 1), Some(Tok::Op("=")))
            {
                let Tok::Name(k) = self.peek().clone() else {
                    unreachable!()
                };
                self.i += 2;
                kwargs.push((Some(k), self.test()?));
            } else {
                if !kwargs.is_empty() {
                    return Err("positional argument follows keyword argument".into());
                }
                args.push(self.test()?);
            }
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        Ok(Expr::Call {
            func: Box::new(func),
            args,
            kwargs,
        })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let tok = self.peek().clone();
        self.i += 1;
        Ok(match tok {
            Tok::Int(v) => Expr::Int(v),
            Tok::Float(v) => Expr::Float(v),
            Tok::Opaque(src) => Expr::Str(src),
            Tok::FString => Expr::Other("f-string"),
            Tok::Str(mut s) => {
                // Adjacent literals are one string.
                while let Tok::Str(more) = self.peek() {
                    s.push_str(more);
                    self.i += 1;
                }
                Expr::Str(s)
            }
            Tok::Name(n) => match n.as_str() {
                "True" => Expr::Bool(true),
                "False" => Expr::Bool(false),
                "None" => Expr::None_,
                "lambda" | "if" | "else" | "for" | "in" | "is" | "and" | "or" | "not" | "def"
                | "class" | "return" | "import" | "from" | "while" | "with" | "yield" | "await"
                | "async" | "pass" | "raise" | "del" | "global" | "try" | "except" | "finally"
                | "elif" | "assert" | "break" | "continue" | "nonlocal" => {
                    return Err(format!("invalid syntax at '{n}'"));
                }
                _ => Expr::Name(n),
            },
            Tok::Op("...") => Expr::Ellipsis,
            Tok::Op("(") => {
                if self.eat(")") {
                    return Ok(Expr::Tuple(Vec::new()));
                }
                let e = self.expression_list()?;
                self.expect(")")?;
                e
            }
            Tok::Op("[") => Expr::List(self.items("]")?),
            Tok::Op("{") => self.braces()?,
            _ => return Err("invalid syntax".into()),
        })
    }

    fn items(&mut self, close: &str) -> Result<Vec<Expr>, String> {
        let mut v = Vec::new();
        while !self.eat(close) {
            v.push(self.test()?);
            if self.is_name("for") {
                return Err("comprehensions are not supported".into());
            }
            if !self.eat(",") {
                self.expect(close)?;
                break;
            }
        }
        Ok(v)
    }

    fn braces(&mut self) -> Result<Expr, String> {
        if self.eat("}") {
            return Ok(Expr::Dict(Vec::new()));
        }
        let first = self.test()?;
        if !self.eat(":") {
            let mut v = vec![first];
            if self.eat(",") {
                v.extend(self.items("}")?);
            } else {
                self.expect("}")?;
            }
            return Ok(Expr::Set(v));
        }
        let mut pairs = vec![(first, self.test()?)];
        while self.eat(",") {
            if self.eat("}") {
                return Ok(Expr::Dict(pairs));
            }
            let k = self.test()?;
            self.expect(":")?;
            pairs.push((k, self.test()?));
        }
        self.expect("}")?;
        Ok(Expr::Dict(pairs))
    }
}
