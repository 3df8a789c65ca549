//! Studies: experiments of other shapes than IMP rounds (two trained copies and the path
//! between them, a ticket moved to another task, ...). One file per study, each with its
//! config, its record and a bounded-work state machine the page advances per frame and the
//! CLI runs to the end.

pub mod lmc;
pub mod rewind;

pub use lmc::{LmcConfig, LmcError, LmcPath, LmcProgress, LmcRecord, LmcStudy, Subject};
pub use rewind::{RewindConfig, RewindPoint, RewindProgress, RewindRecord, RewindSweep};
