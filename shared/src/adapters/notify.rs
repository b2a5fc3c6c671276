//! `Notifier` adapters: SES email in AWS (when a sender identity is configured), the log otherwise.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::adapters::aws::LazyClient;
use crate::domain::Order;
use crate::ports::{Notifier, NotifyError};

/// The confirmation text, shared by every channel.
pub fn confirmation_text(order: &Order) -> (String, String) {
    let subject = format!("Your order {} is confirmed", order.order_id);
    let mut body = format!("Thank you! Your order {} is confirmed.\n\n", order.order_id);
    for line in &order.items {
        body.push_str(&format!(
            "{} x {}  {}.{:02} {}\n",
            line.quantity.get(),
            line.title,
            line.line_total.amount / 100,
            line.line_total.amount % 100,
            line.line_total.currency.code()
        ));
    }
    body.push_str(&format!(
        "\nTotal: {}.{:02} {}\n",
        order.total.amount / 100,
        order.total.amount % 100,
        order.total.currency.code()
    ));
    (subject, body)
}

/// Writes the confirmation to the log (local runs, and stacks without a verified sender).
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn order_confirmed(&self, order: &Order) -> Result<(), NotifyError> {
        let (subject, _) = confirmation_text(order);
        tracing::info!(order_id = %order.order_id, has_email = order.contact_email.is_some(), %subject, "confirmation");
        Ok(())
    }
}

pub struct SesNotifier {
    client: LazyClient<aws_sdk_sesv2::Client>,
    sender: String,
}

impl SesNotifier {
    pub fn new(client: impl Into<LazyClient<aws_sdk_sesv2::Client>>, sender: impl Into<String>) -> Self {
        Self { client: client.into(), sender: sender.into() }
    }
}

#[async_trait]
impl Notifier for SesNotifier {
    async fn order_confirmed(&self, order: &Order) -> Result<(), NotifyError> {
        let Some(to) = &order.contact_email else {
            // No address on the token: the shopper sees the confirmation in their order list only.
            return LogNotifier.order_confirmed(order).await;
        };
        let (subject, body) = confirmation_text(order);
        let text =
            |data: String| Content::builder().data(data).charset("UTF-8").build().map_err(|e| NotifyError(e.into()));
        let message =
            Message::builder().subject(text(subject)?).body(Body::builder().text(text(body)?).build()).build();
        self.client
            .get()
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| NotifyError(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string().into()))?;
        Ok(())
    }
}
