//! Python's expression syntax, as far as answers use it: `ast.parse(text, mode="eval")` over
//! literals, names, attributes, calls, containers and operators, with Python's tokenizer
//! rules (newlines only inside brackets, no indented first line, comments, `\` joins).
//! The tokenizer is `tokenize.rs`; this file is the grammar.

mod tokenize;

use tokenize::{Span, Tok, tokenize};

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
