//! Diagnostics: one line on stderr per misuse, and optional tracing of every
//! reference operation.
//!
//! `TRACEREF_LOG` selects the level: `off`, `warn` (the default: misuse only)
//! or `debug` (every reference operation as well).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

const UNSET: u8 = 0;
pub(crate) const OFF: u8 = 1;
pub(crate) const WARN: u8 = 2;
pub(crate) const DEBUG: u8 = 3;

static LEVEL: AtomicU8 = AtomicU8::new(UNSET);

/// The level `TRACEREF_LOG` asks for now, without settling it.
pub fn level_in_environment() -> u8 {
    match std::env::var("TRACEREF_LOG").as_deref() {
        Ok("off") | Ok("none") | Ok("0") => OFF,
        Ok("debug") | Ok("trace") => DEBUG,
        _ => WARN,
    }
}

#[cold]
fn init_level() -> u8 {
    let lvl = level_in_environment();
    LEVEL.store(lvl, Ordering::Relaxed);
    lvl
}

#[inline]
pub fn level() -> u8 {
    match LEVEL.load(Ordering::Relaxed) {
        UNSET => init_level(),
        l => l,
    }
}

/// Whether reference operations are being traced.
#[inline]
pub fn debug_enabled() -> bool {
    level() >= DEBUG
}

#[cfg(test)]
thread_local! {
    /// Lines emitted by this thread while a unit test captures them.
    static CAPTURED: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with this thread's diagnostics captured instead of printed (at
/// least at the warning level); returns the lines.
#[cfg(test)]
pub(crate) fn capture(f: impl FnOnce()) -> Vec<String> {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    CAPTURED.with(|c| c.borrow_mut().take().unwrap_or_default())
}

#[cfg(test)]
fn capturing() -> bool {
    CAPTURED.with(|c| c.borrow().is_some())
}

#[cfg(not(test))]
#[inline(always)]
fn capturing() -> bool {
    false
}

fn emit(prefix: &str, func: &str, what: std::fmt::Arguments<'_>) {
    #[cfg(test)]
    {
        let line = format!("traceref: {prefix}: {func}: {what}");
        let kept = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
            Some(v) => {
                v.push(line);
                true
            }
            None => false,
        });
        if kept {
            return;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "traceref: {prefix}: {func}: {what}");
}

/// Report a misuse: `func` is the exported function, `what` says which object
/// and what went wrong.
#[cold]
pub fn report(func: &str, what: std::fmt::Arguments<'_>) {
    super::probes::misuse(func, &what);
    if level() >= WARN || capturing() {
        emit("warning", func, what);
    }
}

/// Trace one reference operation.
#[cold]
pub fn debug(func: &str, what: std::fmt::Arguments<'_>) {
    if level() >= DEBUG {
        emit("debug", func, what);
    }
}

/// Run `f` out of line: diagnostics are kept off the hot paths (the
/// formatting set-up would otherwise be hoisted into them).
#[cold]
#[inline(never)]
pub fn out_of_line<F: FnOnce()>(f: F) {
    f()
}

/// Report a misuse with `format!`-style arguments.
macro_rules! misuse {
    ($func:expr, $($arg:tt)*) => {
        $crate::core::diag::out_of_line(|| {
            $crate::core::diag::report($func, format_args!($($arg)*))
        })
    };
}

/// Trace a reference operation when `TRACEREF_LOG=debug`.
macro_rules! trace_ref {
    ($func:expr, $($arg:tt)*) => {
        // The watchers' flag first: one load while nothing watches.
        if $crate::core::hooks::watched() && $crate::core::diag::debug_enabled() {
            $crate::core::diag::out_of_line(|| {
                $crate::core::diag::debug($func, format_args!($($arg)*))
            })
        }
    };
}

pub(crate) use misuse;
pub(crate) use trace_ref;
