//! Times each compiler phase and emitter on one file (for profiling the
//! scaling benchmark): `cargo run --release --example phase_times -- FILE`.
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: phase_times FILE");
    let source = std::fs::read_to_string(&path).unwrap();
    let t = Instant::now();
    let compiled = routec::compile(&source, &path).unwrap_or_else(|d| panic!("{}", d.summary()));
    eprintln!("compile (parse+check+model): {:?}", t.elapsed());
    let m = &compiled.model;
    let renderer = routec::emit::render::Renderer::new().unwrap();
    let t = Instant::now();
    let _ = routec::emit::table::emit(m, None).unwrap();
    eprintln!("routes.bin: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = routec::emit::traefik::emit(m, &renderer).unwrap();
    eprintln!("traefik: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = routec::emit::compose::emit(m, &renderer).unwrap();
    eprintln!("compose: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = routec::emit::prometheus::emit(m, &renderer).unwrap();
    eprintln!("prometheus: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = serde_json::to_string_pretty(m).unwrap();
    eprintln!("model.json: {:?}", t.elapsed());
}
