//! The diagnostics: a misuse report fails the model (the models never misuse
//! the API, so a report means the code under test took a wrong branch);
//! reference tracing is compiled but never runs.

/// Fail the model. Declared as returning `()`, like the library's `report`,
/// so that the code after a report is not seen as unreachable.
#[cold]
pub fn report(func: &str, what: std::fmt::Arguments<'_>) {
    panic!("misuse reported by {func}: {what}");
}

macro_rules! misuse {
    ($func:expr, $($arg:tt)*) => {
        $crate::core::diag::report($func, format_args!($($arg)*))
    };
}

macro_rules! trace_ref {
    ($func:expr, $($arg:tt)*) => {
        if false {
            let _: &str = $func;
            let _ = format_args!($($arg)*);
        }
    };
}

pub(crate) use misuse;
pub(crate) use trace_ref;
