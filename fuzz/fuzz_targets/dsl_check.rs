//! Fuzz target: any input to the compiler front end (parse, lower, check,
//! model, fmt, explain) must produce diagnostics or a model, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let diagnostics = routec::diagnose(source, "fuzz.dsl");
    let _ = diagnostics.render(false);
    if let Ok(compiled) = routec::compile(source, "fuzz.dsl") {
        let _ = routec::emit::emit_all(&compiled.model);
        let _ = routec::explain::explain(&compiled.model, None, "GET", "/v1/x/../y");
    }
    if let Ok(formatted) = routec::fmt::format(source) {
        // Formatting is idempotent on everything it accepts.
        assert_eq!(routec::fmt::format(&formatted).ok().as_deref(), Some(formatted.as_str()));
    }
});
