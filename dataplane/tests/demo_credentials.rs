//! Demo mode's credentials: an unset JWT key variable gets the public demo
//! secret, the minted tokens carry the table's issuer, audience and roles,
//! and a variable that is set is never touched. One test per process: it
//! sets environment variables.

mod common;

use dataplane::demo_credentials::{prepare, DEMO_SECRET};

#[test]
fn demo_mode_fills_an_unset_key_and_mints_tokens_for_the_tables_policy() {
    let (_dir, table) = common::table_dir(&common::spec_from_model(&common::platform_model(), 1));
    std::env::remove_var("JWT_SECRET");
    let credentials = prepare(&table).expect("demo credentials");
    assert_eq!(credentials.variables_set, vec!["JWT_SECRET".to_string()]);
    assert_eq!(std::env::var("JWT_SECRET").unwrap(), DEMO_SECRET);

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&["dating-auth"]);
    validation.set_audience(&["dating-api"]);
    let key = jsonwebtoken::DecodingKey::from_secret(DEMO_SECRET.as_bytes());
    let roles = |who: &str| -> Vec<String> {
        let token = &credentials
            .tokens
            .iter()
            .find(|t| t.who == who)
            .unwrap()
            .token;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .unwrap()
            .claims;
        serde_json::from_value(claims["roles"].clone()).unwrap()
    };
    assert_eq!(roles("user"), vec!["user"]);
    assert_eq!(
        roles("admin"),
        vec!["user", "admin"],
        "the admin token holds the roles /v1/admin/ requires"
    );

    // A second call finds the variable set and leaves it alone.
    std::env::set_var("JWT_SECRET", "operator-chosen");
    let again = prepare(&table).unwrap();
    assert!(again.variables_set.is_empty() && again.tokens.is_empty());
    assert_eq!(std::env::var("JWT_SECRET").unwrap(), "operator-chosen");
}
