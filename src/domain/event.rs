//! What the gateway tells the platform's apps: the types of its own events, in its own words
//! (not Stripe's), one per change an app acts on.

use super::text_enum::text_enum;

text_enum! {
    /// What happened, in the gateway's words. `data` is the object as the gateway's read API
    /// serves it: a checkout session (`checkout.*`), a payment (`payment.*`), a refund, a
    /// dispute, a subscription, an invoice, the organizer's account state
    /// (`organizer.account_updated`), the organizer (`organizer.disconnected`), or a customer
    /// (`customer.deleted`: its ids only), or a webhook endpoint (`endpoint.disabled`).
    pub enum GatewayEventType {
        /// A Checkout Session was paid (or completed without payment): fulfil the order.
        CheckoutCompleted = "checkout.completed",
        /// A Checkout Session expired unpaid: release what it held.
        CheckoutExpired = "checkout.expired",
        PaymentSucceeded = "payment.succeeded",
        /// An attempt failed; the payment may still succeed with another attempt.
        PaymentFailed = "payment.failed",
        PaymentCanceled = "payment.canceled",
        /// A refund was created or changed status (`pending`, `succeeded`, `failed`,
        /// `canceled`).
        RefundUpdated = "refund.updated",
        /// A dispute was opened or changed: answer by its `evidence_due_by`.
        DisputeUpdated = "dispute.updated",
        SubscriptionCreated = "subscription.created",
        SubscriptionUpdated = "subscription.updated",
        SubscriptionCanceled = "subscription.canceled",
        InvoicePaid = "invoice.paid",
        /// An attempt to collect an invoice failed (Stripe counted one more attempt and the
        /// invoice is still open): ask the customer for another payment method; Stripe may
        /// retry on its schedule.
        InvoicePaymentFailed = "invoice.payment_failed",
        /// A customer's active features (Stripe Entitlements) changed: `data` is what the
        /// entitlements read serves, `object_id` the gateway's customer id.
        EntitlementsChanged = "entitlements.changed",
        /// What the organizer's Stripe account can do, or what Stripe needs of it, changed.
        OrganizerAccountUpdated = "organizer.account_updated",
        /// The organizer's account revoked the platform's access: `data` is the organizer,
        /// with `disconnected_at`. Its reads go on; its writes answer 409.
        OrganizerDisconnected = "organizer.disconnected",
        /// A customer's email, name, phone or metadata changed (through the gateway or in
        /// Stripe).
        CustomerUpdated = "customer.updated",
        /// A customer was deleted or erased, or its Stripe customer was deleted: `data` holds
        /// its ids only.
        CustomerDeleted = "customer.deleted",
        /// The gateway disabled one of the organizer's webhook endpoints after it failed for
        /// days: `data` is the endpoint. Nothing is delivered to it until it is enabled again.
        EndpointDisabled = "endpoint.disabled",
    }
}

text_enum! {
    /// Where a webhook delivery stands.
    pub enum DeliveryState {
        /// Waiting for its first attempt, or for a retry (`next_attempt_at`).
        Pending = "pending",
        /// The endpoint answered 2xx.
        Delivered = "delivered",
        /// Every attempt failed (about three days of retries); a replay sends it again.
        Failed = "failed",
    }
}

impl GatewayEventType {
    /// A comma-separated list of types, as a feed read filters by (`a,b`: no spaces, no empty
    /// entries); an error names the first entry that is no type.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        raw.split(',')
            .map(|name| {
                name.parse::<Self>()
                    .map_err(|_| format!("`{name}` is not a gateway event type"))
            })
            .collect()
    }
}
