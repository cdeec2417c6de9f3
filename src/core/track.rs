//! Reference tracking (`TRACEREF_TRACK=1`): for every object, the call sites
//! that created it and that took and dropped its references, so that a leak
//! or an over-put names the code responsible.
//!
//! A call site is the return address into the application's code that
//! called the library, found by unwinding from inside the library up to the
//! first frame above the exported function the application called (each
//! exported function marks its frame on entry, see [`Entry`]). Addresses are
//! kept raw on the hot path and symbolized (function, file:line where debug
//! information exists) only when a report is printed, by the `backtrace`
//! crate.
//!
//! Off, every hook is one relaxed load and a branch. On, each get and put
//! unwinds a few frames and takes a lock of one of [`SHARDS`] shards.

use super::census::Describe;
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether tracking is on (`TRACEREF_TRACK=1`), read once.
#[inline(always)]
pub fn enabled() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var("TRACEREF_TRACK").is_ok_and(|v| v == "1");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

thread_local! {
    /// The stack pointer of the exported function this thread is in, the
    /// innermost (0: none).
    static ENTRY: Cell<usize> = const { Cell::new(0) };
}

/// Marks the frame of an exported function while it runs (restoring the
/// mark of an enclosing call: a release function calling the library).
pub struct Entry(usize);

impl Entry {
    /// Called first thing in an exported function: marks its frame.
    #[inline(always)]
    pub fn enter() -> Option<Entry> {
        if !enabled() {
            return None;
        }
        let marker = stack_pointer();
        ENTRY.try_with(|e| Entry(e.replace(marker))).ok()
    }
}

/// The stack pointer of the calling frame (this is inlined into it): the
/// bottom of that frame. Read from the register where possible, since a
/// local's address may be elsewhere (AddressSanitizer's fake stacks).
#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register into a local; no memory is touched.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: reads a register into a local; no memory is touched.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        std::ptr::addr_of!(marker) as usize
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let _ = ENTRY.try_with(|e| e.set(self.0));
    }
}

/// The application's call site of the exported function running on this
/// thread: the return address in the first frame above it. 0 when the
/// library runs on its own (its reclaim thread, an exit handler).
#[inline(never)]
fn caller_site() -> usize {
    let marker = ENTRY.try_with(|e| e.get()).unwrap_or(0);
    if marker == 0 {
        return 0;
    }
    let mut site = 0;
    backtrace::trace(|frame| {
        // A frame's stack pointer (as the unwinder reports it: its value in
        // that frame, at the call it made) is the bottom of its frame. Every
        // frame of the library lies at or below the marker (the exported
        // function's own stack pointer); the first frame above it is the
        // caller's, and its instruction pointer is the return address of the
        // call.
        if frame.sp() as usize > marker {
            site = frame.ip() as usize;
            return false;
        }
        true
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
