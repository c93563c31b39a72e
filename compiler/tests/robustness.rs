//! Arbitrary input never panics the compiler (parse, lower, check, model,
//! fmt): random strings, and random edits of the real routes file, which
//! reach far deeper into the checks than random bytes do.

use proptest::prelude::*;

const SEED: &str = include_str!("../../routes.dsl");

fn exercise(source: &str) {
    let _ = routec::diagnose(source, "fuzz.dsl").render(false);
    if let Ok(compiled) = routec::compile(source, "fuzz.dsl") {
        let _ = routec::explain::explain(&compiled.model, None, "GET", "/v1/auth/../admin/x");
    }
    let _ = routec::fmt::format(source);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(source in "\\PC{0,400}") {
        exercise(&source);
    }

    #[test]
    fn dsl_shaped_strings_never_panic(source in "([a-z_]{1,8}( [a-z0-9\"/:.%\\[\\],*-]{0,12}){0,3}( \\{)?\n|\\}\n|#[^\n]{0,10}\n){0,30}") {
        exercise(&source);
    }

    #[test]
    fn edits_of_the_seed_never_panic(at in 0usize..SEED.len(), len in 0usize..40, insert in "[ -~\n]{0,12}") {
        let start = floor_char(SEED, at);
        let end = floor_char(SEED, (start + len).min(SEED.len()));
        let mutated = format!("{}{}{}", &SEED[..start], insert, &SEED[end..]);
        exercise(&mutated);
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
