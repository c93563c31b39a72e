//! Sets the `without_real_tools` cfg when the person running the tests has
//! said that tests needing real tools may be left out
//! (`ROUTEC_WITHOUT_REAL_TOOLS=1`); those tests are then `#[ignore]`d and
//! listed as such, never counted as passed. See `tests/support/tools.rs`
//! at the workspace root; the same script as the tests package's.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(without_real_tools)");
    println!("cargo::rerun-if-env-changed=ROUTEC_WITHOUT_REAL_TOOLS");
    if std::env::var_os("ROUTEC_WITHOUT_REAL_TOOLS").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo::rustc-cfg=without_real_tools");
    }
}
