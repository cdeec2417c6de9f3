//! Reference tracking (`TRACEREF_TRACK=1`): for every object, the call sites
//! that created it and that took and dropped its references, so that a leak
//! or an over-put names the code responsible.
//!
//! A call site is the return address into the code that called the
//! library: unwinding from inside the library (with the `backtrace` crate),
//! the first frame that is not the library's own. A frame is the library's
//! when its address lies in the library's shared object; when the library
//! is linked into the program itself, when its function is one of the
//! library's or of the Rust runtime's (by name). Each address is judged
//! once per thread. Addresses are kept raw on the hot path and symbolized
//! (function, file:line where debug information exists) only when a report
//! is printed.
//!
//! Off, every hook is one relaxed load and a branch, and nothing else is
//! done on any call. On, each get and put unwinds a few frames and takes a
//! lock of one of [`SHARDS`] shards.

use super::census::Describe;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

static STATE: AtomicU8 = AtomicU8::new(0);

/// Whether tracking is on (`TRACEREF_TRACK=1`), read once.
#[inline(always)]
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => read_environment(),
    }
}

#[cold]
#[inline(never)]
fn read_environment() -> bool {
    let on = std::env::var("TRACEREF_TRACK").is_ok_and(|v| v == "1");
    STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
    on
}

/// Where the library's code is.
enum Home {
    /// A shared object of its own, loaded at this base address.
    SharedObject(usize),
    /// The program's executable (a static link): told apart by name.
    Program,
}

fn home() -> &'static Home {
    static HOME: OnceLock<Home> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = module_base(home as fn() -> &'static Home as usize);
        // SAFETY: `getauxval` reads the process's auxiliary vector.
        let program_headers = unsafe { libc::getauxval(libc::AT_PHDR) } as usize;
        match base {
            Some(b) if module_base(program_headers) != Some(b) => Home::SharedObject(b),
            _ => Home::Program,
        }
    })
}

/// The base address of the loaded object that contains `addr`.
fn module_base(addr: usize) -> Option<usize> {
    let mut info: libc::Dl_info = empty_dl_info();
    // SAFETY: `dladdr` fills `info` for any address; a zero return means
    // no object contains it.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } != 0;
    (found && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

fn empty_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    }
}

/// Whether the instruction at `ip` is the library's own code (or the Rust
/// runtime's, in a static link).
fn is_library(ip: usize) -> bool {
    match home() {
        Home::SharedObject(base) => module_base(ip) == Some(*base),
        Home::Program => {
            let mut ours = false;
            backtrace::resolve(ip.saturating_sub(1) as *mut std::ffi::c_void, |sym| {
                if let Some(n) = sym.name() {
                    let n = n.to_string();
                    ours |= ["traceref::", "std::", "core::", "alloc::", "backtrace::"]
                        .iter()
                        .any(|p| n.starts_with(p))
                        || n.starts_with("__rust");
                }
            });
            ours
        }
    }
}

thread_local! {
    /// What [`is_library`] said of each address seen by this thread.
    static JUDGED: RefCell<HashMap<usize, bool>> = RefCell::new(HashMap::new());
    /// Whether this thread is the library's own (its reclaim thread).
    static OWN_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as the library's own: what it does has no
/// call site in the program.
pub fn own_thread() {
    let _ = OWN_THREAD.try_with(|t| t.set(true));
}

/// The call site of the library function running on this thread: the
/// return address in the first frame that is not the library's. 0 when
/// the library runs on its own (its reclaim thread, an exit handler).
#[inline(never)]
fn caller_site() -> usize {
    if OWN_THREAD.try_with(|t| t.get()).unwrap_or(false) {
        return 0;
    }
    let mut site = 0;
    let _ = JUDGED.try_with(|judged| {
        let mut judged = judged.borrow_mut();
        backtrace::trace(|frame| {
            let ip = frame.ip() as usize;
            let ours = *judged.entry(ip).or_insert_with(|| is_library(ip));
            if !ours {
                site = ip;
                return false;
            }
            true
        });
    });
    site
}

/// Gets and puts made from one call site.
#[derive(Default, Clone, Copy)]
struct Tally {
    gets: u32,
    puts: u32,
}

struct Record {
    describe: Describe,
    created: usize,
    sites: BTreeMap<usize, Tally>,
}

const SHARDS: usize = 32;
type Shard = Mutex<BTreeMap<usize, Record>>;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Shard = Mutex::new(BTreeMap::new());
static RECORDS: [Shard; SHARDS] = [EMPTY; SHARDS];

fn shard(obj: usize) -> &'static Shard {
    &RECORDS[(obj >> 6) % SHARDS]
}

/// An object came to life (called by the census).
pub fn born(obj: *const (), describe: Describe) {
    let created = caller_site();
    shard(obj as usize).lock().insert(
        obj as usize,
        Record {
            describe,
            created,
            sites: BTreeMap::new(),
        },
    );
}

/// An object was reclaimed (called by the census).
pub fn gone(obj: *const ()) {
    shard(obj as usize).lock().remove(&(obj as usize));
}

/// A reference was taken on `obj` (`get`) or dropped (`!get`).
#[cold]
pub fn moved(obj: *const (), get: bool) {
    let site = caller_site();
    if let Some(r) = shard(obj as usize).lock().get_mut(&(obj as usize)) {
        let t = r.sites.entry(site).or_default();
        if get {
            t.gets += 1;
        } else {
            t.puts += 1;
        }
    }
}

/// A call site symbolized: its function (the address when nothing is
/// known of it) and its `file:line` where debug information exists.
fn symbolize(site: usize) -> (String, Option<String>) {
    if site == 0 {
        return ("the library's own thread".to_string(), None);
    }
    let mut name = None;
    let mut place = None;
    // The return address is the instruction after the call: look up the
    // call itself.
    backtrace::resolve((site - 1) as *mut std::ffi::c_void, |sym| {
        if name.is_none() {
            name = sym.name().map(|n| n.to_string());
            place = match (sym.filename(), sym.lineno()) {
                (Some(f), Some(l)) => Some(format!(
                    "{}:{}",
                    f.file_name().map_or(f.as_os_str(), |n| n).to_string_lossy(),
                    l
                )),
                _ => None,
            };
        }
    });
    (name.unwrap_or_else(|| format!("{site:#x}")), place)
}

/// `function (file:line)`.
fn site_text(site: usize) -> String {
    match symbolize(site) {
        (f, Some(p)) => format!("{f} ({p})"),
        (f, None) => f,
    }
}

/// The sites of a record grouped by function, unbalanced functions first
/// (the largest excess of gets or puts first), as `+gets -puts at function
/// (file:line, ...)` items.
fn sites(r: &Record) -> Vec<String> {
    let mut by_fn: BTreeMap<String, (Tally, Vec<String>)> = BTreeMap::new();
    for (&site, t) in &r.sites {
        let (f, place) = symbolize(site);
        let e = by_fn.entry(f).or_default();
        e.0.gets += t.gets;
        e.0.puts += t.puts;
        if let Some(p) = place {
            if !e.1.contains(&p) {
                e.1.push(p);
            }
        }
    }
    let mut v: Vec<(String, (Tally, Vec<String>))> = by_fn.into_iter().collect();
    v.sort_by_key(|(f, (t, _))| {
        let excess = t.gets as i64 - t.puts as i64;
        (excess == 0, std::cmp::Reverse(excess.abs()), f.clone())
    });
    v.into_iter()
        .map(|(f, (t, places))| {
            if places.is_empty() {
                format!("+{} -{} at {}", t.gets, t.puts, f)
            } else {
                format!("+{} -{} at {} ({})", t.gets, t.puts, f, places.join(", "))
            }
        })
        .collect()
}

/// The report of one tracked object: `kind description: created at ...;
/// +2 -0 at f (file.c:12); ...`. None when it is not tracked.
///
/// # Safety
/// `obj` is alive, or not tracked (the description reads it).
pub unsafe fn report(obj: *const ()) -> Option<String> {
    let (describe, created, sites) = {
        let g = shard(obj as usize).lock();
        let r = g.get(&(obj as usize))?;
        (r.describe, r.created, sites(r))
    };
    // SAFETY: per the contract, a tracked object is alive.
    let what = unsafe { describe(obj) };
    let mut line = format!("{}: created at {}", what, site_text(created));
    for s in sites {
        line.push_str("; ");
        line.push_str(&s);
    }
    Some(line)
}

/// What to add to an over-put's report: the site of the extra put and the
/// sites that took references (empty when tracking is off).
pub fn over_put(obj: *const ()) -> String {
    if !enabled() {
        return String::new();
    }
    let extra = site_text(caller_site());
    let g = shard(obj as usize).lock();
    match g.get(&(obj as usize)) {
        Some(r) => format!(
            " (extra put at {}; created at {}; {})",
            extra,
            site_text(r.created),
            sites(r).join("; ")
        ),
        None => format!(" (extra put at {extra})"),
    }
}

/// The call sites of `obj` for the leak report, or an empty string.
pub fn leak_sites(obj: *const ()) -> String {
    let g = shard(obj as usize).lock();
    match g.get(&(obj as usize)) {
        Some(r) => {
            let mut s = format!(": created at {}", site_text(r.created));
            for item in sites(r) {
                s.push_str("; ");
                s.push_str(&item);
            }
            s
        }
        None => String::new(),
    }
}
