//! Fuzz targets for what the `lcd` binary parses from outside: history files
//! (`lcd import`) and command lines (the redactor). Under `cargo test` each
//! target runs random inputs for one second (bolero's default;
//! `BOLERO_RANDOM_TEST_TIME_MS` or `BOLERO_RANDOM_ITERATIONS` for a longer
//! hunt); `cargo bolero test` runs the same targets under libFuzzer or AFL
//! (docs/FUZZING.md).

mod history;
mod redact;
