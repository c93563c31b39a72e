//! A new user's first mistakes, met through the real binary: an override
//! naming no service of the table is refused at start with the table's
//! service names and a did-you-mean, instead of starting and answering
//! every request with a 502. Owns nothing about overrides that name real
//! services (the balancing and fault tests use those).

use std::path::Path;
use std::process::Command;

#[test]
fn an_upstream_override_naming_a_host_instead_of_a_service_is_refused() {
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("../generated/routes.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .arg("--table")
        .arg(&table)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        // The host name of the compose file, where the table says `auth`.
        .args(["--upstream", "auth-service=127.0.0.1:9"])
        .env("NO_COLOR", "1")
        // The table's jwt step needs its key to load at all.
        .env("JWT_SECRET", "a-test-secret-of-enough-length-for-hs256")
        .output()
        .expect("run the dataplane binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started anyway:\n{stderr}");
    assert!(
        stderr.contains("`auth-service`, which is no service of the route table"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `auth`?"), "{stderr}");
    assert!(
        stderr.contains("profile"),
        "lists the table's services: {stderr}"
    );
}
