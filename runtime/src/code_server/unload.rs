//! Unloading a version once nobody holds it, never unmapping code that can
//! still run.
//!
//! When the last `Arc<Version>` drops, its library is handed here instead of
//! being closed on the spot. Before `dlclose`, [`ffi::unload`](crate::ffi::unload)
//! looks for what could still enter the library's code:
//! - a signal handler in it: the library is never closed (it stays
//!   [`Residency::SignalHandler`]);
//! - a thread it started, or a thread that could not be looked at: the
//!   library stays open and is looked at again later, until the thread ends
//!   ([`Residency::ModuleThread`], [`Residency::UninspectedThread`]);
//! - otherwise its `pthread_key` destructors are deleted and it is closed.
//!   If glibc still keeps it mapped, threads hold thread-local destructors
//!   it registered: the host is asked to retire its worker threads (their
//!   destructors run as they end, while the library is still mapped), and
//!   the library is collected once no thread holds any
//!   ([`Residency::ThreadLocalDestructors`] meanwhile).
//!
//! All of it runs on one background thread (`relive-unloader`), so that the
//! thread dropping the version — an upgrade, a purge — never waits for the
//! look; what it cannot finish it tries again with a growing pause.

use crate::ffi::unload::{self as hazard, Hazard, OurThread};
use libloading::os::unix::Library;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Why a version that left every slot and instance is still mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Residency {
    /// A thread the module started runs (the library stays until it ends).
    ModuleThread {
        /// The thread.
        tid: i32,
    },
    /// A thread was on a CPU at every look and did not answer the probe: it
    /// might be in the library's code (looked at again later).
    UninspectedThread {
        /// The thread.
        tid: i32,
    },
    /// A signal's handler is in the library: it is never unmapped.
    SignalHandler {
        /// The signal.
        signal: i32,
    },
    /// Closed, but threads hold thread-local destructors it registered;
    /// glibc unmaps it once they ran (as those threads end).
    ThreadLocalDestructors,
    /// glibc's key table could not be read, so destructors of keys the
    /// library made cannot be ruled out: it is never unmapped.
    KeysUnknown,
}

impl std::fmt::Display for Residency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Residency::ModuleThread { tid } => {
                write!(f, "thread {tid}, started by the module, runs")
            }
            Residency::UninspectedThread { tid } => {
                write!(f, "thread {tid} could not be inspected (busy on a CPU)")
            }
            Residency::SignalHandler { signal } => {
                write!(f, "the handler of signal {signal} is the module's")
            }
            Residency::ThreadLocalDestructors => {
                f.write_str("threads hold thread-local destructors the module registered")
            }
            Residency::KeysUnknown => f.write_str("glibc's key table could not be read"),
        }
    }
}

/// Modules whose libraries stayed mapped, closed, after the host retired its
/// workers: something else — a host thread that ran a turn inline — holds
/// thread-local destructors they registered. Their turns then run on
/// workers only, so that later versions can go.
static PINNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static PINNERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether `module`'s code registered thread-local destructors on host
/// threads that ran it inline (see [`PINNERS`]).
pub(crate) fn pins_host_threads(module: &str) -> bool {
    // ORDERING: Relaxed: a late `true` only lets one more inline turn run.
    PINNING.load(std::sync::atomic::Ordering::Relaxed) && PINNERS.lock().iter().any(|m| m == module)
}

fn pinned_by_host_threads(module: &str) {
    let mut p = PINNERS.lock();
    if !p.iter().any(|m| m == module) {
        tracing::warn!(
            module,
            "the module's code registers thread-local destructors on host \
            threads that call it inline, which keep each version mapped until they end; its \
            turns run on workers only from now on"
        );
        p.push(module.to_owned());
        // ORDERING: Relaxed, as in `pins_host_threads`.
        PINNING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the host does when a closed library stays mapped: end the threads
/// that may hold its thread-local destructors (its workers), waiting until
/// `deadline`.
pub(crate) trait RetireThreads: Send + Sync {
    fn retire_threads(&self, deadline: Instant);
}

// issue 15: lifecycle
/// What goes with a version whose last `Arc` dropped: its `on_free` (if it
/// lived and has one) and where its unload is reported.
pub(crate) struct Gone {
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) on_free: Option<crate::ffi::calls::FreeHook>,
    pub(crate) events: Option<Weak<super::events::EventBus>>,
}

impl Gone {
    /// Run `on_free` once (a panic in it is caught by the module and
    /// logged here); `library` is the version's library, still open.
    fn free(&mut self, library: Option<&Library>) {
        let Some(hook) = self.on_free.take() else { return };
        let mut out = Vec::new();
        let code = hook.run(library, &mut out);
        if code != relive_sdk::abi::status::OK {
            tracing::warn!(
                module = self.module, version = self.version, code,
                message = %String::from_utf8_lossy(&out), "on_free failed (ignored)"
            );
        }
    }

    fn emit(&self, kind: impl FnOnce(String, String) -> super::events::EventKind) {
        if let Some(bus) = self.events.as_ref().and_then(Weak::upgrade) {
            bus.emit(kind(self.module.clone(), self.version.clone()));
        }
    }
}

/// A library whose last version is gone.
struct Retired {
    // issue 15: lifecycle
    gone: Gone,
    /// The residency last reported as an event.
    reported: Option<Residency>,
    /// `None` once closed.
    library: Option<Library>,
    copy: PathBuf,
    module: String,
    /// When it was last looked at, and how long until the next look.
    next: Instant,
    pause: Duration,
}

#[derive(Default)]
struct State {
    queue: Vec<Retired>,
    /// Why each retired library (by private copy) is still mapped.
    resident: HashMap<PathBuf, Residency>,
    /// Retired libraries not looked at yet.
    closing: std::collections::HashSet<PathBuf>,
    /// Libraries never to be closed (a signal handler in them).
    kept: Vec<Library>,
    started: bool,
    retirers: Vec<Weak<dyn RetireThreads>>,
    // issue 15: lifecycle
    /// Statically linked versions whose `on_free` is still to run.
    frees: Vec<Gone>,
}

struct Unloader {
    state: Mutex<State>,
    wake: Condvar,
}

fn unloader() -> &'static Unloader {
    static U: std::sync::OnceLock<Unloader> = std::sync::OnceLock::new();
    U.get_or_init(|| Unloader { state: Mutex::new(State::default()), wake: Condvar::new() })
}

/// First pause before a library is looked at again, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// How long the unloader waits for retired workers to end.
const RETIRE_WAIT: Duration = Duration::from_secs(2);

/// What one look at a retired library found.
enum Look {
    /// Closed and unmapped.
    Gone,
    /// Still needs looking at (open or closed): why.
    Again(Residency),
    /// Never to be closed: why.
    Keep(Residency),
}

fn look(r: &mut Retired) -> Look {
    // issue 15: lifecycle — first thing, while the library is surely open.
    if let Some(library) = r.library.as_ref() {
        r.gone.free(Some(library));
    }
    let Some(library) = r.library.take() else {
        // Closed before, pinned by thread-local destructors.
        return if hazard::collect(&r.copy) {
            Look::Gone
        } else {
            Look::Again(Residency::ThreadLocalDestructors)
        };
    };
    let img = hazard::image_of(&r.copy);
    let found = hazard::hazards(&img);
    if let Some(Hazard::Signal { signal }) =
        found.iter().find(|h| matches!(h, Hazard::Signal { .. }))
    {
        r.library = Some(library);
        return Look::Keep(Residency::SignalHandler { signal: *signal });
    }
    if let Some(h) = found.first() {
        r.library = Some(library);
        return Look::Again(match *h {
            Hazard::Thread { tid } => Residency::ModuleThread { tid },
            Hazard::Uninspected { tid } => Residency::UninspectedThread { tid },
            Hazard::Signal { .. } => unreachable!("signals are looked for first"),
        });
    }
    if hazard::delete_keys(&img).is_none() && !img.is_empty() {
        r.library = Some(library);
        return Look::Keep(Residency::KeysUnknown);
    }
    drop(library);
    if hazard::still_mapped(&r.copy) {
        Look::Again(Residency::ThreadLocalDestructors)
    } else {
        Look::Gone
    }
}

/// Hand over the library of the last `Version` of a module, whose private
/// copy is `copy` (see the module docs).
pub(crate) fn retire(library: Library, copy: PathBuf, gone: Gone) {
    let r = Retired {
        library: Some(library),
        copy,
        module: gone.module.clone(),
        gone,
        reported: None,
        next: Instant::now(),
        pause: FIRST_PAUSE,
    };
    let u = unloader();
    let mut st = u.state.lock();
    st.closing.insert(r.copy.clone());
    st.queue.push(r);
    start(&mut st);
    u.wake.notify_one();
}

// issue 15: lifecycle
/// A statically linked version is gone: run its `on_free` on the unloader
/// thread (never on the thread that dropped it, which may be a worker).
pub(crate) fn free_static(gone: Gone) {
    if gone.on_free.is_none() {
        return;
    }
    let u = unloader();
    let mut st = u.state.lock();
    st.frees.push(gone);
    start(&mut st);
    u.wake.notify_one();
}

/// Start the unloader thread if it is not running.
fn start(st: &mut State) {
    if !st.started {
        st.started = true;
        if std::thread::Builder::new().name("relive-unloader".into()).spawn(run).is_err() {
            st.started = false;
            tracing::error!("cannot start the unloader thread; retired libraries stay mapped");
        }
    }
}

fn keep(mut r: Retired, why: Residency) {
    report_residency(&mut r, &why);
    tracing::warn!(module = r.module, copy = %r.copy.display(), reason = %why,
        "library kept mapped for the life of the process");
    let mut st = unloader().state.lock();
    st.resident.insert(r.copy.clone(), why);
    if let Some(lib) = r.library.take() {
        st.kept.push(lib);
    }
}

// issue 15: lifecycle
/// Report a residency as an event, once per reason.
fn report_residency(r: &mut Retired, why: &Residency) {
    if r.reported.as_ref() != Some(why) {
        r.reported = Some(why.clone());
        let reason = why.clone();
        r.gone.emit(|module, version| super::events::EventKind::Resident {
            module,
            version,
            reason,
        });
    }
}

/// The unloader thread: look again at what could not be unloaded.
fn run() {
    let _ours = OurThread::enter();
    let u = unloader();
    loop {
        let due: Vec<Retired> = {
            let mut st = u.state.lock();
            loop {
                // issue 15: lifecycle
                let frees = std::mem::take(&mut st.frees);
                if !frees.is_empty() {
                    drop(st);
                    for mut g in frees {
                        g.free(None);
                    }
                    st = u.state.lock();
                    continue;
                }
                let now = Instant::now();
                if st.queue.iter().any(|r| r.next <= now) {
                    break;
                }
                let until = st.queue.iter().map(|r| r.next).min();
                match until {
                    Some(t) => {
                        u.wake.wait_until(&mut st, t);
                    }
                    None => {
                        u.wake.wait(&mut st);
                    }
                }
            }
            let now = Instant::now();
            let (due, later) =
                std::mem::take(&mut st.queue).into_iter().partition(|r| r.next <= now);
            st.queue = later;
            due
        };
        let mut retire_threads = false;
        let mut again = Vec::new();
        for mut r in due {
            let looked = look(&mut r);
            u.state.lock().closing.remove(&r.copy);
            match looked {
                Look::Gone => {
                    let _ = std::fs::remove_file(&r.copy);
                    u.state.lock().resident.remove(&r.copy);
                    tracing::info!(module = r.module, "retired library unmapped");
                    // issue 15: lifecycle
                    r.gone.emit(|module, version| super::events::EventKind::Unloaded {
                        module,
                        version,
                    });
                }
                Look::Keep(why) => keep(r, why),
                Look::Again(why) => {
                    retire_threads |= why == Residency::ThreadLocalDestructors;
                    r.pause = (r.pause * 2).min(LONGEST_PAUSE);
                    r.next = Instant::now() + r.pause;
                    report_residency(&mut r, &why);
                    u.state.lock().resident.insert(r.copy.clone(), why);
                    again.push(r);
                }
            }
        }
        if retire_threads {
            let retirers: Vec<Arc<dyn RetireThreads>> =
                u.state.lock().retirers.iter().filter_map(Weak::upgrade).collect();
            for h in retirers {
                h.retire_threads(Instant::now() + RETIRE_WAIT);
            }
            for r in &mut again {
                if r.library.is_none() {
                    if hazard::collect(&r.copy) {
                        r.next = Instant::now();
                    } else {
                        pinned_by_host_threads(&r.module);
                    }
                }
            }
        }
        u.state.lock().queue.extend(again);
    }
}

/// Register what retires a host's threads (held weakly: it goes with its host).
pub(crate) fn on_pinned(retirer: Weak<dyn RetireThreads>) {
    let mut st = unloader().state.lock();
    st.retirers.retain(|w| w.strong_count() > 0);
    st.retirers.push(retirer);
}

/// Where the retired library at `copy` is: `None` when it is not one of
/// them (never retired, or unmapped and forgotten); `Some(None)` while it
/// waits for its first look; `Some(Some(why))` while it stays mapped.
pub(crate) fn residency(copy: &Path) -> Option<Option<Residency>> {
    let st = unloader().state.lock();
    if st.closing.contains(copy) {
        return Some(None);
    }
    st.resident.get(copy).cloned().map(Some)
}
