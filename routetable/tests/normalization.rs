//! Path normalization: tricky paths against the Dating Platform's table,
//! each with the normalized path and the route it must reach (or the error),
//! plus properties of the normalizer over random paths.

mod common;

use std::borrow::Cow;

use proptest::prelude::*;
use routetable::*;

/// What a raw path must become.
enum Want {
    /// Normalizes to this path, which reaches this route (or none).
    Route(&'static str, Option<&'static str>),
    Refused(PathError),
}
use Want::*;

#[test]
fn tricky_paths_reach_the_route_their_meaning_reaches() {
    let bytes = encode(&common::dating_platform());
    let view = Table::from_bytes(&bytes).unwrap();
    let cases: &[(&str, Want)] = &[
        ("/v1/auth/../admin/x", Route("/v1/admin/x", Some("admin"))),
        ("/v1/auth/%2e%2e/admin", Route("/v1/admin", Some("admin"))),
        ("/v1/auth/%2E%2E/admin", Route("/v1/admin", Some("admin"))),
        ("/v1/auth/.%2e/admin", Route("/v1/admin", Some("admin"))),
        ("/v1/auth/%2e./admin/", Route("/v1/admin/", Some("admin"))),
        ("//v1//admin", Route("/v1/admin", Some("admin"))),
        ("/v1/admin%2Fx", Route("/v1/admin%2Fx", None)),
        ("/v1/admin%2fx", Route("/v1/admin%2Fx", None)),
        (
            "/v1/auth/..%2Fadmin/x",
            Route("/v1/auth/..%2Fadmin/x", None),
        ),
        ("/v1/chat/ws%2F", Route("/v1/chat/ws%2F", Some("chat"))),
        ("/V1/ADMIN", Route("/V1/ADMIN", None)),
        ("/v1/Admin/x", Route("/v1/Admin/x", None)),
        (
            "/v1/auth/%2e%2e/./admin//users/./",
            Route("/v1/admin/users/", Some("admin")),
        ),
        (
            "/v1/admin/%2e%2e/auth/login",
            Route("/v1/auth/login", Some("auth")),
        ),
        ("/../../v1/admin", Route("/v1/admin", Some("admin"))),
        ("/v1/%61dmin/x", Route("/v1/admin/x", Some("admin"))),
        ("/v1/chat/%77s", Route("/v1/chat/ws", Some("chat-ws"))),
        ("/v1/chat/ws/.", Route("/v1/chat/ws/", Some("chat"))),
        ("/v1/chat/ws/..", Route("/v1/chat/", Some("chat"))),
        ("/v1/chat/x/../ws", Route("/v1/chat/ws", Some("chat-ws"))),
        (
            "/v1/profiles/%7euser",
            Route("/v1/profiles/~user", Some("profile")),
        ),
        (
            "/v1/profiles/%C3%A9",
            Route("/v1/profiles/%C3%A9", Some("profile")),
        ),
        (
            "/v1/profiles/%c3%a9",
            Route("/v1/profiles/%C3%A9", Some("profile")),
        ),
        (
            "/v1/profiles/%2525",
            Route("/v1/profiles/%2525", Some("profile")),
        ),
        (
            "/v1/profiles/a.b/..c/...",
            Route("/v1/profiles/a.b/..c/...", Some("profile")),
        ),
        ("/v1/chatter", Route("/v1/chatter", None)),
        (
            "/v1/auth/..;/admin",
            Refused(PathError::ForbiddenByte { at: 11, byte: b';' }),
        ),
        (
            "/v1/auth/%2e%2e%3B/admin",
            Refused(PathError::ForbiddenEscape { at: 15, byte: b';' }),
        ),
        (
            "/v1/auth/%2e%2e%5Cadmin",
            Refused(PathError::ForbiddenEscape {
                at: 15,
                byte: b'\\',
            }),
        ),
        (
            "/v1/auth\\..\\admin",
            Refused(PathError::ForbiddenByte { at: 8, byte: b'\\' }),
        ),
        (
            "/v1/auth/%00",
            Refused(PathError::ForbiddenEscape { at: 9, byte: 0 }),
        ),
        (
            "/v1/auth/%0d%0aX:1",
            Refused(PathError::ForbiddenEscape { at: 9, byte: b'\r' }),
        ),
        (
            "/v1/auth/%23x",
            Refused(PathError::ForbiddenEscape { at: 9, byte: b'#' }),
        ),
        (
            "/v1/auth/%3Fx",
            Refused(PathError::ForbiddenEscape { at: 9, byte: b'?' }),
        ),
        ("/v1/auth/%zz", Refused(PathError::BadEscape { at: 9 })),
        ("/v1/auth/%2", Refused(PathError::BadEscape { at: 9 })),
        (
            "/v1/auth/é",
            Refused(PathError::ForbiddenByte { at: 9, byte: 0xc3 }),
        ),
        (
            "/v1/auth/a b",
            Refused(PathError::ForbiddenByte { at: 10, byte: b' ' }),
        ),
        ("v1/admin", Refused(PathError::NotAbsolute)),
        ("", Refused(PathError::NotAbsolute)),
    ];
    for (raw, want) in cases {
        match (normalize_path(raw), want) {
            (Ok(path), Route(normal, route)) => {
                assert_eq!(path, *normal, "{raw:?} normalizes");
                let got = view
                    .lookup("dating.serge.cc", "GET", &path)
                    .map(|m| m.route.name());
                assert_eq!(got, *route, "{raw:?} -> {path:?} routes");
            }
            (Err(err), Refused(expected)) => assert_eq!(err, *expected, "{raw:?}"),
            (got, _) => panic!("{raw:?}: unexpected {got:?}"),
        }
    }
}

#[test]
fn normal_paths_are_borrowed() {
    for raw in ["/", "/v1/chat/ws", "/v1/chat/", "/a.b/..c/%2F/%C3%A9/~x"] {
        assert!(
            matches!(normalize_path(raw), Ok(Cow::Borrowed(p)) if p == raw),
            "{raw}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn normalization_is_idempotent_and_leaves_no_dot_segments(
        raw in prop::collection::vec(prop::sample::select(vec!["/", ".", "..", "a", "%2e", "%2E", "%2F", "%2f", "%41", "%7E", "b%"]), 0..12)
    ) {
        let raw = format!("/{}", raw.concat());
        let Ok(once) = normalize_path(&raw) else {
            // Only a dangling '%' (from "b%") is refused here.
            prop_assert!(raw.contains("b%"));
            return Ok(());
        };
        let twice = normalize_path(&once).unwrap();
        prop_assert!(matches!(twice, Cow::Borrowed(_)), "normal output is borrowed on the second pass");
        prop_assert_eq!(&*twice, &*once);
        prop_assert_eq!(matches!(normalize_path(&raw).unwrap(), Cow::Borrowed(_)), *once == raw);
        prop_assert!(once.starts_with('/'));
        prop_assert!(!once.contains("//"), "{}", once);
        for segment in once.split('/') {
            prop_assert!(segment != "." && segment != "..", "{}", once);
            prop_assert!(!segment.contains("%2e") && !segment.contains("%2E") && !segment.contains("%2f"), "{}", once);
        }
    }
}
