use super::*;

fn serve_args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["stripe-gateway", "serve"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Serve(args) => *args,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn a_missing_stripe_key_names_the_variable() {
    // Flags only: the process environment of a test run must not leak in.
    let mut args = serve_args(&["--jwt-secret", "s", "--audit-hash-key", "k"]);
    args.stripe.stripe_secret_key = None;
    let err = Settings::from_args(args).unwrap_err().to_string();
    assert!(err.starts_with("STRIPE_SECRET_KEY is not set"), "{err}");
}

/// A first start names every missing setting at once, not one per run.
#[test]
fn every_missing_setting_is_named_in_one_error() {
    let mut args = serve_args(&[]);
    args.auth.jwt_secret = None;
    args.auth.jwt_public_key_file = None;
    args.stripe.stripe_secret_key = None;
    args.audit.audit_hash_key = None;
    args.stripe.stripe_rate_limit = Some(0);
    let err = Settings::from_args(args).unwrap_err().to_string();
    assert!(err.starts_with("4 settings must be fixed"), "{err}");
    for named in [
        "JWT_SECRET",
        "STRIPE_SECRET_KEY",
        "AUDIT_HASH_KEY",
        "STRIPE_RATE_LIMIT",
    ] {
        assert!(err.contains(named), "{named} in {err}");
    }
}

/// The documentation's `sk_test_...` and a bare prefix are placeholders; a key is taken.
#[test]
fn a_placeholder_stripe_key_is_refused() {
    for placeholder in [
        "sk_test_...",
        "sk_test_",
        "sk_live_",
        "rk_test_",
        "sk_test_…",
    ] {
        let mut args = serve_args(&["--jwt-secret", "s", "--audit-hash-key", "k"]);
        args.stripe.stripe_secret_key = Some(SecretString::from(placeholder));
        let err = Settings::from_args(args).unwrap_err().to_string();
        assert!(err.contains("placeholder"), "{placeholder}: {err}");
    }
    let mut args = serve_args(&["--jwt-secret", "s", "--audit-hash-key", "k"]);
    args.stripe.stripe_secret_key = Some(SecretString::from("sk_test_local"));
    assert!(Settings::from_args(args).is_ok());
}

#[test]
fn secrets_never_show_in_debug_output() {
    let args = serve_args(&[
        "--stripe-secret-key",
        "sk_test_supersecret",
        "--jwt-secret",
        "jwt-supersecret",
        "--audit-hash-key",
        "audit-supersecret",
    ]);
    let settings = Settings::from_args(args).unwrap();
    let debug = format!("{settings:?}");
    assert!(!debug.contains("supersecret"), "{debug}");
}

/// Retentions are refused at start, naming the setting, when out of range: the inbox's under
/// Stripe's 30 days (instead of being raised in silence), either one past a century (a purge
/// subtracting it from the clock would run past the calendar).
#[test]
fn a_retention_out_of_its_range_is_refused() {
    for (flag, days) in [
        ("--webhook-events-retention-days", "0"),
        ("--webhook-events-retention-days", "29"),
        ("--webhook-events-retention-days", "36501"),
        ("--events-retention-days", "0"),
        ("--events-retention-days", "4294967295"),
    ] {
        let argv = ["stripe-gateway", "serve", flag, days];
        let err = Cli::try_parse_from(argv).unwrap_err().to_string();
        assert!(err.contains(flag), "{flag} {days}: {err}");
        assert!(err.contains("..=36500"), "{flag} {days}: {err}");
    }
    let args = serve_args(&[
        "--webhook-events-retention-days",
        "30",
        "--events-retention-days",
        "36500",
    ]);
    assert_eq!(args.webhooks.events_retention(), chrono::Duration::days(30));
    assert_eq!(
        args.server.events_retention(),
        chrono::Duration::days(36_500)
    );
}
