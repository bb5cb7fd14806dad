//! The static that places a library's module record in its `.relive_module`
//! ELF section (the format and its reader: [`crate::record`]).
//!
//! It lives here because `#[unsafe(link_section)]` is an unsafe attribute,
//! and `abi/` is the SDK's one place for `unsafe`; `export_module!` expands
//! it in the module crate, where the static must be emitted.

/// Emit the module record of `$ty` (version `$version`) into the library's
/// `.relive_module` section. Used by [`export_module!`](crate::export_module);
/// not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __module_record {
    ($ty:ty, $version:expr) => {
        const _: () = {
            const NAME: &str = <$ty as $crate::Module>::NAME;
            const VERSION: &str = $version;
            const LEN: usize = $crate::record::encoded_len(NAME, VERSION);
            // `#[used]`: kept although nothing refers to it; tools find it by
            // its section, never by a symbol.
            #[used]
            // SAFETY: `.relive_module` is relive's own section; neither the
            // dynamic loader nor the C runtime gives it any meaning (unlike
            // `.init_array` and friends), so placing data there runs nothing
            // and changes no other item. The static is a plain byte array,
            // with no pointers and so no relocations, only ever read as bytes
            // (from the file, by `relive_sdk::record::read`).
            #[unsafe(link_section = ".relive_module")]
            static RELIVE_MODULE_RECORD: [u8; LEN] = $crate::record::encode::<LEN>(NAME, VERSION);
        };
    };
}
