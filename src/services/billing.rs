//! Reads of the billing mirror (products, prices, subscriptions), served from rows only: the
//! webhook workers keep them equal to Stripe.

use std::collections::HashMap;

use super::customers::{active_of, with_active_customer, ActiveCustomer, CustomerError};
use super::payments::PaymentError;
use super::{organizers, AppState};

use crate::domain::Principal;
use crate::domain::{CustomerId, ObjectCursor, OrganizerId, PageLimit};
use crate::mirror::checkout_session::CheckoutSession;
pub use crate::mirror::checkout_session::CheckoutSessionResponse;
use crate::mirror::dispute::Dispute;
pub use crate::mirror::dispute::DisputeResponse;
pub use crate::mirror::entitlements::EntitlementResponse;
use crate::mirror::invoice::Invoice;
pub use crate::mirror::invoice::InvoiceResponse;
use crate::mirror::invoice_payment::InvoicePayment;
use crate::mirror::payment_intent::PaymentIntent;
pub use crate::mirror::payment_intent::{PaymentFilter, PaymentResponse};
use crate::mirror::price::Price;
use crate::mirror::product::Product;
pub use crate::mirror::product::ProductResponse;
use crate::mirror::subscription::Subscription;
pub use crate::mirror::subscription::SubscriptionResponse;

/// The organizer's active products that have at least one active price, by name.
pub async fn products(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
) -> Result<Vec<ProductResponse>, CustomerError> {
    let platform = state.stripe.platform_account().cloned();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        // The catalog its checkouts sell from: that of the account it charges on.
        let account = organizer.charge_account(platform.as_ref());
        let products = Product::list_active_by_account(conn, account)?;
        let mut by_product: HashMap<String, Vec<Price>> = HashMap::new();
        for price in Price::list_active_by_account(conn, account)? {
            by_product
                .entry(price.product_id.clone())
                .or_default()
                .push(price);
        }
        Ok(products
            .into_iter()
            .filter_map(|product| {
                let prices = by_product.remove(&product.id)?;
                Some(ProductResponse::new(product, prices))
            })
            .collect())
    })
    .await
}

/// The subscriptions of the organizer's customer `customer_id`, in any status.
pub async fn subscriptions(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<Vec<SubscriptionResponse>, CustomerError> {
    with_active_customer(
        state,
        principal,
        org_id,
        customer_id,
        |conn, account, customer| {
            let stripe_id = &customer.stripe_customer_id;
            let rows = Subscription::list_by_account_and_customer(conn, account, stripe_id)?;
            Ok(rows.into_iter().map(Into::into).collect())
        },
    )
    .await
}

/// A page of the invoices of the organizer's customer `customer_id`, newest first; `cursor`
/// continues after the last invoice of a page.
pub async fn invoices(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
    cursor: Option<ObjectCursor>,
    limit: PageLimit,
) -> Result<(Vec<InvoiceResponse>, Option<ObjectCursor>), CustomerError> {
    let rows = with_active_customer(
        state,
        principal,
        org_id,
        customer_id,
        move |conn, account, customer| {
            let invoices = Invoice::list_by_account_and_customer(
                conn,
                account,
                &customer.stripe_customer_id,
                cursor.as_ref().map(ObjectCursor::key),
                i64::try_from(limit.fetch_size()).unwrap_or(i64::MAX),
            )?;
            let ids: Vec<&str> = invoices.iter().map(|invoice| invoice.id.as_str()).collect();
            let mut payments: HashMap<String, Vec<InvoicePayment>> = HashMap::new();
            for payment in InvoicePayment::of_invoices(conn, account, &ids)? {
                payments
                    .entry(payment.invoice_id.clone())
                    .or_default()
                    .push(payment);
            }
            Ok(invoices
                .into_iter()
                .map(|invoice| {
                    let its = payments.remove(&invoice.id).unwrap_or_default();
                    (invoice, its)
                })
                .collect::<Vec<_>>())
        },
    )
    .await?;
    let (rows, next) = limit.split_as(rows, |(invoice, _)| &invoice.id, ObjectCursor::after);
    let invoices = rows
        .into_iter()
        .map(|(invoice, payments)| InvoiceResponse::new(invoice, payments));
    Ok((invoices.collect(), next))
}

/// Which of an organizer's payments to list: those of one customer (the gateway's id), in one
/// status, created in a range.
#[derive(Default)]
pub struct PaymentQuery {
    pub customer: Option<CustomerId>,
    pub filter: PaymentFilter,
}

/// A page of the organizer's payments, newest first, from the mirror; `cursor` continues after
/// the last payment of a page. A customer the organizer does not have is `NotFound`.
pub async fn payments(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    query: PaymentQuery,
    cursor: Option<ObjectCursor>,
    limit: PageLimit,
) -> Result<(Vec<PaymentResponse>, Option<ObjectCursor>), CustomerError> {
    let fetch = i64::try_from(limit.fetch_size()).unwrap_or(i64::MAX);
    let platform = state.stripe.platform_account().cloned();
    let (rows, next) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let account = organizer.charge_account(platform.as_ref());
            let mut filter = query.filter;
            if let Some(customer) = query.customer {
                let customer =
                    active_of(conn, &organizer, platform.as_ref(), &customer.to_string())?;
                filter.stripe_customer_id = Some(customer.stripe_customer_id);
            }
            let after = cursor.as_ref().map(ObjectCursor::key);
            let destination = organizer.destination();
            let rows = PaymentIntent::list(conn, account, destination, &filter, after, fetch)?;
            // The page first: the row that only tells whether another page follows needs no links.
            let (rows, next) = limit.split_as(rows, |payment| &payment.id, ObjectCursor::after);
            Ok::<_, CustomerError>((PaymentIntent::with_links(conn, account, rows)?, next))
        })
        .await?;
    let payments = rows
        .into_iter()
        .map(|(row, links)| PaymentResponse::new(row, links));
    Ok((payments.collect(), next))
}

/// A page of the organizer's disputes (in `status`, when given), newest first, from the
/// mirror; `cursor` continues after the last dispute of a page.
pub async fn disputes(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    status: Option<String>,
    cursor: Option<ObjectCursor>,
    limit: PageLimit,
) -> Result<(Vec<DisputeResponse>, Option<ObjectCursor>), CustomerError> {
    let fetch = i64::try_from(limit.fetch_size()).unwrap_or(i64::MAX);
    let platform = state.stripe.platform_account().cloned();
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        let after = cursor.as_ref().map(ObjectCursor::key);
        let account = organizer.charge_account(platform.as_ref());
        let destination = organizer.destination();
        let rows = Dispute::list(conn, account, destination, status.as_deref(), after, fetch)?;
        Ok::<_, CustomerError>(rows)
    })
    .await?;
    let (rows, next) = limit.split_as(rows, |dispute| &dispute.id, ObjectCursor::after);
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

/// The organizer's payment `id` (a PaymentIntent), as the mirror has it.
pub async fn payment(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
) -> Result<PaymentResponse, PaymentError> {
    let platform = state.stripe.platform_account().cloned();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        let account = organizer.charge_account(platform.as_ref());
        let found = PaymentIntent::find_for(conn, account, organizer.destination(), &id)?;
        let (row, links) = PaymentIntent::with_links(conn, account, found.into_iter().collect())?
            .pop()
            .ok_or(PaymentError::PaymentNotFound(id))?;
        Ok(PaymentResponse::new(row, links))
    })
    .await
}

/// The organizer, the customer, its features and its subscriptions that grant access (`active`
/// or `trialing`) come in one statement, grouped with concurrent entitlements reads.
pub async fn entitlements(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<EntitlementResponse, CustomerError> {
    let access = state.reads.access(principal, org_id, customer_id).await?;
    let not_found = || CustomerError::NotFound(customer_id.to_string());
    let access = access.ok_or_else(not_found)?;
    ActiveCustomer::of_found(Some(access.customer))?.ok_or_else(not_found)?;
    Ok(EntitlementResponse::new(
        access.entitlements,
        access.subscriptions,
    ))
}

/// The organizer's checkout session `id`, as the mirror has it; `None` when it has none.
pub async fn checkout_session(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
) -> Result<Option<CheckoutSessionResponse>, CustomerError> {
    let platform = state.stripe.platform_account().cloned();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        let account = organizer.charge_account(platform.as_ref());
        let found = CheckoutSession::find(conn, account, &id)?;
        Ok(found.filter(|s| s.is_of(&organizer)).map(Into::into))
    })
    .await
}
