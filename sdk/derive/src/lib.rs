//! `#[relive_sdk::data]`: the derives a type that crosses the module
//! boundary needs, pointed at `relive-sdk`'s re-exports.
//!
//! serde's and postcard-schema's derives name their own crates in the code
//! they generate (`::serde`, `::postcard_schema`), so a crate that uses them
//! must depend on both — unless each item says where to find them with
//! `#[serde(crate = "…")]` and `#[postcard(crate = …)]`. This attribute
//! writes those for the user: a module or interface crate that depends on
//! `relive-sdk` alone writes
//!
//! ```ignore
//! #[relive_sdk::data]
//! pub enum Msg { Add(u64), Get }
//! ```
//!
//! and gets `Serialize`, `Deserialize` and `Schema`. Use it through
//! `relive_sdk::data`; this crate is an implementation detail of the SDK.
//! It also holds `#[relive_sdk::function]` (issue 17).
//! It depends on nothing but `proc_macro`, so it costs next to no compile
//! time.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Derive `Serialize`, `Deserialize` and `Schema` through `relive_sdk`'s
/// re-exports (see the crate docs). Takes no arguments.
///
/// The item keeps its other attributes; `#[serde(…)]` attributes on the item,
/// its fields and variants work as usual.
#[proc_macro_attribute]
pub fn data(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return r##"::core::compile_error!("#[relive_sdk::data] takes no arguments");"##
            .parse()
            .expect("a compile_error! invocation parses");
    }
    let mut out: TokenStream = concat!(
        "#[derive(::relive_sdk::serde::Serialize, ::relive_sdk::serde::Deserialize, ",
        "::relive_sdk::Schema)]",
        "#[serde(crate = \"::relive_sdk::serde\")]",
        "#[postcard(crate = ::relive_sdk::codec::postcard_schema)]",
    )
    .parse()
    .expect("the derive attributes parse");
    out.extend(item);
    out
}

// issue 17: functions
/// Export a stateless function: `#[relive_sdk::function] fn quote(req:
/// QuoteReq) -> Quote`. The function stays as written; beside it, a type of
/// the same name (a braced struct, which lives in the type namespace only)
/// implements `relive_sdk::Function`, and `export_module!(M, functions =
/// [quote])` puts its entry in the declaration. Takes no arguments.
///
/// The function takes exactly one argument and is neither generic, `async`
/// nor `unsafe`; without `->` it returns `()`.
#[proc_macro_attribute]
pub fn function(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return compile_error("#[relive_sdk::function] takes no arguments");
    }
    match function_impl(item.clone()) {
        Ok(extra) => {
            let mut out = item;
            out.extend(extra);
            out
        }
        Err(msg) => {
            let mut out = compile_error(&msg);
            out.extend(item);
            out
        }
    }
}

fn compile_error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});").parse().expect("a compile_error! invocation parses")
}

fn function_impl(item: TokenStream) -> Result<TokenStream, String> {
    use proc_macro::{Delimiter, Spacing, TokenTree};
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_ident = |t: &TokenTree, s: &str| matches!(t, TokenTree::Ident(i) if i.to_string() == s);
    let is_punct = |t: &TokenTree, c: char| matches!(t, TokenTree::Punct(p) if p.as_char() == c);
    let fn_at = tokens
        .iter()
        .position(|t| is_ident(t, "fn"))
        .ok_or("#[relive_sdk::function] goes on a `fn` item")?;
    let mut vis = String::new();
    for (i, t) in tokens[..fn_at].iter().enumerate() {
        if is_ident(t, "async") || is_ident(t, "unsafe") || is_ident(t, "extern") {
            return Err(format!("an exported function cannot be `{t}`"));
        }
        if is_ident(t, "pub") {
            vis.push_str("pub");
            if let Some(TokenTree::Group(g)) = tokens.get(i + 1)
                && g.delimiter() == Delimiter::Parenthesis
            {
                vis.push_str(&g.to_string());
            }
        }
    }
    let name = match tokens.get(fn_at + 1) {
        Some(TokenTree::Ident(i)) => i.to_string(),
        _ => return Err("expected the function's name after `fn`".into()),
    };
    let params = match tokens.get(fn_at + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.stream(),
        Some(t) if is_punct(t, '<') => {
            return Err("an exported function cannot be generic".into());
        }
        _ => return Err("expected the function's parameters".into()),
    };
    // The one parameter: `pattern : Type` (a lone `:` at angle depth 0; a
    // `::` path separator is two joint puncts and is skipped).
    let params: Vec<TokenTree> = params.into_iter().collect();
    let mut depth = 0i32;
    let mut colon = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while i < params.len() {
        match &params[i] {
            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
            TokenTree::Punct(p) if p.as_char() == '>' => depth -= 1,
            TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Joint => {
                i += 1;
            }
            TokenTree::Punct(p) if p.as_char() == ':' && depth == 0 && colon.is_none() => {
                colon = Some(i);
            }
            TokenTree::Punct(p) if p.as_char() == ',' && depth == 0 => commas.push(i),
            _ => {}
        }
        i += 1;
    }
    let colon = colon.ok_or("an exported function takes exactly one argument")?;
    let end = match commas.as_slice() {
        [] => params.len(),
        [last] if *last == params.len() - 1 => *last,
        _ => return Err("an exported function takes exactly one argument".into()),
    };
    let arg: TokenStream = params[colon + 1..end].iter().cloned().collect();
    if arg.is_empty() {
        return Err("expected the argument's type".into());
    }
    // The result: the tokens between `->` and the body.
    let rest = &tokens[fn_at + 3..];
    let body = rest
        .iter()
        .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace))
        .ok_or("expected the function's body")?;
    if rest[..body].iter().any(|t| is_ident(t, "where")) {
        return Err("an exported function cannot have a `where` clause".into());
    }
    let output = match &rest[..body] {
        [] => "()".to_owned(),
        [a, b, ty @ ..] if is_punct(a, '-') && is_punct(b, '>') && !ty.is_empty() => {
            ty.iter().cloned().collect::<TokenStream>().to_string()
        }
        _ => return Err("expected `-> Type` or the body after the parameters".into()),
    };
    let code = format!(
        "#[doc(hidden)]\n#[allow(non_camel_case_types)]\n{vis} struct {name} {{}}\n\
         impl ::relive_sdk::Function for {name} {{\n\
             const NAME: &'static str = {name_lit:?};\n\
             type Arg = {arg};\n\
             type Output = {output};\n\
             fn call(arg: Self::Arg) -> Self::Output {{ {name}(arg) }}\n\
         }}",
        name_lit = name,
        arg = arg,
    );
    code.parse().map_err(|e| format!("#[relive_sdk::function] generated bad code: {e:?}"))
}
