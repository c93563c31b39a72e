//! Sets `cfg(without_real_tools)` when `ROUTEC_WITHOUT_REAL_TOOLS=1`, so the
//! tests that need a real tool (Traefik, Compose, ...) are ignored on a
//! machine without them instead of failing.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(without_real_tools)");
    println!("cargo::rerun-if-env-changed=ROUTEC_WITHOUT_REAL_TOOLS");
    if std::env::var("ROUTEC_WITHOUT_REAL_TOOLS").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=without_real_tools");
    }
}
