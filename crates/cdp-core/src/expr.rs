//! Checking user-written SQL expressions (custom trait definitions, segment rules) before they
//! are placed in dynamic SQL (pure Rust, no pgrx, no PostgreSQL).
//!
//! Spotting bad text is a losing game, so the expression is tokenised, parsed against a small
//! whitelist grammar and *re-emitted from the tokens*: nothing of the input reaches the output
//! except re-quoted literal values and whitelisted words. Columns come out as
//! `<qualifier>."name"` and real functions as `pg_catalog.name(`, so neither a search_path nor a
//! same-named object in another schema can change what runs.
//!
//! Accepted grammar (keywords case-insensitive):
//!
//! ```text
//! expr     := arith { tail }
//! tail     := (= | <> | != | < | > | <= | >= | AND | OR) arith
//!           | [NOT] (LIKE | ILIKE) arith
//!           | [NOT] BETWEEN [SYMMETRIC] arith AND arith
//!           | [NOT] IN ( expr {, expr} )
//!           | IS [NOT] (NULL | TRUE | FALSE | DISTINCT FROM arith)
//! arith    := operand { (+ | - | * | / | % | ^ | ||) operand }
//! operand  := { NOT | + | - } atom { :: type }
//! atom     := number | 'string' | TRUE | FALSE | NULL | INTERVAL 'string' | column
//!           | ( expr )
//!           | CASE [expr] WHEN expr THEN expr { WHEN expr THEN expr } [ELSE expr] END
//!           | CAST ( expr AS type ) | EXTRACT ( field FROM expr )
//!           | function ( [expr {, expr}] )
//!           | aggregate ( [DISTINCT] expr {, expr} ) [FILTER ( WHERE expr )]  -- traits
//!           | count ( * ) [FILTER ( WHERE expr )]                              -- traits
//! ```
//!
//! This is looser than PostgreSQL's grammar about precedence (tokens are emitted in their
//! original order and PostgreSQL does the real parse), but every token is whitelisted and the
//! parentheses balance inside the text, so whatever PostgreSQL makes of it, it is a single
//! expression over the allowed columns and functions, or a PostgreSQL syntax error.
//!
//! No `unsafe` code; nothing here panics on any input.

#![forbid(unsafe_code)]

use std::fmt;

/// Longest accepted expression, in characters.
pub const MAX_LENGTH: usize = 4000;

/// Nesting limit for parentheses, CASE and function calls: the parser is recursive and runs on
/// a backend's stack, so hostile input must not be able to exhaust it.
const MAX_DEPTH: usize = 100;

/// What an expression may refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprSpec<'a> {
    /// Allowed column names (lowercase). Unquoted words are folded to lowercase before lookup;
    /// double-quoted identifiers must match exactly.
    pub columns: &'a [&'a str],
    /// Columns are emitted as `<qualifier>."name"`; trusted, written by the caller.
    pub qualifier: &'a str,
    /// Traits aggregate over a profile's rows (true); segment rules see one row (false).
    pub allow_aggregates: bool,
    /// The SQL text a call `now()` is emitted as, whole (trusted, written by the caller); None:
    /// `pg_catalog.now()`. Segment rules read a clock that tests can move.
    pub clock: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// Not a well-formed expression (SQLSTATE 42601).
    Syntax,
    /// A bare identifier that is not one of the allowed columns (SQLSTATE 42703).
    UnknownColumn,
    /// A token outside the allowed subset: function, keyword, type, character (42501 / 42601).
    NotAllowed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub kind: ExprErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl ExprError {
    fn new(kind: ExprErrorKind, message: impl Into<String>) -> Self {
        ExprError { kind, message: message.into(), hint: None }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}

fn syntax(message: impl Into<String>) -> ExprError {
    ExprError::new(ExprErrorKind::Syntax, message)
}

fn not_allowed(message: impl Into<String>) -> ExprError {
    ExprError::new(ExprErrorKind::NotAllowed, message)
}

/// Aggregates allowed when `allow_aggregates`; emitted as `pg_catalog.<name>(`.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bool_and",
    "bool_or",
    "every",
];

/// Plain functions from pg_catalog; emitted as `pg_catalog.<name>(`. All are immutable or
/// stable and free of side effects.
const CATALOG_FUNCTIONS: &[&str] = &[
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "trunc",
    "sign",
    "sqrt",
    "cbrt",
    "exp",
    "ln",
    "log",
    "power",
    "mod",
    "lower",
    "upper",
    "length",
    "btrim",
    "date_part",
    "date_trunc",
    "now",
];

/// SQL syntax that looks like a function call; PostgreSQL rejects `pg_catalog.coalesce(`, so
/// these are emitted unqualified (they cannot be shadowed: they are keywords).
const SYNTAX_FUNCTIONS: &[&str] = &["coalesce", "nullif", "greatest", "least"];

/// Type names accepted after `::` and in `CAST(... AS type)`. `double` must be followed by
/// `precision`.
const TYPES: &[&str] = &[
    "numeric",
    "integer",
    "int",
    "bigint",
    "smallint",
    "float8",
    "real",
    "double",
    "text",
    "date",
    "timestamptz",
    "timestamp",
    "interval",
    "boolean",
    "bool",
];

/// Field words of `extract(field FROM ...)`; they are not columns there.
const EXTRACT_FIELDS: &[&str] = &[
    "epoch",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "dow",
    "doy",
    "week",
    "quarter",
    "isodow",
    "isoyear",
    "decade",
    "century",
    "millennium",
    "milliseconds",
    "microseconds",
    "julian",
];

/// Words that have a meaning inside the grammar; a misplaced one is a syntax error, never a
/// column (PostgreSQL would read them as keywords too).
const GRAMMAR_WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "is",
    "null",
    "true",
    "false",
    "case",
    "when",
    "then",
    "else",
    "end",
    "between",
    "symmetric",
    "in",
    "like",
    "ilike",
];

/// SQL keywords that can only mean something outside the subset (subqueries, other tables,
/// session state, window functions, ...). Reported as NotAllowed rather than as an unknown
/// column so the user learns the construct itself is refused.
const FORBIDDEN_KEYWORDS: &[&str] = &[
    "all",
    "alter",
    "analyse",
    "analyze",
    "any",
    "array",
    "asc",
    "asymmetric",
    "authorization",
    "begin",
    "binary",
    "both",
    "by",
    "call",
    "check",
    "collate",
    "collation",
    "column",
    "commit",
    "concurrently",
    "constraint",
    "copy",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "delete",
    "desc",
    "do",
    "drop",
    "escape",
    "except",
    "execute",
    "exists",
    "explain",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "full",
    "grant",
    "group",
    "grouping",
    "having",
    "initially",
    "inner",
    "insert",
    "intersect",
    "into",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "limit",
    "listen",
    "localtime",
    "localtimestamp",
    "lock",
    "merge",
    "natural",
    "notify",
    "notnull",
    "offset",
    "on",
    "only",
    "order",
    "outer",
    "over",
    "overlaps",
    "overlay",
    "partition",
    "placing",
    "position",
    "primary",
    "references",
    "reset",
    "returning",
    "revoke",
    "right",
    "rollback",
    "row",
    "rows",
    "select",
    "session_user",
    "set",
    "show",
    "similar",
    "some",
    "substring",
    "system_user",
    "table",
    "tablesample",
    "to",
    "trailing",
    "treat",
    "trim",
    "truncate",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "vacuum",
    "values",
    "variadic",
    "verbose",
    "window",
    "with",
    "within",
];

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.contains(&word)
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Numeric literal, as written.
    Num(String),
    /// String literal, unescaped value.
    Str(String),
    /// Unquoted identifier or keyword, folded to lowercase.
    Word(String),
    /// Double-quoted identifier, exact.
    Quoted(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => f.write_str(n),
            Tok::Str(s) => f.write_str(&quote_literal(s)),
            Tok::Word(w) => f.write_str(w),
            Tok::Quoted(q) => f.write_str(&quote_ident(q)),
            Tok::Op(o) => f.write_str(o),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::Comma => f.write_str(","),
        }
    }
}

/// Re-quote a literal value. A value with a backslash is written as `E'...'` with the backslash
/// doubled: a plain `'\'` would turn into an escaped quote (and an open string) in a session
/// with `standard_conforming_strings = off`, while `E'\\'` means one backslash in every session.
fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn tokenize(text: &str) -> Result<Vec<Tok>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        match c {
            ' ' | '\t' | '\n' | '\r' | '\x0c' => i += 1,
            '0'..='9' => i = lex_number(&chars, i, &mut toks)?,
            '.' if matches!(at(i + 1), Some('0'..='9')) => i = lex_number(&chars, i, &mut toks)?,
            '.' => return Err(qualified_name_error()),
            '\'' => {
                let (value, next) = lex_quoted(&chars, i, '\'')
                    .ok_or_else(|| syntax("unterminated quoted string"))?;
                toks.push(Tok::Str(value));
                i = next;
            }
            '"' => {
                let (name, next) = lex_quoted(&chars, i, '"')
                    .ok_or_else(|| syntax("unterminated quoted identifier"))?;
                if name.is_empty() {
                    return Err(syntax("zero-length quoted identifier \"\""));
                }
                if at(next) == Some('.') {
                    return Err(qualified_name_error());
                }
                toks.push(Tok::Quoted(name));
                i = next;
            }
            'A'..='Z' | 'a'..='z' | '_' => {
                let start = i;
                while matches!(at(i), Some(ch) if ch.is_ascii_alphanumeric() || ch == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect::<String>().to_ascii_lowercase();
                match at(i) {
                    Some('.') => return Err(qualified_name_error()),
                    // E'..' (backslash escapes), B'..'/X'..' (bit strings) and N'..' lex as one
                    // special literal only when the prefix touches the quote.
                    Some('\'') if is_one_of(&word, &["e", "b", "x", "n"]) => {
                        return Err(not_allowed(format!(
                            "string literal prefix {}'...' is not allowed in an expression",
                            word.to_ascii_uppercase()
                        ))
                        .with_hint("write a standard literal: 'text', with '' for a quote"));
                    }
                    Some('&') if word == "u" => {
                        return Err(not_allowed(
                            "Unicode escapes U&'...' and U&\"...\" are not allowed in an expression",
                        ));
                    }
                    _ => {}
                }
                toks.push(Tok::Word(word));
            }
            '(' => push(&mut toks, &mut i, Tok::LParen, 1),
            ')' => push(&mut toks, &mut i, Tok::RParen, 1),
            ',' => push(&mut toks, &mut i, Tok::Comma, 1),
            '-' if at(i + 1) == Some('-') => return Err(comment_error()),
            '/' if at(i + 1) == Some('*') => return Err(comment_error()),
            ':' if at(i + 1) == Some(':') => push(&mut toks, &mut i, Tok::Op("::"), 2),
            '<' if at(i + 1) == Some('=') => push(&mut toks, &mut i, Tok::Op("<="), 2),
            '<' if at(i + 1) == Some('>') => push(&mut toks, &mut i, Tok::Op("<>"), 2),
            '>' if at(i + 1) == Some('=') => push(&mut toks, &mut i, Tok::Op(">="), 2),
            '!' if at(i + 1) == Some('=') => push(&mut toks, &mut i, Tok::Op("!="), 2),
            '|' if at(i + 1) == Some('|') => push(&mut toks, &mut i, Tok::Op("||"), 2),
            '=' if at(i + 1) == Some('>') => return Err(char_error("=>")),
            ':' if at(i + 1) == Some('=') => return Err(char_error(":=")),
            '+' => push(&mut toks, &mut i, Tok::Op("+"), 1),
            '-' => push(&mut toks, &mut i, Tok::Op("-"), 1),
            '*' => push(&mut toks, &mut i, Tok::Op("*"), 1),
            '/' => push(&mut toks, &mut i, Tok::Op("/"), 1),
            '%' => push(&mut toks, &mut i, Tok::Op("%"), 1),
            '^' => push(&mut toks, &mut i, Tok::Op("^"), 1),
            '=' => push(&mut toks, &mut i, Tok::Op("="), 1),
            '<' => push(&mut toks, &mut i, Tok::Op("<"), 1),
            '>' => push(&mut toks, &mut i, Tok::Op(">"), 1),
            ';' => {
                return Err(not_allowed(
                    "\";\" is not allowed: an expression cannot end the statement",
                )
                .with_hint("write a single expression, without ';'"));
            }
            '$' => {
                return Err(not_allowed(
                    "\"$\" is not allowed in an expression (no parameters, no dollar quoting)",
                )
                .with_hint("write strings as standard literals: 'text', with '' for a quote"));
            }
            '[' | ']' | '@' | '#' | '~' | '&' | '|' | '`' | '?' | '{' | '}' | '!' | ':' | '\\' => {
                return Err(char_error(&c.to_string()));
            }
            _ => return Err(syntax(format!("unexpected character {c:?} in expression"))),
        }
    }
    Ok(toks)
}

fn push(toks: &mut Vec<Tok>, i: &mut usize, tok: Tok, width: usize) {
    toks.push(tok);
    *i += width;
}

/// `12`, `1.5`, `.5`, `1.`, `1e3`, `1.5E-2`. Anything glued to the end (`12abc`, `1.2.3`, `0x1F`,
/// `1_000`) is refused instead of being split the way one PostgreSQL version or another would.
fn lex_number(chars: &[char], start: usize, toks: &mut Vec<Tok>) -> Result<usize, ExprError> {
    let at = |i: usize| chars.get(i).copied();
    let digits = |mut i: usize| {
        while matches!(at(i), Some('0'..='9')) {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if at(i) == Some('.') {
        i = digits(i + 1);
    }
    if matches!(at(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(at(j), Some('+' | '-')) {
            j += 1;
        }
        let end = digits(j);
        if end == j {
            return Err(syntax("trailing junk after numeric literal: exponent without digits"));
        }
        i = end;
    }
    if matches!(at(i), Some(ch) if ch.is_alphanumeric() || ch == '_' || ch == '.') {
        let text: String = chars[start..=i].iter().collect();
        return Err(syntax(format!("trailing junk after numeric literal at or near \"{text}\"")));
    }
    toks.push(Tok::Num(chars[start..i].iter().collect()));
    Ok(i)
}

/// A `'...'` or `"..."` token whose only escape is the doubled quote. Returns the value and the
/// index after the closing quote, or None if unterminated. NUL is refused: PostgreSQL text
/// cannot hold it and C strings would cut the statement there.
fn lex_quoted(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i).copied()? {
            '\0' => return None,
            c if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                } else {
                    return Some((value, i + 1));
                }
            }
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
}

fn qualified_name_error() -> ExprError {
    not_allowed("qualified names (a.b) are not allowed in an expression")
        .with_hint("refer to columns by their bare name; functions are qualified automatically")
}

fn comment_error() -> ExprError {
    not_allowed("comments (-- and /* */) are not allowed in an expression")
}

fn char_error(what: &str) -> ExprError {
    not_allowed(format!("\"{what}\" is not allowed in an expression"))
}

// ---------------------------------------------------------------------------------------------
// Parser / emitter
// ---------------------------------------------------------------------------------------------

struct Parser<'s, 'a> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    spec: &'s ExprSpec<'a>,
    out: String,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.toks.get(self.pos + ahead)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek_word(word);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consume `word` and emit it in upper case, or fail on whatever is there instead.
    fn keyword(&mut self, word: &str) -> Result<(), ExprError> {
        if !self.eat_word(word) {
            return Err(self.unexpected(&word.to_ascii_uppercase()));
        }
        self.emit(&word.to_ascii_uppercase());
        Ok(())
    }

    fn open(&mut self) -> Result<(), ExprError> {
        if self.peek() != Some(&Tok::LParen) {
            return Err(self.unexpected("\"(\""));
        }
        self.pos += 1;
        self.emit("(");
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExprError> {
        match self.peek() {
            Some(Tok::RParen) => {
                self.pos += 1;
                self.emit(")");
                Ok(())
            }
            None => Err(syntax("unbalanced parentheses: missing \")\" at end of expression")),
            Some(_) => Err(self.unexpected("\")\"")),
        }
    }

    /// Tokens are separated by one space, except around parentheses and before commas, where
    /// gluing cannot merge two tokens into a different one.
    fn emit(&mut self, piece: &str) {
        let glue = self.out.is_empty() || self.out.ends_with('(') || piece == ")" || piece == ",";
        if !glue {
            self.out.push(' ');
        }
        self.out.push_str(piece);
    }

    /// The error for the current token when `expected` was needed: misplaced or forbidden
    /// keywords get a NotAllowed explaining why, everything else is a syntax error.
    fn unexpected(&self, expected: &str) -> ExprError {
        match self.peek() {
            None => syntax(format!("syntax error at end of expression (expected {expected})")),
            Some(Tok::Word(w)) => self.word_error(w).unwrap_or_else(|| {
                syntax(format!("syntax error at or near \"{w}\" (expected {expected})"))
            }),
            Some(Tok::RParen) if self.depth == 0 => {
                syntax("unbalanced parentheses: \")\" without a matching \"(\"")
            }
            Some(t) => syntax(format!("syntax error at or near \"{t}\" (expected {expected})")),
        }
    }

    /// NotAllowed for a word that is a keyword outside the subset, or one of the subset's
    /// keywords used outside the one place it is allowed.
    fn word_error(&self, word: &str) -> Option<ExprError> {
        let err = match word {
            "from" => not_allowed(
                "FROM is only allowed in IS [NOT] DISTINCT FROM and extract(field FROM ...)",
            ),
            "where" => not_allowed("WHERE is only allowed in FILTER (WHERE ...) after an aggregate"),
            "filter" if !self.spec.allow_aggregates => {
                not_allowed("FILTER is not allowed here: aggregates are not allowed in this expression")
            }
            "filter" => not_allowed("FILTER is only allowed right after an aggregate call")
                .with_hint("e.g. count(*) FILTER (WHERE amount >= 1000)"),
            "as" => not_allowed("AS is only allowed in CAST(... AS type)"),
            "distinct" => not_allowed(
                "DISTINCT is only allowed first inside an aggregate call or in IS [NOT] DISTINCT FROM",
            ),
            "interval" => syntax("INTERVAL must be followed by a quoted literal, e.g. interval '30 days'"),
            w if is_one_of(w, FORBIDDEN_KEYWORDS) => {
                not_allowed(format!("keyword {} is not allowed in an expression", w.to_ascii_uppercase()))
                    .with_hint(self.allowed_summary())
            }
            _ => return None,
        };
        Some(err)
    }

    fn allowed_functions(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.spec.allow_aggregates {
            names.extend_from_slice(AGGREGATES);
        }
        names.extend_from_slice(CATALOG_FUNCTIONS);
        names.extend_from_slice(SYNTAX_FUNCTIONS);
        names.extend_from_slice(&["cast", "extract"]);
        names
    }

    fn functions_hint(&self) -> String {
        format!("allowed functions: {}", self.allowed_functions().join(", "))
    }

    fn allowed_summary(&self) -> String {
        format!(
            "an expression may use columns, literals, operators, CASE, CAST, INTERVAL '...' and \
             these functions: {}",
            self.allowed_functions().join(", ")
        )
    }

    fn columns_hint(&self) -> String {
        if self.spec.columns.is_empty() {
            "columns: (none)".to_string()
        } else {
            format!("columns: {}", self.spec.columns.join(", "))
        }
    }

    fn emit_column(&mut self, name: &str) {
        let col = format!("{}.{}", self.spec.qualifier, quote_ident(name));
        self.emit(&col);
    }

    fn expr(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(format!(
                "expression is nested too deeply (more than {MAX_DEPTH} levels)"
            )));
        }
        self.arith()?;
        loop {
            match self.peek() {
                Some(Tok::Op(op @ ("=" | "<>" | "!=" | "<" | ">" | "<=" | ">="))) => {
                    let op = *op;
                    self.pos += 1;
                    self.emit(op);
                    self.arith()?;
                }
                Some(Tok::Word(w)) => match w.as_str() {
                    "and" | "or" | "like" | "ilike" => {
                        let kw = w.to_ascii_uppercase();
                        self.pos += 1;
                        self.emit(&kw);
                        self.arith()?;
                    }
                    "not" => {
                        self.pos += 1;
                        self.emit("NOT");
                        match self.peek() {
                            Some(Tok::Word(w)) if w == "like" || w == "ilike" => {
                                let kw = w.to_ascii_uppercase();
                                self.pos += 1;
                                self.emit(&kw);
                                self.arith()?;
                            }
                            Some(Tok::Word(w)) if w == "between" => self.between()?,
                            Some(Tok::Word(w)) if w == "in" => self.in_list()?,
                            _ => {
                                return Err(self.unexpected("BETWEEN, IN, LIKE or ILIKE after NOT"))
                            }
                        }
                    }
                    "between" => self.between()?,
                    "in" => self.in_list()?,
                    "is" => self.is_test()?,
                    _ => break,
                },
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn arith(&mut self) -> Result<(), ExprError> {
        self.operand()?;
        while let Some(Tok::Op(op @ ("+" | "-" | "*" | "/" | "%" | "^" | "||"))) = self.peek() {
            let op = *op;
            self.pos += 1;
            self.emit(op);
            self.operand()?;
        }
        Ok(())
    }

    fn operand(&mut self) -> Result<(), ExprError> {
        loop {
            match self.peek() {
                Some(Tok::Word(w)) if w == "not" => {
                    self.pos += 1;
                    self.emit("NOT");
                }
                Some(Tok::Op(op @ ("+" | "-"))) => {
                    let op = *op;
                    self.pos += 1;
                    self.emit(op);
                }
                _ => break,
            }
        }
        self.atom()?;
        while self.peek() == Some(&Tok::Op("::")) {
            self.pos += 1;
            let ty = self.type_name()?;
            // Glued: `x::numeric` cannot lex differently from `x :: numeric`.
            self.out.push_str("::");
            self.out.push_str(&ty);
        }
        Ok(())
    }

    fn type_name(&mut self) -> Result<String, ExprError> {
        let hint = || format!("types: {}", TYPES.join(", ").replace("double", "double precision"));
        match self.peek().cloned() {
            Some(Tok::Word(w)) if is_one_of(&w, TYPES) => {
                self.pos += 1;
                if w == "double" {
                    if !self.eat_word("precision") {
                        return Err(not_allowed(
                            "type \"double\" is not allowed: write double precision",
                        )
                        .with_hint(hint()));
                    }
                    return Ok("double precision".to_string());
                }
                Ok(w)
            }
            Some(Tok::Word(w)) => {
                Err(not_allowed(format!("type \"{w}\" is not allowed in an expression"))
                    .with_hint(hint()))
            }
            Some(Tok::Quoted(q)) => Err(not_allowed(format!(
                "type {} is not allowed in an expression",
                quote_ident(&q)
            ))
            .with_hint(hint())),
            _ => Err(self.unexpected("a type name")),
        }
    }

    fn atom(&mut self) -> Result<(), ExprError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(syntax("syntax error at end of expression (expected an operand)"));
        };
        match tok {
            Tok::Num(n) => {
                self.pos += 1;
                self.emit(&n);
            }
            Tok::Str(s) => {
                self.pos += 1;
                self.emit(&quote_literal(&s));
            }
            Tok::Quoted(name) => {
                if self.peek_at(1) == Some(&Tok::LParen) {
                    return Err(not_allowed(format!(
                        "function {} is not allowed: function names cannot be quoted",
                        quote_ident(&name)
                    ))
                    .with_hint(self.functions_hint()));
                }
                if !self.spec.columns.contains(&name.as_str()) {
                    return Err(ExprError::new(
                        ExprErrorKind::UnknownColumn,
                        format!("column {} does not exist", quote_ident(&name)),
                    )
                    .with_hint(self.columns_hint()));
                }
                self.pos += 1;
                self.emit_column(&name);
            }
            Tok::LParen => {
                self.pos += 1;
                self.emit("(");
                self.expr()?;
                self.close()?;
            }
            Tok::Op("*") => {
                return Err(not_allowed("\"*\" is only allowed as count(*)"));
            }
            Tok::Word(w) => self.word_atom(&w)?,
            _ => return Err(self.unexpected("an operand")),
        }
        Ok(())
    }

    fn word_atom(&mut self, w: &str) -> Result<(), ExprError> {
        let call = self.peek_at(1) == Some(&Tok::LParen);
        match w {
            "true" | "false" | "null" => {
                self.pos += 1;
                self.emit(&w.to_ascii_uppercase());
            }
            "case" => self.case()?,
            "interval" => {
                let Some(Tok::Str(s)) = self.peek_at(1).cloned() else {
                    return Err(self.word_error("interval").expect("interval has an error"));
                };
                self.pos += 2;
                self.emit("INTERVAL");
                self.emit(&quote_literal(&s));
            }
            "cast" if call => self.cast()?,
            "extract" if call => self.extract()?,
            _ if call && !is_one_of(w, GRAMMAR_WORDS) => self.call(w)?,
            _ if is_one_of(w, GRAMMAR_WORDS) => return Err(self.unexpected("an operand")),
            _ if self.spec.columns.contains(&w) => {
                self.pos += 1;
                self.emit_column(w);
            }
            _ => {
                if let Some(err) = self.word_error(w) {
                    return Err(err);
                }
                return Err(ExprError::new(
                    ExprErrorKind::UnknownColumn,
                    format!("column \"{w}\" does not exist"),
                )
                .with_hint(self.columns_hint()));
            }
        }
        Ok(())
    }

    fn call(&mut self, name: &str) -> Result<(), ExprError> {
        if is_one_of(name, AGGREGATES) {
            if !self.spec.allow_aggregates {
                return Err(not_allowed(format!(
                    "aggregate function \"{name}\" is not allowed in this expression"
                ))
                .with_hint(format!(
                    "this expression is evaluated on one row at a time; {}",
                    self.functions_hint()
                )));
            }
            return self.aggregate(name);
        }
        if let (true, Some(clock), Some(Tok::RParen)) = (name == "now", self.spec.clock, self.peek_at(2)) {
            // now() is the clock, emitted whole
            self.pos += 3;
            self.emit(clock);
            return Ok(());
        }
        let head = if name == "now" {
            "pg_catalog.now(".to_string()
        } else if is_one_of(name, CATALOG_FUNCTIONS) {
            format!("pg_catalog.{name}(")
        } else if is_one_of(name, SYNTAX_FUNCTIONS) {
            format!("{name}(")
        } else if let Some(err) = self.word_error(name) {
            return Err(err);
        } else {
            return Err(not_allowed(format!(
                "function \"{name}\" is not allowed in an expression"
            ))
            .with_hint(self.functions_hint()));
        };
        self.pos += 2;
        self.emit(&head);
        if !(name == "now" && self.peek() == Some(&Tok::RParen)) {
            self.args()?;
        }
        self.close()
    }

    fn aggregate(&mut self, name: &str) -> Result<(), ExprError> {
        self.pos += 2;
        self.emit(&format!("pg_catalog.{name}("));
        if name == "count"
            && self.peek() == Some(&Tok::Op("*"))
            && self.peek_at(1) == Some(&Tok::RParen)
        {
            self.pos += 1;
            self.emit("*");
        } else {
            if self.eat_word("distinct") {
                self.emit("DISTINCT");
            }
            self.args()?;
        }
        self.close()?;
        if self.eat_word("filter") {
            self.emit("FILTER");
            self.open()?;
            if !self.peek_word("where") {
                return Err(self.unexpected("WHERE after FILTER ("));
            }
            self.keyword("where")?;
            self.expr()?;
            self.close()?;
        }
        Ok(())
    }

    fn args(&mut self) -> Result<(), ExprError> {
        self.expr()?;
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            self.emit(",");
            self.expr()?;
        }
        Ok(())
    }

    fn cast(&mut self) -> Result<(), ExprError> {
        self.pos += 2;
        self.emit("cast(");
        self.expr()?;
        if !self.peek_word("as") {
            return Err(self.unexpected("AS type in CAST(... AS type)"));
        }
        self.keyword("as")?;
        let ty = self.type_name()?;
        self.emit(&ty);
        self.close()
    }

    fn extract(&mut self) -> Result<(), ExprError> {
        self.pos += 2;
        self.emit("extract(");
        match self.peek().cloned() {
            Some(Tok::Word(f)) if is_one_of(&f, EXTRACT_FIELDS) => {
                self.pos += 1;
                self.emit(&f);
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                self.emit(&quote_literal(&s));
            }
            Some(Tok::Word(f)) => {
                return Err(not_allowed(format!("\"{f}\" is not an extract field"))
                    .with_hint(format!("fields: {}", EXTRACT_FIELDS.join(", "))));
            }
            _ => return Err(self.unexpected("a field name, e.g. extract(epoch FROM ...)")),
        }
        if !self.peek_word("from") {
            return Err(self.unexpected("FROM in extract(field FROM ...)"));
        }
        self.keyword("from")?;
        self.expr()?;
        self.close()
    }

    fn case(&mut self) -> Result<(), ExprError> {
        self.pos += 1;
        self.emit("CASE");
        if !self.peek_word("when") {
            self.expr()?;
        }
        if !self.peek_word("when") {
            return Err(self.unexpected("WHEN"));
        }
        while self.eat_word("when") {
            self.emit("WHEN");
            self.expr()?;
            self.keyword("then")?;
            self.expr()?;
        }
        if self.eat_word("else") {
            self.emit("ELSE");
            self.expr()?;
        }
        self.keyword("end")
    }

    fn between(&mut self) -> Result<(), ExprError> {
        self.keyword("between")?;
        if self.eat_word("symmetric") {
            self.emit("SYMMETRIC");
        }
        self.arith()?;
        self.keyword("and")?;
        self.arith()
    }

    fn in_list(&mut self) -> Result<(), ExprError> {
        self.keyword("in")?;
        self.open()?;
        self.args()?;
        self.close()
    }

    fn is_test(&mut self) -> Result<(), ExprError> {
        self.keyword("is")?;
        if self.eat_word("not") {
            self.emit("NOT");
        }
        match self.peek() {
            Some(Tok::Word(w)) if matches!(w.as_str(), "null" | "true" | "false") => {
                let kw = w.to_ascii_uppercase();
                self.pos += 1;
                self.emit(&kw);
                Ok(())
            }
            Some(Tok::Word(w)) if w == "distinct" => {
                self.keyword("distinct")?;
                self.keyword("from")?;
                self.arith()
            }
            _ => Err(self.unexpected("NULL, TRUE, FALSE or DISTINCT FROM after IS")),
        }
    }
}

/// Check a user-written expression against `spec` and return it rewritten: columns qualified and
/// quoted, functions schema-qualified, literals re-quoted, tokens separated by single spaces.
/// The result is one expression, meant to be placed inside `(...)` in a statement run with
/// `search_path = pg_catalog, pg_temp`.
pub fn check_expression(text: &str, spec: &ExprSpec) -> Result<String, ExprError> {
    let length = text.chars().count();
    if length > MAX_LENGTH {
        return Err(syntax(format!(
            "expression is too long ({length} characters; at most {MAX_LENGTH})"
        )));
    }
    if text.trim().is_empty() {
        return Err(syntax("expression is empty"));
    }
    let toks = tokenize(text)?;
    let mut parser = Parser { toks, pos: 0, depth: 0, spec, out: String::new() };
    parser.expr()?;
    if parser.peek().is_some() {
        return Err(parser.unexpected("end of expression"));
    }
    Ok(parser.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER_COLUMNS: &[&str] = &["amount", "occurred_at", "currency", "tsource_id", "channel"];
    const PROFILE_COLUMNS: &[&str] =
        &["days_since_last_order", "segment", "p_alive", "orders", "channel"];

    fn trait_spec() -> ExprSpec<'static> {
        ExprSpec { columns: ORDER_COLUMNS, qualifier: "x", allow_aggregates: true, clock: None }
    }

    fn rule_spec() -> ExprSpec<'static> {
        ExprSpec { columns: PROFILE_COLUMNS, qualifier: "p", allow_aggregates: false, clock: None }
    }

    fn accept(text: &str, spec: &ExprSpec) -> String {
        check_expression(text, spec).unwrap_or_else(|e| panic!("{text:?} rejected: {e}"))
    }

    fn reject(text: &str, spec: &ExprSpec) -> ExprError {
        match check_expression(text, spec) {
            Ok(out) => panic!("{text:?} accepted as {out:?}"),
            Err(e) => e,
        }
    }

    fn trait_ok(text: &str) -> String {
        accept(text, &trait_spec())
    }

    fn rule_ok(text: &str) -> String {
        accept(text, &rule_spec())
    }

    fn trait_err(text: &str, kind: ExprErrorKind) -> ExprError {
        let e = reject(text, &trait_spec());
        assert_eq!(e.kind, kind, "{text:?}: {e}");
        e
    }

    fn rule_err(text: &str, kind: ExprErrorKind) -> ExprError {
        let e = reject(text, &rule_spec());
        assert_eq!(e.kind, kind, "{text:?}: {e}");
        e
    }

    use ExprErrorKind::{NotAllowed, Syntax, UnknownColumn};

    // --- accepted: traits -----------------------------------------------------------------

    #[test]
    fn count_filter_exact_output() {
        assert_eq!(
            trait_ok("count(*) FILTER (WHERE amount >= 1000)"),
            "pg_catalog.count(*) FILTER (WHERE x.\"amount\" >= 1000)"
        );
    }

    #[test]
    fn ratio_with_nullif_exact_output() {
        assert_eq!(
            trait_ok("sum(amount) / nullif(count(*), 0)"),
            "pg_catalog.sum(x.\"amount\") / nullif(pg_catalog.count(*), 0)"
        );
    }

    #[test]
    fn recency_with_interval() {
        assert_eq!(
            trait_ok("max(occurred_at) > now() - interval '30 days'"),
            "pg_catalog.max(x.\"occurred_at\") > pg_catalog.now() - INTERVAL '30 days'"
        );
    }

    #[test]
    fn count_distinct() {
        assert_eq!(trait_ok("count(DISTINCT channel)"), "pg_catalog.count(DISTINCT x.\"channel\")");
    }

    #[test]
    fn cast_with_double_colon() {
        assert_eq!(trait_ok("avg(amount)::numeric"), "pg_catalog.avg(x.\"amount\")::numeric");
        assert_eq!(
            trait_ok("sum(amount)::double  precision"),
            "pg_catalog.sum(x.\"amount\")::double precision"
        );
    }

    #[test]
    fn case_expression() {
        assert_eq!(
            trait_ok("CASE WHEN sum(amount) > 100 THEN 1 ELSE 0 END"),
            "CASE WHEN pg_catalog.sum(x.\"amount\") > 100 THEN 1 ELSE 0 END"
        );
        trait_ok("case channel when 'web' then 1 when 'store' then 2 end");
    }

    #[test]
    fn extract_field_is_not_a_column() {
        assert_eq!(
            trait_ok("extract(epoch from max(occurred_at))"),
            "extract(epoch FROM pg_catalog.max(x.\"occurred_at\"))"
        );
        trait_ok("EXTRACT('dow' FROM min(occurred_at))");
    }

    #[test]
    fn cast_function_form() {
        assert_eq!(
            trait_ok("CAST(sum(amount) AS bigint)"),
            "cast(pg_catalog.sum(x.\"amount\") AS bigint)"
        );
    }

    #[test]
    fn more_accepted_traits() {
        trait_ok("sum(amount) FILTER (WHERE currency = 'EUR' AND channel IN ('web', 'app'))");
        trait_ok("round(avg(amount), 2)");
        trait_ok("coalesce(sum(amount), 0) + 1.5e3 - .5");
        trait_ok("bool_or(lower(channel) LIKE 'web%')");
        trait_ok("count(*) FILTER (WHERE occurred_at >= date_trunc('month', now()))");
        trait_ok("stddev_samp(amount) ^ 2 % 7");
        trait_ok("max(amount) BETWEEN SYMMETRIC 10 AND -10");
        trait_ok("greatest(min(amount), 0) || 'x'");
        trait_ok("-(-sum(amount))");
    }

    // --- accepted: segment rules ------------------------------------------------------------

    #[test]
    fn rule_exact_output() {
        assert_eq!(
            rule_ok("days_since_last_order > 30 AND segment = 'At Risk'"),
            "p.\"days_since_last_order\" > 30 AND p.\"segment\" = 'At Risk'"
        );
    }

    #[test]
    fn rule_quoted_column_and_distinct_from() {
        assert_eq!(
            rule_ok("\"segment\" IS NOT DISTINCT FROM 'Champions'"),
            "p.\"segment\" IS NOT DISTINCT FROM 'Champions'"
        );
    }

    #[test]
    fn rule_or_between() {
        assert_eq!(
            rule_ok("p_alive < 0.5 OR orders BETWEEN 1 AND 3"),
            "p.\"p_alive\" < 0.5 OR p.\"orders\" BETWEEN 1 AND 3"
        );
    }

    #[test]
    fn rule_in_list() {
        assert_eq!(rule_ok("channel IN ('web', 'store')"), "p.\"channel\" IN ('web', 'store')");
        rule_ok("channel NOT IN ('web') AND segment IS NOT NULL AND NOT (orders <> 2)");
    }

    #[test]
    fn keywords_and_columns_are_case_folded() {
        assert_eq!(
            rule_ok("ORDERS >= 2 and Segment ilike 'c%'"),
            "p.\"orders\" >= 2 AND p.\"segment\" ILIKE 'c%'"
        );
    }

    #[test]
    fn injection_text_inside_a_literal_stays_a_literal() {
        assert_eq!(
            rule_ok("channel = '''; DROP TABLE t; --'"),
            "p.\"channel\" = '''; DROP TABLE t; --'"
        );
    }

    #[test]
    fn backslash_literal_is_emitted_as_escape_string() {
        // Safe whatever standard_conforming_strings says.
        assert_eq!(rule_ok(r"channel = 'a\'"), r#"p."channel" = E'a\\'"#);
        assert_eq!(rule_ok(r"channel = 'it''s \n'"), r#"p."channel" = E'it''s \\n'"#);
    }

    // --- rejected -----------------------------------------------------------------------------

    #[test]
    fn stacked_statement() {
        trait_err("sum(amount)); DROP TABLE t; --", NotAllowed);
        trait_err("sum(amount); select 1", NotAllowed);
    }

    #[test]
    fn comments() {
        trait_err("sum(amount) -- c", NotAllowed);
        trait_err("/* */", NotAllowed);
        trait_err("sum(amount) /* x */", NotAllowed);
    }

    #[test]
    fn subqueries_and_statements() {
        let e = trait_err("(SELECT 1)", NotAllowed);
        assert!(e.message.contains("SELECT"), "{e}");
        trait_err("amount IN (SELECT amount FROM t)", NotAllowed);
        trait_err("sum(amount) FROM orders", NotAllowed);
        trait_err("exists(select 1)", NotAllowed);
        trait_err("ROW(1, 2)", NotAllowed);
        trait_err("current_user = 'x'", NotAllowed);
        trait_err("amount = 1 UNION", NotAllowed);
    }

    #[test]
    fn forbidden_functions() {
        let e = trait_err("pg_sleep(1)", NotAllowed);
        assert_eq!(e.message, "function \"pg_sleep\" is not allowed in an expression");
        assert!(e.hint.as_deref().unwrap().contains("coalesce"));
        trait_err("set_config('role','x',false)", NotAllowed);
        trait_err("nextval('s')", NotAllowed);
        trait_err("pg_terminate_backend(1)", NotAllowed);
        trait_err("dblink('x', 'y')", NotAllowed);
        trait_err("lo_import('/etc/passwd')", NotAllowed);
        trait_err("pg_read_file('x')", NotAllowed);
        trait_err("\"sum\"(amount)", NotAllowed);
        trait_err("pg_catalog.pg_sleep(1)", NotAllowed);
    }

    #[test]
    fn qualified_names() {
        trait_err("x.amount", NotAllowed);
        trait_err("\"x\".amount", NotAllowed);
        trait_err("(x).amount", NotAllowed);
    }

    #[test]
    fn types() {
        let e = trait_err("amount::regclass", NotAllowed);
        assert!(e.message.contains("regclass"));
        trait_err("cast(amount AS regproc)", NotAllowed);
        trait_err("amount::\"text\"", NotAllowed);
        trait_err("amount::double", NotAllowed);
        trait_err("amount::numeric(10, 2)", Syntax);
    }

    #[test]
    fn parameters_and_special_strings() {
        trait_err("$1", NotAllowed);
        trait_err("$$x$$", NotAllowed);
        trait_err("E'\\x'", NotAllowed);
        trait_err("x'1f'", NotAllowed);
        trait_err("U&'d\\0061t'", NotAllowed);
    }

    #[test]
    fn forbidden_characters() {
        for text in [
            "amount[1]",
            "amount @ 1",
            "amount # 1",
            "~amount",
            "amount & 1",
            "amount | 1",
            "`amount`",
            "amount ? 1",
            "{1}",
            "amount := 1",
            "f(a => 1)",
            "!amount",
        ] {
            trait_err(text, NotAllowed);
        }
        trait_err("amount \\ 1", NotAllowed);
        trait_err("amount \u{00e9}", Syntax);
    }

    #[test]
    fn window_functions() {
        trait_err("sum(amount) OVER ()", NotAllowed);
        trait_err("sum(amount) OVER (PARTITION BY channel)", NotAllowed);
    }

    #[test]
    fn unknown_column_lists_columns() {
        let e = trait_err("unknown_col > 1", UnknownColumn);
        assert_eq!(
            e.hint.as_deref(),
            Some("columns: amount, occurred_at, currency, tsource_id, channel")
        );
        rule_err("\"Segment\" = 'x'", UnknownColumn);
        rule_err("amount > 1", UnknownColumn);
    }

    #[test]
    fn aggregates_refused_in_rules() {
        let e = rule_err("sum(amount)", NotAllowed);
        assert!(e.message.contains("\"sum\""), "{e}");
        assert!(!e.hint.as_deref().unwrap().contains("count"));
        rule_err("count(*) FILTER (WHERE amount > 0)", NotAllowed);
        rule_err("orders > 1 FILTER (WHERE orders > 0)", NotAllowed);
    }

    #[test]
    fn misplaced_keywords() {
        trait_err("abs(amount) FILTER (WHERE amount > 0)", NotAllowed);
        trait_err("amount WHERE amount > 0", NotAllowed);
        trait_err("sum(DISTINCT *)", NotAllowed);
        trait_err("sum(*)", NotAllowed);
        trait_err("abs(DISTINCT amount)", NotAllowed);
        trait_err("amount AS a", NotAllowed);
        trait_err("count(*) FILTER (amount > 0)", Syntax);
        trait_err("extract(foo from occurred_at)", NotAllowed);
        trait_err("interval 30", Syntax);
        trait_err("string_agg(channel, ',' ORDER BY channel)", NotAllowed);
    }

    #[test]
    fn unbalanced_and_empty() {
        trait_err("sum(amount", Syntax);
        trait_err("sum(amount))", Syntax);
        trait_err("(amount", Syntax);
        trait_err(")", Syntax);
        trait_err("", Syntax);
        trait_err("   \n\t", Syntax);
        trait_err("'unterminated", Syntax);
        trait_err("\"unterminated", Syntax);
    }

    #[test]
    fn malformed_expressions() {
        trait_err("amount >", Syntax);
        trait_err("amount amount", Syntax);
        trait_err("1 2", Syntax);
        trait_err("'a' 'b'", Syntax);
        trait_err("amount NOT 1", Syntax);
        trait_err("CASE END", Syntax);
        trait_err("amount BETWEEN 1", Syntax);
        trait_err("12abc", Syntax);
        trait_err("1.2.3", Syntax);
        trait_err("0x1F", Syntax);
        trait_err("1e", Syntax);
        trait_err("sum()", Syntax);
        trait_err("amount <=> 1", Syntax);
        trait_err("amount IS 1", Syntax);
    }

    #[test]
    fn length_and_depth_limits() {
        let long = format!("amount + {}", "1 + ".repeat(1000));
        assert_eq!(reject(&long, &trait_spec()).kind, Syntax);
        let deep = format!("{}amount{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(reject(&deep, &trait_spec()).kind, Syntax);
        let ok = format!("{}amount{}", "(".repeat(20), ")".repeat(20));
        trait_ok(&ok);
    }

    #[test]
    fn output_never_carries_separators_or_comments() {
        for text in [
            "count(*) FILTER (WHERE amount >= 1000)",
            "sum(amount) - -1",
            "amount-/**/1",
            "amount*-1",
        ] {
            if let Ok(out) = check_expression(text, &trait_spec()) {
                assert!(!out.contains("--") && !out.contains("/*") && !out.contains(';'), "{out}");
            }
        }
        assert_eq!(trait_ok("sum(amount) - -1"), "pg_catalog.sum(x.\"amount\") - - 1");
    }
}
