//! issue 17: stateless functions — what `#[relive_sdk::function]` implements.

use relive_codec::Schema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A named stateless function a module exports next to its actor, called
/// by a host inline on its own thread (`host.function::<A, R>(module, name)`).
///
/// Not implemented by hand: [`#[relive_sdk::function]`](crate::function) on
/// `fn quote(req: QuoteReq) -> Quote` defines a type `quote` (a braced
/// struct, so it lives beside the function of the same name) implementing
/// it, and [`export_module!`](crate::export_module)`(M, functions = [quote])`
/// puts its entry in the declaration.
///
/// ```
/// use relive_sdk::prelude::*;
///
/// #[data]
/// pub struct QuoteReq { pub qty: u32 }
///
/// #[relive_sdk::function]
/// pub fn quote(req: QuoteReq) -> u64 { u64::from(req.qty) * 3 }
///
/// assert_eq!(<quote as relive_sdk::Function>::NAME, "quote");
/// assert_eq!(<quote as relive_sdk::Function>::call(QuoteReq { qty: 2 }), 6);
/// assert_eq!(quote(QuoteReq { qty: 1 }), 3);
/// ```
pub trait Function: 'static {
    /// The function's name, as hosts look it up.
    const NAME: &'static str;
    /// Its one argument.
    type Arg: Serialize + DeserializeOwned + Schema;
    /// What it returns.
    type Output: Serialize + DeserializeOwned + Schema;
    /// Run it.
    fn call(arg: Self::Arg) -> Self::Output;
}
