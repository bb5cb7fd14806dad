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
