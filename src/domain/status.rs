//! Where the gateway's records stand: the vocabularies its tables store and its API serves.

use serde::{Deserialize, Serialize};

use super::text_enum::text_enum;

text_enum! {
    /// Where an inbox event stands.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EventStatus {
        /// Waiting for a worker (first attempt, or a retry after `next_attempt_at`).
        Pending = "pending",
        /// Settled by a fetch from Stripe (its own, or one for a later event about the object).
        Processed = "processed",
        /// Failed every attempt; replay it once the cause is fixed.
        Dead = "dead",
        /// A type the gateway does not mirror: stored and acknowledged only.
        Ignored = "ignored",
        /// For an account no organizer has: stored, not processed.
        UnknownAccount = "unknown_account",
    }
}

text_enum! {
    /// Where a reconciliation run stands.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RunStatus {
        /// Accepted; waiting for the account's lease.
        Queued = "queued",
        Running = "running",
        /// Every kind was listed to the end and compared (and repaired, unless a dry run).
        Succeeded = "succeeded",
        /// Stopped by an error (Stripe failing after retries, a database failure): see `error`.
        /// The next run resumes the listing where this one stopped.
        Failed = "failed",
        /// Its instance stopped while it ran; a later run of the account took over.
        Interrupted = "interrupted",
        /// Another run of the account was in progress; nothing was done.
        Skipped = "skipped",
    }
}

text_enum! {
    /// What started a run.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RunTrigger {
        Api = "api",
        Cli = "cli",
        Schedule = "schedule",
        Registration = "registration",
    }
}

text_enum! {
    /// Whether an audited action took effect.
    pub enum Outcome {
        Succeeded = "succeeded",
        /// An attempt that reached Stripe and failed there.
        Failed = "failed",
    }
}

text_enum! {
    /// Where an erasure request stands.
    pub enum ErasureStatus {
        /// Some account failed; the same request again resumes it.
        Partial = "partial",
        /// Every account is done.
        Completed = "completed",
    }
}

text_enum! {
    /// What an erasure did in one account.
    pub enum ErasureOutcome {
        Erased = "erased",
        Failed = "failed",
    }
}

super::text_enum! {
    /// Stripe's PaymentIntent statuses.
    pub enum PaymentStatus {
        RequiresPaymentMethod = "requires_payment_method",
        RequiresConfirmation = "requires_confirmation",
        RequiresAction = "requires_action",
        Processing = "processing",
        RequiresCapture = "requires_capture",
        Canceled = "canceled",
        Succeeded = "succeeded",
    }
}

super::text_enum! {
    /// Stripe's dispute statuses.
    pub enum DisputeStatus {
        WarningNeedsResponse = "warning_needs_response",
        WarningUnderReview = "warning_under_review",
        WarningClosed = "warning_closed",
        NeedsResponse = "needs_response",
        UnderReview = "under_review",
        Won = "won",
        Lost = "lost",
    }
}
