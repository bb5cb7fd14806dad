//! What can still run a library's code after its last `Version` is gone,
//! found before it is unmapped (Linux, glibc).
//!
//! A library nobody holds can still be entered by:
//! - a **thread it started** (`std::thread::spawn`, `pthread_create`), or a
//!   thread whose program counter is in it. For every thread relive did not
//!   start itself: its stack pointer and program counter from
//!   `/proc/self/task/<tid>/syscall` (or, for a thread on a CPU, from a
//!   signal probe); its start routine from its glibc descriptor, found at the
//!   top of the stack glibc allocated for it (the field offsets are those
//!   glibc publishes for debuggers, `_thread_db_*`). A thread whose
//!   descriptor cannot be found (its stack was the program's) is judged by
//!   its outermost frames instead ([`TOP_WINDOW`] bytes at the top of its
//!   stack, for return addresses into the library). A thread that merely
//!   called into the library earlier is not mistaken for one of its own: a
//!   stack's deeper parts may hold stale return addresses, the start routine
//!   never lies. A thread that neither shows its registers nor answers the
//!   probe counts as a hazard (it may be spinning in the library);
//! - a **signal handler** it installed: `sigaction` of every signal, the
//!   handler or restorer inside the library's mappings;
//! - a **thread-local destructor** it registered: `pthread_key_create` keys
//!   whose destructor is in the library (std's `thread::current` makes one)
//!   run at every thread's exit — [`delete_keys`] deletes them, once nothing
//!   can run the library's code any more (glibc's key table, `__pthread_keys`,
//!   is read only when its layout, published for debuggers in the
//!   `_thread_db_*` descriptors, is the one this code knows); and
//!   `__cxa_thread_atexit_impl` destructors, which glibc itself counts
//!   against the library and keeps it mapped for until they ran: seen after
//!   `dlclose` as the mapping still being there ([`still_mapped`]), and
//!   collected later by [`collect`] once the threads that held them ended.
//!
//! Every read of another thread's memory goes through `/proc/self/mem`: the
//! kernel copies it, no Rust reference to memory another thread writes is
//! ever made.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// How much of the top of a thread's stack is read.
pub(crate) const TOP_WINDOW: u64 = 64 * 1024;

/// The address ranges one library file is mapped at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Image {
    all: Vec<(u64, u64)>,
    exec: Vec<(u64, u64)>,
}

impl Image {
    fn contains(&self, addr: u64) -> bool {
        self.all.iter().any(|&(s, e)| addr >= s && addr < e)
    }

    fn executes(&self, addr: u64) -> bool {
        self.exec.iter().any(|&(s, e)| addr >= s && addr < e)
    }

    /// Whether nothing of the file is mapped.
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// One line of `/proc/self/maps`.
struct Map {
    start: u64,
    end: u64,
    exec: bool,
    path: String,
}

fn maps() -> Vec<Map> {
    let Ok(text) = std::fs::read_to_string("/proc/self/maps") else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (range, perms) = (it.next()?, it.next()?);
            let path = it.nth(3).unwrap_or("").to_owned();
            let (a, b) = range.split_once('-')?;
            Some(Map {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                exec: perms.as_bytes().get(2) == Some(&b'x'),
                path,
            })
        })
        .collect()
}

/// Where the file `path` (a private copy) is mapped now.
pub(crate) fn image_of(path: &Path) -> Image {
    let want = path.to_string_lossy();
    let mut img = Image::default();
    for m in maps().into_iter().filter(|m| m.path == want) {
        img.all.push((m.start, m.end));
        if m.exec {
            img.exec.push((m.start, m.end));
        }
    }
    img
}

/// Whether any part of `path` is still mapped (glibc keeps a library whose
/// thread-local destructors are pending mapped after `dlclose`).
pub(crate) fn still_mapped(path: &Path) -> bool {
    !image_of(path).is_empty()
}

/// Why a library cannot be unmapped yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hazard {
    /// A thread runs its code (it started the thread, or the thread is in it).
    Thread { tid: i32 },
    /// A thread was on a CPU at every look: it may be in the library's code.
    Uninspected { tid: i32 },
    /// A signal's handler is in the library.
    Signal { signal: i32 },
}

/// The threads relive started itself (workers, the unloader, timers…):
/// they never run a library's code but through a `Version` they hold.
static OURS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Marks the calling thread as one of relive's until dropped.
#[derive(Debug)]
pub(crate) struct OurThread(i32);

impl OurThread {
    pub(crate) fn enter() -> Self {
        let tid = gettid();
        OURS.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_default().insert(tid);
        OurThread(tid)
    }
}

impl Drop for OurThread {
    fn drop(&mut self) {
        if let Some(set) = OURS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            set.remove(&self.0);
        }
    }
}

fn gettid() -> i32 {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Everything that could still run `img`'s code (see the module docs). The
/// calling thread, the process's main thread and relive's own threads are
/// not looked at.
pub(crate) fn hazards(img: &Image) -> Vec<Hazard> {
    let mut found = signals_in(img);
    if img.exec.is_empty() {
        return found;
    }
    let me = gettid();
    let pid = std::process::id() as i32;
    let ours: HashSet<i32> =
        OURS.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
    let Ok(mem) = File::open("/proc/self/mem") else {
        // Nothing proves the threads are clear: say so.
        found.push(Hazard::Uninspected { tid: 0 });
        return found;
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        found.push(Hazard::Uninspected { tid: 0 });
        return found;
    };
    let maps = maps();
    let mut looked: Vec<(i32, (u64, u64))> = Vec::new();
    let mut running = Vec::new();
    for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if tid == me || tid == pid || ours.contains(&tid) {
            continue;
        }
        match registers(tid) {
            None => {}
            Some(None) => running.push(tid),
            Some(Some(r)) => looked.push((tid, r)),
        }
    }
    if !running.is_empty() {
        for (tid, answer) in running.iter().zip(probe::registers(&running)) {
            match answer {
                Some(r) => looked.push((*tid, r)),
                None => found.push(Hazard::Uninspected { tid: *tid }),
            }
        }
    }
    let layout = thread_layout();
    for (tid, (sp, pc)) in looked {
        let started_in = match layout.as_ref().and_then(|l| start_routine(&mem, &maps, l, sp, tid))
        {
            Some(routine) => img.executes(routine),
            // Not a thread whose descriptor could be found (a stack the
            // program gave it): its outermost frames tell.
            None => top_of_stack_enters(&mem, &maps, sp, img),
        };
        if img.executes(pc) || started_in {
            found.push(Hazard::Thread { tid });
        }
    }
    found
}

/// Where glibc keeps a thread's descriptor (`struct pthread`) fields, as its
/// debugger descriptors publish them: the descriptor's size and the offsets
/// of `tid` and `start_routine`.
#[derive(Debug, Clone, Copy)]
struct ThreadLayout {
    size: u64,
    tid: u64,
    start_routine: u64,
}

fn thread_layout() -> Option<ThreadLayout> {
    static LAYOUT: std::sync::OnceLock<Option<ThreadLayout>> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(|| {
        let mem = File::open("/proc/self/mem").ok()?;
        let size = read_u32s::<1>(&mem, symbol(b"_thread_db_sizeof_pthread")?)?[0];
        let tid = read_u32s::<3>(&mem, symbol(b"_thread_db_pthread_tid")?)?;
        let start = read_u32s::<3>(&mem, symbol(b"_thread_db_pthread_start_routine")?)?;
        // `tid` is a 32-bit field, `start_routine` a pointer.
        (tid[0] == 32 && start[0] == 64).then_some(ThreadLayout {
            size: u64::from(size),
            tid: u64::from(tid[2]),
            start_routine: u64::from(start[2]),
        })
    })
}

/// The start routine of thread `tid`, read from its descriptor, which glibc
/// places at the top of the stack it allocated (found by checking its
/// self-pointer and its `tid`).
fn start_routine(mem: &File, maps: &[Map], l: &ThreadLayout, sp: u64, tid: i32) -> Option<u64> {
    let stack = maps.iter().find(|m| sp >= m.start && sp < m.end)?;
    let top = stack.end.checked_sub(l.size)?;
    // Aligned down to the static TLS alignment, which is at most a page.
    let mut align = 16u64;
    while align <= 4096 {
        let pd = top & !(align - 1);
        let word = |off: u64| -> Option<u64> {
            let mut b = [0u8; 8];
            (mem.read_at(&mut b, pd + off).ok()? == 8).then(|| u64::from_ne_bytes(b))
        };
        let mut t = [0u8; 4];
        let tid_matches =
            mem.read_at(&mut t, pd + l.tid).ok() == Some(4) && i32::from_ne_bytes(t) == tid;
        // The descriptor starts with the TCB header, whose first word and
        // third word (`self`) are the descriptor's own address.
        if tid_matches && word(0) == Some(pd) && word(16) == Some(pd) {
            return word(l.start_routine);
        }
        align *= 2;
    }
    None
}

/// The address of a symbol of the loaded program (its libc included).
fn symbol(name: &[u8]) -> Option<u64> {
    let this = libloading::os::unix::Library::this();
    // SAFETY: the symbol is only used as an address: nothing is called,
    // and the memory behind it is read through /proc/self/mem.
    let s = unsafe { this.get::<*const u8>(name) }.ok()?;
    let addr: *const u8 = *s;
    Some(addr as u64)
}

fn read_u32s<const N: usize>(mem: &File, at: u64) -> Option<[u32; N]> {
    let mut b = vec![0u8; N * 4];
    if mem.read_at(&mut b, at).ok()? != b.len() {
        return None;
    }
    let mut out = [0u32; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    }
    Some(out)
}

/// A thread's stack pointer and program counter from
/// `/proc/self/task/<tid>/syscall`, where a thread in a system call (or
/// stopped) shows them; `Some(None)` for a thread on a CPU (it shows
/// `running`: it is asked with a signal, [`probe`]); `None` when it is gone.
fn registers(tid: i32) -> Option<Option<(u64, u64)>> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    // `nr a1 … a6 sp pc` in a system call, `-1 sp pc` stopped outside one,
    // `running` on a CPU.
    if fields.len() < 3 || fields[0] == "running" {
        return Some(None);
    }
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    Some(Some((hex(fields[fields.len() - 2])?, hex(fields[fields.len() - 1])?)))
}

/// Asking running threads for their stack pointer and program counter: a
/// real-time signal whose handler, on an asked thread, records them from its
/// interrupted context and returns at once (nothing else happens to the
/// thread; `SA_RESTART` restarts what the signal interrupted). Every running
/// thread is asked at once and the answers awaited together.
///
/// The handler is installed once, on the highest real-time signal nobody
/// else handles (`SIG_DFL` when looked at), and stays: a signal delivered
/// late (the thread had it blocked) must find it. A thread that blocks the
/// signal does not answer, and counts as uninspected.
mod probe {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// How long asked threads have to answer, all together.
    const ANSWER_WAIT: Duration = Duration::from_millis(100);
    /// Threads asked at once at most (the rest count as uninspected).
    const SLOTS: usize = 64;

    /// One question: the thread asked, and its answer.
    struct Slot {
        tid: AtomicI32,
        sp: AtomicU64,
        pc: AtomicU64,
        answered: AtomicI32,
    }

    #[allow(clippy::declare_interior_mutable_const)] // each array element is its own slot
    const EMPTY: Slot = Slot {
        tid: AtomicI32::new(0),
        sp: AtomicU64::new(0),
        pc: AtomicU64::new(0),
        answered: AtomicI32::new(0),
    };
    static ASKED: [Slot; SLOTS] = [EMPTY; SLOTS];
    /// The signal in use (0: none could be had), chosen at first use.
    static SIGNAL: Mutex<Option<i32>> = Mutex::new(None);

    #[cfg(target_arch = "x86_64")]
    fn context(uc: &libc::ucontext_t) -> (u64, u64) {
        let r = &uc.uc_mcontext.gregs;
        (r[libc::REG_RSP as usize] as u64, r[libc::REG_RIP as usize] as u64)
    }

    #[cfg(target_arch = "aarch64")]
    fn context(uc: &libc::ucontext_t) -> (u64, u64) {
        (uc.uc_mcontext.sp, uc.uc_mcontext.pc)
    }

    /// Async-signal-safe: finds its slot and stores three atomics.
    extern "C" fn on_signal(_: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: `gettid` is async-signal-safe and cannot fail.
        let me = unsafe { libc::gettid() };
        if ctx.is_null() {
            return;
        }
        // ORDERING: Acquire pairs with the asker's Release store of `tid`.
        let Some(slot) = ASKED.iter().find(|s| s.tid.load(Ordering::Acquire) == me) else {
            return;
        };
        // SAFETY: with SA_SIGINFO the kernel passes the interrupted context
        // as a `ucontext_t`, valid for the handler's run; it is only read.
        let (sp, pc) = context(unsafe { &*ctx.cast::<libc::ucontext_t>() });
        // ORDERING: Relaxed stores, published by the Release store below.
        slot.sp.store(sp, Ordering::Relaxed);
        slot.pc.store(pc, Ordering::Relaxed);
        // ORDERING: Release pairs with the asker's Acquire load of `answered`.
        slot.answered.store(me, Ordering::Release);
    }

    fn signal() -> Option<i32> {
        let mut chosen = SIGNAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = *chosen {
            return (s != 0).then_some(s);
        }
        let mut found = 0;
        for sig in (libc::SIGRTMIN() + 4..=libc::SIGRTMAX()).rev() {
            // SAFETY: a zeroed `sigaction` is a valid buffer.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one into `old`.
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            // SAFETY: as above, for the action installed.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = on_signal as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            // SAFETY: `sa_mask` is a valid set to empty.
            unsafe { libc::sigemptyset(&mut new.sa_mask) };
            // SAFETY: `new` is a complete action whose handler is
            // async-signal-safe (atomic loads and stores); `old` takes the
            // previous one.
            if unsafe { libc::sigaction(sig, &new, &mut old) } == 0 {
                found = sig;
                break;
            }
        }
        *chosen = Some(found);
        (found != 0).then_some(found)
    }

    /// Ask every thread of `tids` for its registers; the answers, in the
    /// same order (`None`: no answer in time).
    pub(super) fn registers(tids: &[i32]) -> Vec<Option<(u64, u64)>> {
        // One round of questions at a time (the slots are shared).
        static ONE: Mutex<()> = Mutex::new(());
        let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
        let mut answers = vec![None; tids.len()];
        let Some(sig) = signal() else { return answers };
        let asked = &tids[..tids.len().min(SLOTS)];
        for (slot, &tid) in ASKED.iter().zip(asked) {
            // ORDERING: Relaxed reset before the Release publication of `tid`.
            slot.answered.store(0, Ordering::Relaxed);
            // ORDERING: Release pairs with the handler's Acquire load.
            slot.tid.store(tid, Ordering::Release);
        }
        // SAFETY: `getpid` cannot fail.
        let pid = unsafe { libc::getpid() };
        for &tid in asked {
            // SAFETY: plain system call; `tid` is a thread of this process (it
            // may have just ended: then ESRCH, and no answer).
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) };
        }
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let mut all = true;
            for (k, (slot, &tid)) in ASKED.iter().zip(asked).enumerate() {
                // ORDERING: Acquire pairs with the handler's Release store.
                if answers[k].is_none() && slot.answered.load(Ordering::Acquire) == tid {
                    // ORDERING: ordered after the Acquire above.
                    answers[k] =
                        Some((slot.sp.load(Ordering::Relaxed), slot.pc.load(Ordering::Relaxed)));
                }
                all &= answers[k].is_some();
            }
            if all || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        for slot in &ASKED[..asked.len()] {
            // ORDERING: a late signal must not answer a later round.
            slot.tid.store(0, Ordering::Release);
        }
        answers
    }
}

/// Whether the outermost frames of the stack holding `sp` return into `img`.
fn top_of_stack_enters(mem: &File, maps: &[Map], sp: u64, img: &Image) -> bool {
    let Some(stack) = maps.iter().find(|m| sp >= m.start && sp < m.end) else { return false };
    let from = sp.max(stack.end.saturating_sub(TOP_WINDOW)) & !7;
    let mut buf = vec![0u8; (stack.end - from) as usize];
    let Ok(n) = mem.read_at(&mut buf, from) else { return false };
    buf[..n].chunks_exact(8).any(|w| {
        let addr = u64::from_ne_bytes(w.try_into().expect("eight bytes"));
        img.executes(addr) && follows_a_call(mem, addr)
    })
}

/// Whether the bytes before `addr` end with a call instruction (x86-64:
/// `e8 rel32`, or `ff /2` with a 2- to 7-byte encoding; AArch64: `bl` or
/// `blr`). A word that passes is a return address, not just a pointer into
/// the code.
fn follows_a_call(mem: &File, addr: u64) -> bool {
    let mut b = [0u8; 8];
    if addr < 8 || mem.read_at(&mut b, addr - 8).ok() != Some(8) {
        return false;
    }
    if cfg!(target_arch = "aarch64") {
        let insn = u32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
        return insn >> 26 == 0b100101 || insn & 0xffff_fc1f == 0xd63f_0000;
    }
    b[3] == 0xe8 || (2..=7).any(|len| b[8 - len] == 0xff && (b[8 - len + 1] & 0x38) == 0x10)
}

/// Signals whose handler (or restorer) is in `img`.
fn signals_in(img: &Image) -> Vec<Hazard> {
    let max = libc::SIGRTMAX();
    (1..=max)
        .filter(|&signal| {
            // SAFETY: a zeroed `sigaction` is a valid output buffer.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one into `old`,
            // which is valid for one write; invalid signal numbers fail (EINVAL).
            let ok = unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } == 0;
            let handler = old.sa_sigaction as u64;
            let restorer = old.sa_restorer.map_or(0, |f| f as usize as u64);
            ok && (img.contains(handler) || img.contains(restorer))
        })
        .map(|signal| Hazard::Signal { signal })
        .collect()
}

/// glibc's key table as its debugger descriptors describe it: the address
/// of `__pthread_keys` and its number of entries, when the layout is the one
/// this code reads (16-byte entries, `seq` at 0, `destr` at 8).
fn key_table() -> Option<(u64, usize)> {
    let keys = symbol(b"__pthread_keys")?;
    let mem = File::open("/proc/self/mem").ok()?;
    let table = read_u32s::<3>(&mem, symbol(b"_thread_db___pthread_keys")?)?;
    let seq = read_u32s::<3>(&mem, symbol(b"_thread_db_pthread_key_struct_seq")?)?;
    let destr = read_u32s::<3>(&mem, symbol(b"_thread_db_pthread_key_struct_destr")?)?;
    let layout_known = table[0] == 128 && seq == [64, 1, 0] && destr == [64, 1, 8];
    layout_known.then_some((keys, table[1] as usize))
}

/// Delete every `pthread_key` whose destructor is in `img`, so that no
/// thread's exit can call into the library once it is unmapped. Call only
/// when nothing can run the library's code any more: a thread that still
/// holds a value for such a key simply never runs its destructor (the value
/// leaks). How many were deleted, or `None` if glibc's table could not be
/// read (the caller must then assume there may be some).
pub(crate) fn delete_keys(img: &Image) -> Option<usize> {
    let (table, count) = key_table()?;
    let mem = File::open("/proc/self/mem").ok()?;
    let mut raw = vec![0u8; count * 16];
    if mem.read_at(&mut raw, table).ok()? != raw.len() {
        return None;
    }
    let mut deleted = 0;
    for (key, entry) in raw.chunks_exact(16).enumerate() {
        let seq = u64::from_ne_bytes(entry[..8].try_into().expect("8 bytes"));
        let destr = u64::from_ne_bytes(entry[8..].try_into().expect("8 bytes"));
        // An odd sequence number marks a key in use.
        if seq % 2 == 1 && img.contains(destr) {
            // SAFETY: `key` is a key in use (odd sequence number); deleting it
            // only stops its destructor from ever running.
            if unsafe { libc::pthread_key_delete(key as libc::pthread_key_t) } == 0 {
                deleted += 1;
            }
        }
    }
    Some(deleted)
}

/// Ask glibc to unmap `path` if it is still loaded but nobody holds it (its
/// pending thread-local destructors have run since its `dlclose`): opening
/// it with `RTLD_NOLOAD` and closing it again makes `dlclose` collect it.
/// True if it is no longer mapped afterwards.
pub(crate) fn collect(path: &Path) -> bool {
    drop(super::dylib::find_loaded(path));
    !still_mapped(path)
}
