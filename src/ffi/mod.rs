//! The C boundary: panic containment and pointer conversion. Every exported
//! function lives in this folder and goes through [`ffi_guard!`], so no panic
//! unwinds into C and every argument check is written at the function itself.

// The exported functions take raw pointers from C by design and cannot be
// `unsafe` to call from C's point of view; each documents what the caller
// must guarantee, and checks what it can (NULL, tag). Argument macros
// return `()` from functions that return nothing.
#![allow(clippy::not_unsafe_ptr_arg_deref, clippy::unused_unit)]

pub mod bt;
pub mod dot;
pub mod inline;
pub mod mutex;
pub mod object;
pub mod relay;
pub mod table;
pub mod track;

#[cfg(test)]
mod misuse_tests;

/// Write all of `bytes` to the caller's descriptor `fd`: 0, or -1 (reported
/// for `func`) when writing fails; part may have been written.
fn write_fd(func: &str, fd: libc::c_int, mut bytes: &[u8]) -> libc::c_int {
    while !bytes.is_empty() {
        // SAFETY: writing a valid buffer to a caller-given descriptor.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            crate::core::diag::misuse!(
                func,
                "cannot write to fd {}: {}",
                fd,
                std::io::Error::last_os_error()
            );
            return -1;
        }
        bytes = &bytes[n as usize..];
    }
    0
}

/// Run `body`, turning a panic into `$default` after one diagnostic line.
///
/// Used by every exported function: `ffi_guard!("name", default, { body })`.
macro_rules! ffi_guard {
    ($func:expr, $default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => {
                $crate::core::diag::misuse!($func, "internal error (panic contained)");
                $default
            }
        }
    }};
}
pub(crate) use ffi_guard;

/// Return `$default` from the enclosing function when `$ptr` is NULL,
/// reporting the argument by name when `$report` is true.
macro_rules! null_check {
    ($func:expr, $ptr:expr, $default:expr) => {
        if $ptr.is_null() {
            $crate::core::diag::misuse!($func, "{} is NULL", stringify!($ptr));
            return $default;
        }
    };
}
pub(crate) use null_check;

/// The function of a C function-pointer argument (an `Option`), or, for
/// NULL, return `$default` from the enclosing function after reporting the
/// argument by name.
macro_rules! fn_arg {
    ($func:expr, $f:ident, $default:expr) => {
        match $f {
            Some(f) => f,
            None => {
                $crate::core::diag::misuse!($func, "{} is NULL", stringify!($f));
                return $default;
            }
        }
    };
}
pub(crate) use fn_arg;
