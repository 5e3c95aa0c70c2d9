//! Stage `fetch`: see the crate documentation for where it sits in the pipeline.
