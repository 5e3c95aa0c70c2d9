//! Stage `repo`: see the crate documentation for where it sits in the pipeline.
