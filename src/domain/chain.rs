//! Errors as one line, for logs and reports.

/// An error with its causes, `outer: inner: innermost`, for logs and reports (top-level messages
/// like reqwest's "error sending request" hide the cause).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
