//! issue 20: `build::ModuleCrate` builds a module crate with cargo, finds
//! its cdylib from cargo's messages, and says why in a typed error when it
//! cannot.

use relive_runtime::Host;
use relive_runtime::build::{BuildError, ModuleCrate};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-modules").join(name)
}

/// A crate of our own outside the workspace, in the target directory.
fn scratch_crate(lib: &str, crate_type: &str) -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target).unwrap();
    let dir = tempfile::Builder::new().prefix("build-test-").tempdir_in(target).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"{crate_type}\"]\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    dir
}

#[test]
fn a_module_crate_builds_into_a_library_a_host_loads() {
    let built = ModuleCrate::at(fixture("one_dep")).build().unwrap();
    assert_eq!(built.name, "one_dep");
    assert_eq!(built.version.to_string(), "1.0.0");
    assert!(built.path.is_file(), "{}", built.path.display());
    assert_eq!(built.path.file_name().unwrap(), "libone_dep.so");
    let host = Host::builder().workers(1).build().unwrap();
    let report = host.code_server().upgrade("one_dep", &built.path);
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_crate_that_is_no_cdylib_is_a_typed_error() {
    let err = ModuleCrate::at(fixture("one_dep_api")).build().unwrap_err();
    assert!(matches!(err, BuildError::NotACdylib { .. }), "{err:?}");
}

#[test]
fn a_failed_build_keeps_cargos_diagnostics() {
    let dir = scratch_crate("pub fn broken() -> u32 { \"not a number\" }\n", "cdylib");
    let err =
        ModuleCrate::at(dir.path()).target_dir(dir.path().join("target")).build().unwrap_err();
    match &err {
        BuildError::Failed { stderr, .. } => {
            assert!(stderr.contains("mismatched types"), "{stderr}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cdylib_without_a_module_is_not_a_module() {
    let dir = scratch_crate("pub fn nothing() {}\n", "cdylib");
    let err =
        ModuleCrate::at(dir.path()).target_dir(dir.path().join("target")).build().unwrap_err();
    assert!(matches!(err, BuildError::NotAModule { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
}

#[test]
fn a_missing_cargo_is_a_typed_error() {
    let err = ModuleCrate::at(fixture("one_dep")).cargo("/nonexistent/cargo").build().unwrap_err();
    assert!(matches!(err, BuildError::CargoMissing { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
}
