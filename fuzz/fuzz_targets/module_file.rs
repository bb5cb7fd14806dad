//! Arbitrary bytes as a module file: the loader's step-1 structure check,
//! which runs before `dlopen` and must refuse every file `dlopen` could
//! crash on (a truncated library once killed the host with SIGBUS). It must
//! answer with `Ok` or a typed `LoadError`, never panic or read out of
//! bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = relive_runtime::fuzzing::check_elf(bytes);
});
