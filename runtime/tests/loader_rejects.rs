//! Every bad build is refused before anything changes: its own `LoadError`
//! variant, a message naming the file and the reason, and the version that
//! was running still serves afterwards.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::{LoadError, LoadOptions, LoadOutcome};
use relive_runtime::{Instance, ModuleTable};
use relive_test_support::fixtures;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A code server running counter v1 with one instance at count 5.
fn running_v1() -> (ModuleTable, Instance) {
    let code = ModuleTable::new().unwrap();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1 = code.current("counter").unwrap();
    let inst = Instance::start_with(&v1, &5u64).unwrap();
    (code, inst)
}

fn add(inst: &mut Instance, n: u64) -> CounterReply {
    inst.call::<CounterMsg, CounterReply>(&CounterMsg::Add(n)).unwrap()
}

/// The refusal changed nothing: v1 is current, the instance serves with its
/// state, and a new instance starts on v1.
fn still_serving_v1(code: &ModuleTable, inst: &mut Instance, count_before: u64) {
    let current = code.current("counter").unwrap();
    assert_eq!(current.version().to_string(), "1.0.0");
    assert!(code.which("counter").unwrap().old.is_none(), "no old version appeared");
    assert_eq!(add(inst, 1), CounterReply { logic: 1, count: count_before + 1 });
    let mut fresh = Instance::start_with(&current, &0u64).unwrap();
    assert_eq!(add(&mut fresh, 2), CounterReply { logic: 1, count: 2 });
}

/// Upgrade `counter` from `path`, expecting a refusal whose message names the file.
fn refuse(code: &ModuleTable, path: &Path) -> LoadError {
    match code.load("counter", path) {
        Err(e) => {
            let file = path.display().to_string();
            assert_eq!(e.file(), Some(file.as_str()));
            assert!(e.to_string().contains(&file), "message names the file: {e}");
            e
        }
        other => panic!("expected a load error for {}, got {other:?}", path.display()),
    }
}

macro_rules! refused {
    ($name:ident, $fixture:expr, $pattern:pat $(if $guard:expr)?, $reason:expr) => {
        #[test]
        fn $name() {
            let (code, mut inst) = running_v1();
            let e = refuse(&code, fixtures().path($fixture));
            assert!(matches!(e, $pattern $(if $guard)?), "wrong reason: {e:?}");
            assert!(e.to_string().contains($reason), "message says why: {e}");
            still_serving_v1(&code, &mut inst, 5);
        }
    };
}

refused!(
    wrong_abi_version,
    "wrong_abi",
    LoadError::AbiMismatch { found: 999, expected: 1, .. },
    "ABI version 999"
);
refused!(
    wrong_magic,
    "wrong_magic",
    LoadError::BadMagic { found: 0x0bad_0bad_0bad_0bad, .. },
    "bad magic"
);
refused!(
    another_modules_name,
    "wrong_name",
    LoadError::NameMismatch { .. },
    "declares module `billing`"
);
refused!(
    incompatible_message_schema,
    "incompatible_schema",
    LoadError::InterfaceMismatch { what: relive_runtime::code_server::Part::Message, .. },
    "message schema"
);
refused!(
    old_state_unreadable,
    "unreadable_state",
    LoadError::StateUnreadable { .. },
    "cannot read the state"
);
refused!(built_with_panic_abort, "panic_abort", LoadError::PanicAbort { .. }, "panic = \"abort\"");
refused!(
    library_without_the_symbol,
    "no_symbol",
    LoadError::MissingSymbol { .. },
    "relive_module_v1"
);

#[test]
fn missing_file() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let e = refuse(&code, &dir.path().join("nope.so"));
    assert!(matches!(e, LoadError::NotFound { .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn file_that_is_not_a_library() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("notes.so");
    std::fs::write(&path, "just some text, not an ELF file\n").unwrap();
    let e = refuse(&code, &path);
    assert!(matches!(e, LoadError::NotALibrary { .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn truncated_library_refused_before_dlopen() {
    // What a watcher sees while cargo is still writing the library.
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("truncated.so");
    let bytes = std::fs::read(fixtures().path("counter_v2")).unwrap();
    for cut in [100, 4096, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = refuse(&code, &path);
        assert!(matches!(e, LoadError::Corrupt { .. }), "cut at {cut}: {e:?}");
    }
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn library_for_another_machine_fails_dlopen() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("arm.so");
    let mut bytes = std::fs::read(fixtures().path("counter_v2")).unwrap();
    bytes[18..20].copy_from_slice(&0x28u16.to_le_bytes()); // e_machine = ARM
    std::fs::write(&path, &bytes).unwrap();
    let e = refuse(&code, &path);
    assert!(matches!(e, LoadError::DlOpen { .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn executable_refused_with_the_dynamic_loaders_own_message() {
    // A PIE executable is an ET_DYN ELF file like a library: it passes step 1
    // and only dlopen tells it apart, in words the host must pass on.
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("true.so");
    std::fs::copy("/bin/true", &path).unwrap();
    let e = refuse(&code, &path);
    assert!(matches!(e, LoadError::DlOpen { .. }), "{e:?}");
    assert!(
        e.to_string().contains("cannot dynamically load position-independent executable"),
        "the dynamic loader's message: {e}"
    );
    assert!(std::error::Error::source(&e).is_some(), "libloading's error is kept: {e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn missing_symbol_gives_the_dynamic_loaders_message() {
    let (code, mut inst) = running_v1();
    let e = refuse(&code, fixtures().path("no_symbol"));
    assert!(matches!(e, LoadError::MissingSymbol { .. }), "{e:?}");
    assert!(e.to_string().contains("undefined symbol: relive_module_v1"), "dlsym's message: {e}");
    assert!(std::error::Error::source(&e).is_some(), "libloading's error is kept: {e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

/// Upgrade `counter` from `path` on another thread; the refusal, or a panic
/// if there is none within `limit` (a load that blocks fails the test rather
/// than hanging it; the blocked thread is left behind).
fn refuse_within(code: &std::sync::Arc<ModuleTable>, path: &Path, limit: Duration) -> LoadError {
    let (tx, rx) = std::sync::mpsc::channel();
    let (code2, path2) = (std::sync::Arc::clone(code), path.to_owned());
    std::thread::spawn(move || {
        let _ = tx.send(code2.load("counter", &path2).map(|r| r.outcome));
    });
    match rx.recv_timeout(limit) {
        Ok(Err(e)) => {
            assert!(e.to_string().contains(&path.display().to_string()), "names the file: {e}");
            e
        }
        Ok(other) => panic!("expected a load error for {}, got {other:?}", path.display()),
        Err(_) => panic!("loading {} did not return within {limit:?}", path.display()),
    }
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
}

/// The peak resident memory of this process (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

#[test]
fn fifo_as_the_library_refused_promptly() {
    let (code, mut inst) = running_v1();
    let code = std::sync::Arc::new(code);
    let dir = fixtures().scratch();
    let path = dir.path().join("fifo.so");
    mkfifo(&path);
    let e = refuse_within(&code, &path, Duration::from_secs(10));
    assert!(matches!(e, LoadError::NotARegularFile { what: "library", kind: "FIFO", .. }), "{e:?}");
    assert!(e.to_string().contains("not a regular file"), "{e}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn device_as_the_library_refused() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("zero.so");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let e = refuse(&code, &path);
    assert!(matches!(e, LoadError::NotARegularFile { kind: "character device", .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn huge_sparse_file_refused_by_its_size_without_reading_it() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("huge.so");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(2 << 30).unwrap(); // 2 GiB, sparse: no disk, but 2 GiB to read
    let (started, peak) = (Instant::now(), peak_rss());
    let e = refuse(&code, &path);
    let (took, grew) = (started.elapsed(), peak_rss().saturating_sub(peak));
    assert!(
        matches!(e, LoadError::FileTooLarge { what: "library", size, max, .. }
            if size == 2 << 30 && max == 1 << 30),
        "{e:?}"
    );
    assert!(took < Duration::from_secs(1), "refused in {took:?}");
    assert!(grew < 256 << 20, "peak memory grew by {grew} bytes");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn large_non_elf_file_refused_from_its_header_without_reading_it() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("large.so");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(768 << 20).unwrap(); // under the 1 GiB limit, sparse
    let (started, peak) = (Instant::now(), peak_rss());
    let e = refuse(&code, &path);
    let (took, grew) = (started.elapsed(), peak_rss().saturating_sub(peak));
    assert!(matches!(e, LoadError::NotALibrary { .. }), "{e:?}");
    assert!(took < Duration::from_secs(1), "refused in {took:?}");
    assert!(grew < 256 << 20, "peak memory grew by {grew} bytes");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn library_over_the_configured_maximum_refused() {
    let code = ModuleTable::builder().max_library_size(64 << 10).build().unwrap();
    let path = fixtures().path("counter_v1");
    let size = std::fs::metadata(path).unwrap().len();
    let e = match code.load("counter", path) {
        Err(e) => e,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(e, LoadError::FileTooLarge { what: "library", max: 65536, size: s, .. } if s == size),
        "{e:?}"
    );
    assert!(e.to_string().contains("65536"), "{e}");
}

/// `parent/name`, created with `mode` (not subject to the umask).
fn dir_with_mode(parent: &Path, name: &str, mode: u32) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

#[test]
fn library_in_a_directory_writable_by_others_refused() {
    for mode in [0o777, 0o772] {
        let (code, mut inst) = running_v1();
        let scratch = fixtures().scratch();
        let open = dir_with_mode(scratch.path(), "open", mode);
        let path = open.join("counter_v2.so");
        fixtures().install("counter_v2", &path);
        let e = refuse(&code, &path);
        assert!(
            matches!(&e, LoadError::UnsafeDirectory { dir, mode: m, .. }
                if *dir == open.canonicalize().unwrap() && *m == mode),
            "{mode:o}: {e:?}"
        );
        assert!(e.to_string().contains("writable by other users"), "{e}");
        still_serving_v1(&code, &mut inst, 5);
    }
}

#[test]
fn library_under_an_ancestor_writable_by_others_refused() {
    let (code, mut inst) = running_v1();
    let scratch = fixtures().scratch();
    let open = dir_with_mode(scratch.path(), "open", 0o777);
    let private = dir_with_mode(&open, "private", 0o700);
    let path = private.join("counter_v2.so");
    fixtures().install("counter_v2", &path);
    let e = refuse(&code, &path);
    assert!(
        matches!(&e, LoadError::UnsafeDirectory { dir, mode: 0o777, .. }
            if *dir == open.canonicalize().unwrap()),
        "{e:?}"
    );
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn a_sticky_directory_guards_what_we_own_in_it_and_nothing_else() {
    // Sticky (as /tmp): others may create entries but not remove, rename or
    // replace ours. A private directory of ours, or a file of ours, in it is
    // safe (a checkout under /tmp loads its own builds); an entry of another
    // user's is not.
    let (code, _inst) = running_v1();
    let scratch = fixtures().scratch();
    let sticky = dir_with_mode(scratch.path(), "sticky", 0o1777);
    let ours = dir_with_mode(&sticky, "ours", 0o700);
    fixtures().install("counter_v2", &ours.join("counter_v2.so"));
    code.load("counter", ours.join("counter_v2.so"))
        .expect("a private dir of ours in a sticky one");
    let beside = sticky.join("counter_v2.so");
    fixtures().install("counter_v2", &beside);
    ModuleTable::new().unwrap().load("counter", &beside).expect("a file of ours in a sticky dir");
    if rustix::process::geteuid().is_root() {
        // An entry someone else owns: they could replace what is below it.
        let theirs = dir_with_mode(&sticky, "theirs", 0o755);
        fixtures().install("counter_v2", &theirs.join("counter_v2.so"));
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let (code, mut inst) = running_v1();
        let e = refuse(&code, &theirs.join("counter_v2.so"));
        assert!(matches!(e, LoadError::UnsafeDirectory { mode: 0o1777, .. }), "{e:?}");
        still_serving_v1(&code, &mut inst, 5);
    } else {
        eprintln!("not root: the case of another user's entry in a sticky dir is not tested");
    }
}

#[test]
fn symlink_into_a_directory_writable_by_others_refused() {
    // The directories that count are those of the file itself, not the link's.
    let (code, mut inst) = running_v1();
    let scratch = fixtures().scratch();
    let open = dir_with_mode(scratch.path(), "open", 0o777);
    fixtures().install("counter_v2", &open.join("counter_v2.so"));
    let link = scratch.path().join("counter_v2.so");
    std::os::unix::fs::symlink(open.join("counter_v2.so"), &link).unwrap();
    let e = refuse(&code, &link);
    assert!(matches!(e, LoadError::UnsafeDirectory { mode: 0o777, .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn library_in_a_private_directory_loads() {
    let scratch = fixtures().scratch();
    for mode in [0o700, 0o755, 0o1755] {
        let dir = dir_with_mode(scratch.path(), &format!("d{mode:o}"), mode);
        let path = dir.join("counter_v2.so");
        fixtures().install("counter_v2", &path);
        let code = ModuleTable::new().unwrap();
        code.load("counter", &path).unwrap();
        assert_eq!(code.current("counter").unwrap().version().to_string(), "2.0.0");
    }
}

#[test]
fn file_writable_by_others() {
    let (code, mut inst) = running_v1();
    let dir = fixtures().scratch();
    let path = dir.path().join("counter_v2.so");
    fixtures().install("counter_v2", &path);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = refuse(&code, &path);
    assert!(matches!(e, LoadError::WritableByOthers { mode: 0o666, .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn same_version_other_build_refused_unless_forced() {
    let (code, mut inst) = running_v1();
    let hotfix = fixtures().path("counter_v1_hotfix");
    let e = refuse(&code, hotfix);
    assert!(matches!(e, LoadError::SameVersionDifferentBuild { .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);

    let report = code.load_with("counter", hotfix, LoadOptions::new().force(true)).unwrap();
    assert_eq!(report.outcome, LoadOutcome::Upgraded);
    let current = code.current("counter").unwrap();
    let mut fresh = Instance::start_with(&current, &0u64).unwrap();
    assert_eq!(add(&mut fresh, 1).logic, 101, "the forced build's code answers");
}

#[test]
fn same_build_twice_is_a_no_op() {
    let (code, mut inst) = running_v1();
    let before = code.current("counter").unwrap();
    let report = code.load("counter", fixtures().path("counter_v1")).unwrap();
    assert_eq!(report.outcome, LoadOutcome::Unchanged);
    assert!(std::sync::Arc::ptr_eq(&before, &code.current("counter").unwrap()));
    assert!(code.which("counter").unwrap().old.is_none());
    still_serving_v1(&code, &mut inst, 5);
}

#[test]
fn bad_build_refused_unless_forced() {
    let (code, mut inst) = running_v1();
    let v2 = fixtures().path("counter_v2");
    // Learn v2's hash by loading it in another code server.
    let probe = ModuleTable::new().unwrap();
    let hash = probe.load("counter", v2).unwrap().hash;
    code.mark_bad("counter", hash).unwrap();
    let e = refuse(&code, v2);
    assert!(matches!(e, LoadError::BadBuild { .. }), "{e:?}");
    still_serving_v1(&code, &mut inst, 5);
    code.load_with("counter", v2, LoadOptions::new().force(true)).unwrap();
    assert_eq!(code.current("counter").unwrap().version().to_string(), "2.0.0");
}

#[test]
fn panicking_init_is_a_typed_error_and_v1_keeps_serving() {
    let (code, mut inst) = running_v1();
    // Same state schema as v1, so the load itself is valid…
    code.load("counter", fixtures().path("panics_in_init")).unwrap();
    let v3 = code.current("counter").unwrap();
    // …but starting an instance on it fails, with the panic message.
    let e = Instance::start_with(&v3, &1u64).unwrap_err();
    assert!(
        matches!(&e, relive_runtime::ModuleCallError::Panicked { function: "init", message, .. }
            if message.contains("init exploded")),
        "{e:?}"
    );
    assert_eq!(v3.instances(), 0, "no half-made instance remains");
    assert_eq!(add(&mut inst, 1), CounterReply { logic: 1, count: 6 });
}

#[test]
fn panicking_code_change_keeps_the_instance_on_v1() {
    let (code, mut inst) = running_v1();
    add(&mut inst, 10);
    code.load("counter", fixtures().path("panics_in_code_change")).unwrap();
    let target = code.current("counter").unwrap();
    let failed = inst.code_change(&target, &[]).unwrap_err();
    assert!(
        matches!(&failed.error, relive_runtime::ModuleCallError::Panicked { function: "code_change", message, .. }
            if message.contains("code_change exploded")),
        "{:?}",
        failed.error
    );
    let mut inst = failed.instance;
    assert_eq!(inst.version().version().to_string(), "1.0.0");
    assert_eq!(add(&mut inst, 1), CounterReply { logic: 1, count: 16 }, "state exactly kept");
    assert_eq!(target.instances(), 0);
}

mod signatures {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use relive_runtime::code_server::loader::signature_path;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sign(path: &Path, key: &SigningKey) {
        let sig = key.sign(&std::fs::read(path).unwrap()).to_bytes();
        std::fs::write(signature_path(path), hex::encode(sig) + "\n").unwrap();
    }

    fn signed_host() -> (ModuleTable, Instance, tempfile::TempDir) {
        let code = ModuleTable::builder().trust_key(key(1).verifying_key()).build().unwrap();
        let dir = fixtures().scratch();
        let v1 = dir.path().join("counter_v1.so");
        fixtures().install("counter_v1", &v1);
        sign(&v1, &key(1));
        code.load("counter", &v1).unwrap();
        let inst = Instance::start_with(&code.current("counter").unwrap(), &5u64).unwrap();
        (code, inst, dir)
    }

    #[test]
    fn unsigned_module_refused() {
        let (code, mut inst, dir) = signed_host();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        let e = refuse(&code, &v2);
        assert!(matches!(e, LoadError::Unsigned { .. }), "{e:?}");
        still_serving_v1(&code, &mut inst, 5);
    }

    #[test]
    fn untrusted_key_and_tampered_file_refused() {
        let (code, mut inst, dir) = signed_host();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        sign(&v2, &key(2));
        let e = refuse(&code, &v2);
        assert!(matches!(e, LoadError::BadSignature { .. }), "{e:?}");

        sign(&v2, &key(1));
        let mut bytes = std::fs::read(&v2).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&v2, bytes).unwrap();
        let e = refuse(&code, &v2);
        assert!(matches!(e, LoadError::BadSignature { .. }), "{e:?}");
        still_serving_v1(&code, &mut inst, 5);
    }

    fn signed_host_shared() -> (std::sync::Arc<ModuleTable>, Instance, tempfile::TempDir) {
        let (code, inst, dir) = signed_host();
        (std::sync::Arc::new(code), inst, dir)
    }

    #[test]
    fn fifo_as_the_signature_refused_promptly() {
        let (code, mut inst, dir) = signed_host_shared();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        mkfifo(&signature_path(&v2));
        let e = refuse_within(&code, &v2, Duration::from_secs(10));
        assert!(
            matches!(e, LoadError::NotARegularFile { what: "signature", kind: "FIFO", .. }),
            "{e:?}"
        );
        still_serving_v1(&code, &mut inst, 5);
    }

    #[test]
    fn signature_symlinked_to_dev_zero_refused_with_bounded_memory() {
        let (code, mut inst, dir) = signed_host_shared();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        std::os::unix::fs::symlink("/dev/zero", signature_path(&v2)).unwrap();
        let peak = peak_rss();
        let e = refuse_within(&code, &v2, Duration::from_secs(10));
        let grew = peak_rss().saturating_sub(peak);
        assert!(
            matches!(
                e,
                LoadError::NotARegularFile { what: "signature", kind: "character device", .. }
            ),
            "{e:?}"
        );
        assert!(grew < 256 << 20, "peak memory grew by {grew} bytes");
        still_serving_v1(&code, &mut inst, 5);
    }

    #[test]
    fn oversized_signature_refused_without_reading_it_whole() {
        let (code, mut inst, dir) = signed_host();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        sign(&v2, &key(1));
        // A valid signature followed by a sparse gigabyte.
        let f = std::fs::OpenOptions::new().append(true).open(signature_path(&v2)).unwrap();
        f.set_len(1 << 30).unwrap();
        let peak = peak_rss();
        let e = refuse(&code, &v2);
        let grew = peak_rss().saturating_sub(peak);
        assert!(
            matches!(e, LoadError::FileTooLarge { what: "signature", max: 1024, size, .. }
                if size == 1 << 30),
            "{e:?}"
        );
        assert!(grew < 256 << 20, "peak memory grew by {grew} bytes");
        still_serving_v1(&code, &mut inst, 5);
    }

    #[test]
    fn signature_that_is_not_hex_refused_with_the_decoders_error() {
        let (code, mut inst, dir) = signed_host();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        for text in ["not hex at all\n", "abcd\n", &"zz".repeat(64)] {
            std::fs::write(signature_path(&v2), text).unwrap();
            let e = refuse(&code, &v2);
            assert!(matches!(e, LoadError::MalformedSignature { .. }), "{text:?}: {e:?}");
            assert!(e.to_string().contains("bad signature"), "{e}");
            assert!(std::error::Error::source(&e).is_some(), "the hex error is kept: {e:?}");
        }
        still_serving_v1(&code, &mut inst, 5);
    }

    #[test]
    fn correctly_signed_module_loads() {
        let (code, _inst, dir) = signed_host();
        let v2 = dir.path().join("counter_v2.so");
        fixtures().install("counter_v2", &v2);
        sign(&v2, &key(1));
        code.load("counter", &v2).unwrap();
    }
}
