//! Runs a plan's build steps on the host, and alone decides which of them can be skipped.
//!
//! A step declares its inputs, outputs and whether it may be reused ([`crate::plan::BuildStep`]);
//! [`key`] turns the step and the current contents of its inputs into a reuse key, [`record`]
//! keeps the key of each reusable step's last successful run, and [`run`] prepares outputs, runs
//! or skips each step and returns what it did, so a report (or provenance) can list what ran.

pub mod host;
pub mod key;
mod parallel;
pub mod record;
mod run;

pub use key::{KeyError, fill_keys, fill_target_keys, reuse_key};
pub use run::{BuildError, Built, RunError, RunOptions, StepEvent, StepRun, run};
