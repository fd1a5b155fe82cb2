//! Property-based fuzzing of the shell-record parser, which reads whatever
//! the shell wrote to the FIFO. Thousands of cases run with the normal tests;
//! raise PROPTEST_CASES for a longer hunt.

use lcd_hook::pipe::Parser;
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(20_000))]

    #[test]
    fn the_shell_record_parser_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(0x1e), Just(b'='), any::<u8>()], 0..64), 0..16)) {
        let mut parser = Parser::new();
        for chunk in chunks {
            let _ = parser.feed(&chunk);
        }
    }
}
