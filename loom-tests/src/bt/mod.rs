//! The library's Babeltrace object, unchanged.

#[path = "../../../src/bt/object.rs"]
pub mod object;
