//! issue 17: the argument and result types of the pricing fixtures'
//! functions, shared by the modules and the tests that call them.

use relive_sdk::prelude::*;

/// What `quote` is asked.
#[data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteReq {
    /// Item.
    pub item: u32,
    /// Quantity.
    pub qty: u32,
}

/// What `quote` answers. Every field is made by one version: `version` is
/// its major version, `price` is `qty * unit(version)`, and `marker` is
/// [`marker`]`(version, item)`, so a result mixing two versions' work fails
/// [`Quote::is_whole`].
#[data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The major version that answered.
    pub version: u32,
    /// The item quoted.
    pub item: u32,
    /// The price.
    pub price: u64,
    /// The whole-version marker.
    pub marker: u64,
}

/// The unit price version `version` charges.
pub fn unit(version: u32) -> u64 {
    u64::from(version) * 10 + 1
}

/// The marker version `version` puts in a quote for `item`.
pub fn marker(version: u32, item: u32) -> u64 {
    (u64::from(version) << 40) ^ (u64::from(item).wrapping_mul(0x9E37_79B9)) ^ 0x5A5A_0000
}

impl Quote {
    /// The quote version `version` gives for `req`.
    pub fn by(version: u32, req: QuoteReq) -> Self {
        Quote {
            version,
            item: req.item,
            price: u64::from(req.qty) * unit(version),
            marker: marker(version, req.item),
        }
    }

    /// Whether every field of this answer to `req` comes from one version.
    pub fn is_whole(&self, req: QuoteReq) -> bool {
        *self == Quote::by(self.version, req)
    }
}

/// What `slow_quote` is asked: a quote after sleeping `ms` milliseconds.
#[data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowReq {
    /// How long to sleep.
    pub ms: u64,
    /// The quote.
    pub req: QuoteReq,
}
