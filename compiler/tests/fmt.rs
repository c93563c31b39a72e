//! `routec fmt` is idempotent and preserves meaning, over `routes.dsl` and
//! every `.dsl` fixture in the repository.

use std::path::{Path, PathBuf};

fn dsl_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("routes.dsl")];
    for dir in ["compiler/tests/fixtures", "tests/fixtures"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "dsl")),
            );
        }
    }
    files.sort();
    files
}

#[test]
fn fmt_is_idempotent_and_keeps_the_model() {
    let files = dsl_files();
    assert!(files.len() >= 2, "found {files:?}");
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let once =
            routec::fmt::format(&source).unwrap_or_else(|d| panic!("{}: {d:?}", file.display()));
        let twice = routec::fmt::format(&once).unwrap();
        assert_eq!(once, twice, "{}: fmt is not idempotent", file.display());
        // Meaning: same model (the source hash aside, which covers layout).
        let name = file.display().to_string();
        match (
            routec::compile(&source, &name),
            routec::compile(&once, &name),
        ) {
            (Ok(a), Ok(b)) => {
                let (mut a, mut b) = (a.model, b.model);
                a.source.sha256.clear();
                b.source.sha256.clear();
                assert_eq!(a, b, "{}: fmt changed the model", file.display());
            }
            (Err(a), Err(b)) => assert_eq!(a.items.len(), b.items.len(), "{}", file.display()),
            _ => panic!("{}: fmt changed whether the file compiles", file.display()),
        }
        // Comments survive.
        let comments = |s: &str| {
            s.lines()
                .filter(|l| l.trim_start().starts_with('#') || l.contains("  #"))
                .count()
        };
        assert_eq!(
            comments(&source),
            comments(&once),
            "{}: comments lost",
            file.display()
        );
    }
}

#[test]
fn routes_dsl_is_formatted() {
    let source = include_str!("../../routes.dsl");
    assert_eq!(
        routec::fmt::format(source).unwrap(),
        source,
        "run `routec fmt`"
    );
}

#[test]
fn fmt_normalises_layout() {
    let messy = "\n\n# c\nplatform   p {   # t\n\n\n      domain    \"a.example\"\n  network n\n  subnet 10.0.0.0/8\n  trusted_proxies [ 10.0.0.0/8 ,\n 192.168.0.0/16 ]\n\n}\n\n\n\nchain c [a,b]";
    let expected = "# c\nplatform p {  # t\n  domain \"a.example\"\n  network n\n  subnet 10.0.0.0/8\n  trusted_proxies [10.0.0.0/8, 192.168.0.0/16]\n}\n\nchain c [a, b]\n";
    assert_eq!(routec::fmt::format(messy).unwrap(), expected);
}

#[test]
fn long_lists_break_one_item_per_line() {
    let source = format!(
        "chain everything [{}]\n",
        (0..30)
            .map(|i| format!("middleware-{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let formatted = routec::fmt::format(&source).unwrap();
    assert!(
        formatted.starts_with("chain everything [\n  middleware-0,\n"),
        "{formatted}"
    );
    assert!(formatted.lines().all(|l| l.len() <= routec::fmt::MAX_WIDTH));
    assert_eq!(routec::fmt::format(&formatted).unwrap(), formatted);
}
