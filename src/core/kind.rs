//! The tag every library object starts with, so that a pointer of the wrong
//! kind (a stream passed where a session is expected) is refused instead of
//! being reinterpreted.

use std::sync::atomic::{AtomicU32, Ordering};

/// Object kinds. The discriminants are the tag values stored in memory: they
/// are chosen to be unlikely in arbitrary data.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BtObject = 0x7462_0001,
    CtfTrace = 0x7462_0002,
    CtfStreamClass = 0x7462_0003,
    CtfEventClass = 0x7462_0004,
    CtfIntegerType = 0x7462_0005,
    /// The last Babeltrace kind: [`Tag::is_bt`] tests the range up to it.
    CtfStructureType = 0x7462_0006,
    RelaySession = 0x7272_0001,
    RelayCtfTrace = 0x7272_0002,
    RelayStream = 0x7272_0003,
    RelayIndex = 0x7272_0004,
    RelayViewerStream = 0x7272_0005,
    RelayViewerSession = 0x7272_0006,
    RelayConnection = 0x7272_0007,
    RelayConnectionTable = 0x7272_0008,
    /// An object of a kind C code defines (`struct traceref_object`).
    CObject = 0x7272_0009,
    /// A table of such objects (`struct traceref_table`).
    CTable = 0x7272_000A,
    /// A mutex of C code (`struct traceref_mutex`), not counted.
    CMutex = 0x7272_000B,
}

/// Tag value written over an object when it is reclaimed, so that a later
/// use of a dangling pointer is reported where the memory is still readable.
pub(crate) const RECLAIMED: u32 = 0x7266_DEAD;

/// Bit set in the tag of an object placed in memory C code owns (embedded
/// in its struct) rather than allocated by the library: such an object's
/// memory is given back through the owner's free function instead of being
/// freed (see `relay::object`). Never set on Babeltrace kinds.
const CALLER: u32 = 0x0000_8000;

pub const ALL: [Kind; 17] = [
    Kind::BtObject,
    Kind::CtfTrace,
    Kind::CtfStreamClass,
    Kind::CtfEventClass,
    Kind::CtfIntegerType,
    Kind::CtfStructureType,
    Kind::RelaySession,
    Kind::RelayCtfTrace,
    Kind::RelayStream,
    Kind::RelayIndex,
    Kind::RelayViewerStream,
    Kind::RelayViewerSession,
    Kind::RelayConnection,
    Kind::RelayConnectionTable,
    Kind::CObject,
    Kind::CTable,
    Kind::CMutex,
];

impl Kind {
    /// Human name used in diagnostics.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::BtObject => "object",
            Kind::CtfTrace => "trace",
            Kind::CtfStreamClass => "stream class",
            Kind::CtfEventClass => "event class",
            Kind::CtfIntegerType => "integer field type",
            Kind::CtfStructureType => "structure field type",
            Kind::RelaySession => "session",
            Kind::RelayCtfTrace => "ctf-trace",
            Kind::RelayStream => "stream",
            Kind::RelayIndex => "index",
            Kind::RelayViewerStream => "viewer stream",
            Kind::RelayViewerSession => "viewer session",
            Kind::RelayConnection => "connection",
            Kind::RelayConnectionTable => "connection table",
            Kind::CObject => "C object",
            Kind::CTable => "object table",
            Kind::CMutex => "mutex",
        }
    }

    /// [`Kind::name`] as a NUL-terminated C string, for the static probes
    /// (their `kind` argument points at it: `str(arg1)` in bpftrace).
    pub const fn c_name(self) -> &'static std::ffi::CStr {
        match self {
            Kind::BtObject => c"object",
            Kind::CtfTrace => c"trace",
            Kind::CtfStreamClass => c"stream class",
            Kind::CtfEventClass => c"event class",
            Kind::CtfIntegerType => c"integer field type",
            Kind::CtfStructureType => c"structure field type",
            Kind::RelaySession => c"session",
            Kind::RelayCtfTrace => c"ctf-trace",
            Kind::RelayStream => c"stream",
            Kind::RelayIndex => c"index",
            Kind::RelayViewerStream => c"viewer stream",
            Kind::RelayViewerSession => c"viewer session",
            Kind::RelayConnection => c"connection",
            Kind::RelayConnectionTable => c"connection table",
            Kind::CObject => c"C object",
            Kind::CTable => c"object table",
            Kind::CMutex => c"mutex",
        }
    }

    pub fn from_tag(tag: u32) -> Option<Kind> {
        ALL.iter().copied().find(|k| *k as u32 == tag)
    }

    #[cfg(test)]
    fn all_indexes_distinct() -> bool {
        ALL.iter().enumerate().all(|(i, k)| k.index() == i)
    }

    /// Whether this kind belongs to the Babeltrace model.
    pub const fn is_bt(self) -> bool {
        matches!(
            self,
            Kind::BtObject
                | Kind::CtfTrace
                | Kind::CtfStreamClass
                | Kind::CtfEventClass
                | Kind::CtfIntegerType
                | Kind::CtfStructureType
        )
    }

    /// Index into per-kind tables.
    #[inline]
    pub fn index(self) -> usize {
        // The low half of each tag numbers the kinds of its model from 1.
        let n = (self as u32 & 0xFFFF) as usize - 1;
        if self.is_bt() {
            n
        } else {
            (Kind::CtfStructureType as u32 & 0xFFFF) as usize + n
        }
    }
}

/// The first word of every library object.
#[repr(transparent)]
#[derive(Debug)]
pub struct Tag(AtomicU32);

/// What a tag check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagCheck {
    Ok(Kind),
    /// A library object of another kind.
    Wrong(Kind),
    /// An object already reclaimed (detectable only while its memory is).
    Reclaimed,
    /// Not a library object at all.
    Unknown(u32),
}

impl Tag {
    pub const fn new(kind: Kind) -> Self {
        Tag(AtomicU32::new(kind as u32))
    }

    /// The tag of an object in memory C code owns (see [`CALLER`]).
    pub const fn new_in_caller_memory(kind: Kind) -> Self {
        Tag(AtomicU32::new(kind as u32 | CALLER))
    }

    /// Whether the object lives in memory C code owns.
    #[inline]
    pub fn in_caller_memory(&self) -> bool {
        let v = self.0.load(Ordering::Relaxed);
        v != RECLAIMED && v & CALLER != 0
    }

    /// Whether the tag is one of the Babeltrace model's kinds (the hot path
    /// of `bt_get`/`bt_put`: one load, two comparisons).
    #[inline]
    pub fn is_bt(&self) -> bool {
        let v = self.0.load(Ordering::Relaxed);
        (Kind::BtObject as u32..=Kind::CtfStructureType as u32).contains(&v)
    }

    #[inline]
    pub fn read(&self) -> TagCheck {
        let v = self.0.load(Ordering::Relaxed);
        if v == RECLAIMED {
            return TagCheck::Reclaimed;
        }
        match Kind::from_tag(v & !CALLER) {
            Some(k) if v & CALLER == 0 || !k.is_bt() => TagCheck::Ok(k),
            _ => TagCheck::Unknown(v),
        }
    }

    /// Check against the expected kind.
    #[inline]
    pub fn check(&self, want: Kind) -> TagCheck {
        let v = self.0.load(Ordering::Relaxed);
        // The library's memory or the caller's: same kind.
        if v & !CALLER == want as u32 {
            return TagCheck::Ok(want);
        }
        match self.read() {
            TagCheck::Ok(k) => TagCheck::Wrong(k),
            other => other,
        }
    }

    pub fn mark_reclaimed(&self) {
        self.0.store(RECLAIMED, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    /// An object in caller memory checks as its kind, and says so.
    #[test]
    fn caller_memory_is_the_same_kind() {
        use super::{Kind, Tag, TagCheck};
        for k in super::ALL.into_iter().filter(|k| !k.is_bt()) {
            let t = Tag::new_in_caller_memory(k);
            assert_eq!(t.check(k), TagCheck::Ok(k));
            assert_eq!(t.read(), TagCheck::Ok(k));
            assert!(t.in_caller_memory());
            assert!(!Tag::new(k).in_caller_memory());
            t.mark_reclaimed();
            assert_eq!(t.check(k), TagCheck::Reclaimed);
            assert!(!t.in_caller_memory());
        }
        assert_eq!(
            Tag::new_in_caller_memory(Kind::BtObject).read(),
            TagCheck::Unknown(Kind::BtObject as u32 | super::CALLER)
        );
    }

    /// The C names the probes pass are the diagnostics' names.
    #[test]
    fn c_name_is_name() {
        for k in super::ALL {
            assert_eq!(k.c_name().to_str(), Ok(k.name()), "{k:?}");
        }
    }

    #[test]
    fn index_is_position_in_all() {
        assert!(super::Kind::all_indexes_distinct());
    }

    /// The one range test of `Tag::is_bt` agrees with `Kind::is_bt`.
    #[test]
    fn tag_range_is_the_babeltrace_kinds() {
        for k in super::ALL {
            assert_eq!(super::Tag::new(k).is_bt(), k.is_bt(), "{k:?}");
        }
    }
}
