//! `declaration!` and `export_module!`: the only glue a module author writes.

/// A `&'static ModuleDecl` for module type `$ty`, built at compile time.
///
/// Use it to link a module statically into a host (tests, doctests,
/// debuggers): the host loads it with `Source::Static` and runs it through the
/// same checks and calls as a library. The version is the invoking crate's
/// `CARGO_PKG_VERSION` unless given: `declaration!(Counter, version = "1.2.0")`.
/// Stateless functions marked [`#[function]`](crate::function) go in its
/// table with `functions = [quote, discount]` (after the version, if any); a
/// module that receives a configuration section ([`Configured`](crate::Configured))
/// ends the list with `configured`.
#[macro_export]
macro_rules! declaration {
    ($ty:ty) => {
        $crate::declaration!($ty, version = env!("CARGO_PKG_VERSION"))
    };
    // issue 17: a module that receives a configuration section (`Configured`).
    ($ty:ty, configured) => {
        $crate::declaration!($ty, version = env!("CARGO_PKG_VERSION"), functions = [], configured)
    };
    // issue 17: functions
    ($ty:ty, functions = [$($f:path),* $(,)?]) => {
        $crate::declaration!($ty, version = env!("CARGO_PKG_VERSION"), functions = [$($f),*])
    };
    ($ty:ty, functions = [$($f:path),* $(,)?], configured) => {
        $crate::declaration!(
            $ty, version = env!("CARGO_PKG_VERSION"), functions = [$($f),*], configured
        )
    };
    ($ty:ty, version = $version:expr, configured) => {
        $crate::declaration!($ty, version = $version, functions = [], configured)
    };
    ($ty:ty, version = $version:expr) => {
        $crate::declaration!($ty, version = $version, functions = [])
    };
    ($ty:ty, version = $version:expr, functions = [$($f:path),* $(,)?], configured) => {{
        static VTABLE: $crate::abi::VTable = $crate::abi::VTable::new::<$ty>().with_config::<$ty>();
        static DECL: $crate::abi::ModuleDecl = $crate::__declaration_of!($ty, $version, &VTABLE)
            // issue 17: functions
            .with_functions($crate::abi::RFunctions::new(FUNCTIONS))
            // issue 17: the plain form
            .with_plain_functions($crate::abi::RPlainFunctions::new(PLAIN))
            .with_config::<$ty>();
        static FUNCTIONS: &[$crate::abi::FunctionEntry] =
            &[$($crate::abi::FunctionEntry::of::<$f>()),*];
        static PLAIN: &[$crate::abi::PlainEntry] = &[$($crate::abi::PlainEntry::of::<$f>()),*];
        $crate::__variant_tables!($ty);
        &DECL
    }};
    ($ty:ty, version = $version:expr, functions = [$($f:path),* $(,)?]) => {{
        static VTABLE: $crate::abi::VTable = $crate::abi::VTable::new::<$ty>();
        static DECL: $crate::abi::ModuleDecl = $crate::__declaration_of!($ty, $version, &VTABLE)
            // issue 17: functions
            .with_functions($crate::abi::RFunctions::new(FUNCTIONS))
            // issue 17: the plain form
            .with_plain_functions($crate::abi::RPlainFunctions::new(PLAIN));
        static FUNCTIONS: &[$crate::abi::FunctionEntry] =
            &[$($crate::abi::FunctionEntry::of::<$f>()),*];
        static PLAIN: &[$crate::abi::PlainEntry] = &[$($crate::abi::PlainEntry::of::<$f>()),*];
        $crate::__variant_tables!($ty);
        &DECL
    }};
}

/// The declaration of `$ty` with table `$vtable` (for [`declaration!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __declaration_of {
    ($ty:ty, $version:expr, $vtable:expr) => {
        $crate::abi::ModuleDecl::new::<$ty>(
            $vtable,
            $crate::BuildInfo {
                version: $version,
                build_id: match option_env!("RELIVE_BUILD_ID") {
                    Some(id) => id,
                    None => "",
                },
                panic_unwind: cfg!(panic = "unwind"),
            },
        )
        // issue 15: interfaces that grow
        .with_variants(MESSAGE_VARIANTS.as_variants(), REPLY_VARIANTS.as_variants())
    };
}

/// The variant tables [`__declaration_of!`] names (for [`declaration!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __variant_tables {
    ($ty:ty) => {
        static MESSAGE_VARIANTS: $crate::abi::VariantTable<
            { $crate::__variant_count::<<$ty as $crate::Module>::Msg>() },
        > = $crate::abi::VariantTable::of::<<$ty as $crate::Module>::Msg>();
        static REPLY_VARIANTS: $crate::abi::VariantTable<
            { $crate::__variant_count::<<$ty as $crate::Module>::Reply>() },
        > = $crate::abi::VariantTable::of::<<$ty as $crate::Module>::Reply>();
    };
}

/// Export module type `$ty` from a `cdylib`: defines the library's one
/// symbol, `relive_module_v1`, and `relive_declaration()` for hosts that link
/// the crate statically, and places the library's module record (name and
/// version) in its `.relive_module` ELF section, where tools read it without
/// loading the library ([`record`](crate::record)). It takes what
/// [`declaration!`] takes.
///
/// ```text
/// relive_sdk::export_module!(Counter);
/// relive_sdk::export_module!(Counter, version = "1.2.0");
/// // issue 17: with stateless functions (each marked #[relive_sdk::function])
/// relive_sdk::export_module!(Pricing, functions = [quote, discount]);
/// relive_sdk::export_module!(Pricing, version = "1.2.0", functions = [quote]);
/// relive_sdk::export_module!(Pricing, configured); // issue 17: `Configured`
/// relive_sdk::export_module!(Pricing, functions = [quote], configured);
/// ```
#[macro_export]
macro_rules! export_module {
    ($ty:ty) => {
        $crate::export_module!($ty, version = env!("CARGO_PKG_VERSION"));
    };
    // issue 17: a module that receives a configuration section (`Configured`).
    ($ty:ty, configured) => {
        $crate::export_module!($ty, version = env!("CARGO_PKG_VERSION"), functions = [], configured);
    };
    // issue 17: functions
    ($ty:ty, functions = [$($f:path),* $(,)?]) => {
        $crate::export_module!($ty, version = env!("CARGO_PKG_VERSION"), functions = [$($f),*]);
    };
    ($ty:ty, functions = [$($f:path),* $(,)?], configured) => {
        $crate::export_module!(
            $ty, version = env!("CARGO_PKG_VERSION"), functions = [$($f),*], configured
        );
    };
    ($ty:ty, version = $version:expr, configured) => {
        $crate::export_module!($ty, version = $version, functions = [], configured);
    };
    ($ty:ty, version = $version:expr) => {
        $crate::export_module!($ty, version = $version, functions = []);
    };
    ($ty:ty, version = $version:expr, functions = [$($f:path),* $(,)?], configured) => {
        $crate::__export_with!(
            $ty,
            $version,
            $crate::declaration!($ty, version = $version, functions = [$($f),*], configured)
        );
    };
    ($ty:ty, version = $version:expr, functions = [$($f:path),* $(,)?]) => {
        $crate::__export_with!(
            $ty,
            $version,
            $crate::declaration!($ty, version = $version, functions = [$($f),*])
        );
    };
}

/// The exports of [`export_module!`] around declaration `$decl`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_with {
    ($ty:ty, $version:expr, $decl:expr) => {
        $crate::__module_record!($ty, $version);

        /// This library's relive module declaration (generated by
        /// `relive_sdk::export_module!`).
        pub fn relive_declaration() -> &'static $crate::abi::ModuleDecl {
            $decl
        }

        /// The symbol a relive host looks up (generated by
        /// `relive_sdk::export_module!`).
        #[unsafe(no_mangle)]
        pub extern "C" fn relive_module_v1() -> *const $crate::abi::ModuleDecl {
            relive_declaration()
        }
    };
}

// issue 17: functions
/// Export stateless functions *instead of* an actor: a module named `$name`
/// whose only exports are the functions listed (each marked
/// [`#[function]`](crate::function)). It declares a placeholder actor type,
/// `ReliveFunctionsOnly`, whose `init` declines (a spawn of the module is
/// `ignore`d: no actor starts), so hosts load, check and upgrade it as any
/// module.
///
/// ```text
/// relive_sdk::export_functions!("rates", functions = [vat, discount]);
/// relive_sdk::export_functions!("rates", version = "1.2.0", functions = [vat]);
/// ```
#[macro_export]
macro_rules! export_functions {
    ($name:literal, functions = [$($f:path),* $(,)?]) => {
        $crate::export_functions!(
            $name, version = env!("CARGO_PKG_VERSION"), functions = [$($f),*]
        );
    };
    ($name:literal, version = $version:expr, functions = [$($f:path),* $(,)?]) => {
        /// The placeholder actor of a module that exports only functions
        /// (generated by `relive_sdk::export_functions!`): it never starts.
        #[$crate::data]
        #[derive(Debug)]
        pub struct ReliveFunctionsOnly;

        impl $crate::Module for ReliveFunctionsOnly {
            const NAME: &'static str = $name;
            type Args = ();
            type Msg = ();
            type Reply = ();

            fn init(
                _: (),
                _: &mut $crate::Context<'_>,
            ) -> ::core::result::Result<Self, $crate::ModuleError> {
                ::core::result::Result::Err($crate::ModuleError::ignore())
            }

            fn handle(&mut self, _: (), _: &mut $crate::Context<'_>) {}
        }

        $crate::export_module!(ReliveFunctionsOnly, version = $version, functions = [$($f),*]);
    };
}
