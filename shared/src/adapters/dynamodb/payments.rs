//! `PaymentStore` on DynamoDB: provider events seen (expiring), each artisan's payout account, and the payouts
//! ledger in the artisan's partition. An owed payout is in GSI1's due list (`OPEN#payout#<shard>`); one waiting
//! for an account in its artisan's waiting list (`AWAIT#<artisan>`), until connecting an account writes, with the
//! account, a marker in the due lists (`OPEN#payouts_for#<shard>`) that names the artisan until none waits; one
//! parked for an operator in `PARKED#payout#<shard>`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::paging::Listing;
use super::write::{CONDITION_FAILED, Outcome, TRANSACTION_CONFLICT, update};
use super::{DynamoStore, store_error};
use crate::adapters::retention::EVENT_MEMORY;
use crate::domain::{OrderId, Payout, PayoutAccount, PayoutStatus, ProviderRef, UserId};
use crate::ports::{Page, PageRequest, ParkError, PaymentStore, StoreError, TransitionError};

/// The condition that a payout is still the one read: the same version (a payout written before versions were kept
/// has none, and is read as version 0).
fn same_version(read: u64) -> &'static str {
    if read == 0 { "(attribute_not_exists(version) OR version = :version)" } else { "version = :version" }
}

impl DynamoStore {
    /// Payouts a release before the waiting lists left in no list: waiting for an account, their index keys were
    /// removed, and connecting one never brought them back. Each is written again with its keys (into the due
    /// list: the reconciler pays it, or puts it in its artisan's waiting list). A scan of the table, run once by
    /// an operator after the upgrade (`storefront-admin reindex-payouts`; docs/operations.md); answers how many it
    /// wrote back. (Postgres has none: it finds accrued payouts by their status.)
    pub async fn reindex_stranded_payouts(&self) -> Result<usize, StoreError> {
        let mut start = None;
        let mut reindexed = 0;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#entity = :payout AND #status = :accrued AND attribute_not_exists(#open_pk)")
                .expression_attribute_names("#entity", "entity")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#open_pk", SHARDED_INDEX_PK)
                .expression_attribute_values(":payout", s("payout"))
                .expression_attribute_values(":accrued", s(PayoutStatus::Accrued.as_str()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for payout in readable(output.items(), payout_from_item) {
                match self.save_payout(&payout, &payout).await {
                    Ok(()) => reindexed += 1,
                    // Changed since the scan read it: that write gave it its keys.
                    Err(TransitionError::Stale) => {}
                    Err(TransitionError::Store(error)) => return Err(error),
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(reindexed),
            }
        }
    }
}

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn event_seen(&self, event_id: &ProviderRef) -> Result<bool, StoreError> {
        Ok(self.read(event_key(event_id.as_str())).await?.is_some())
    }

    async fn remember_event(&self, event_id: &ProviderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut item = event_key(event_id.as_str());
        item.insert("entity".into(), s("payment_event"));
        item.insert("received_at".into(), timestamp(now));
        item.insert(TTL.into(), n((now + EVENT_MEMORY).unix_timestamp()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn payout_account(&self, artisan: &UserId) -> Result<Option<PayoutAccount>, StoreError> {
        self.read(payout_account_key(artisan)).await?.as_ref().map(payout_account_from_item).transpose()
    }

    /// The account and the artisan's marker in the due lists, in one transaction: from this write on, the
    /// reconciler finds every payout that waited for an account, whatever the payment queue holds.
    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError> {
        let mut marker = payouts_for_key(artisan);
        marker.insert("entity".into(), s("payouts_for"));
        marker.insert("artisan_id".into(), s(artisan.as_str()));
        marker.insert(SHARDED_INDEX_PK.into(), s(open_shard_key(PAYOUTS_FOR_KIND, shard_of(artisan.as_str()))));
        marker.insert(SHARDED_INDEX_SK.into(), s(open_sort_key(account.connected_at, artisan.as_str())));
        let put = |item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(StoreError::unexpected)
        };
        let items = vec![put(payout_account_item(artisan, account))?, put(marker)?];
        match self.transact(items, account.connected_at).await? {
            Outcome::Written => Ok(()),
            outcome if outcome.any(TRANSACTION_CONFLICT) => {
                Err(StoreError::Unavailable("the account was being written by another call".into()))
            }
            Outcome::Cancelled(codes) => Err(StoreError::Conflict(codes.join(","))),
        }
    }

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError> {
        self.read(payout_key(artisan, order)).await?.as_ref().map(payout_from_item).transpose()
    }

    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError> {
        let listing = Listing {
            pk: &artisan_pk(artisan),
            prefix: PAYOUT_PREFIX,
            status: status.map(PayoutStatus::as_str),
            read: payout_from_item,
            cursor: |payout| payout.order_id.to_string(),
        };
        self.partition_page(listing, page).await
    }

    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(payout_item(next)))
            .condition_expression(same_version(current.version))
            .expression_attribute_values(":version", n(current.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(TransitionError::Stale)
            }
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn await_account(&self, payout: &Payout) -> Result<(), ParkError> {
        let no_account = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(payout_account_key(&payout.artisan_id)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::unexpected)?;
        let waiting = update(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(payout_key(&payout.artisan_id, &payout.order_id)))
                .update_expression("SET #open_pk = :waiting, #open_sk = :since")
                .condition_expression(format!("#status = :accrued AND {}", same_version(payout.version)))
                .expression_attribute_names("#open_pk", SHARDED_INDEX_PK)
                .expression_attribute_names("#open_sk", SHARDED_INDEX_SK)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":waiting", s(awaiting_account_key(&payout.artisan_id)))
                .expression_attribute_values(":since", s(open_sort_key(payout.created_at, payout.order_id.as_str())))
                .expression_attribute_values(":accrued", s(PayoutStatus::Accrued.as_str()))
                .expression_attribute_values(":version", n(payout.version)),
        )?;
        let items = vec![TransactWriteItem::builder().condition_check(no_account).build(), waiting];
        match self.transact(items, payout.updated_at).await? {
            Outcome::Written => Ok(()),
            outcome if outcome.failed(0) => Err(ParkError::AccountConnected),
            // Changed meanwhile (transferred, held): nothing to wait for.
            outcome if outcome.failed(1) => Ok(()),
            outcome if outcome.any(TRANSACTION_CONFLICT) || outcome.any(CONDITION_FAILED) => {
                Err(StoreError::Conflict("payout changed while parking".into()).into())
            }
            Outcome::Cancelled(codes) => Err(StoreError::Conflict(codes.join(",")).into()),
        }
    }

    async fn payouts_due(&self, before: OffsetDateTime, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        let found = self.sharded_page(|shard| open_shard_key(PAYOUT_KIND, shard), Some(before), page).await?;
        Ok(Page { items: readable(&found.items, payout_from_item), next: found.next })
    }

    async fn artisans_to_pay(&self, page: &PageRequest) -> Result<Page<UserId>, StoreError> {
        let found = self.sharded_page(|shard| open_shard_key(PAYOUTS_FOR_KIND, shard), None, page).await?;
        let artisans = readable(&found.items, |item| {
            UserId::parse(get_s(item, "artisan_id")?).ok_or_else(|| StoreError::unexpected("artisan_id"))
        });
        Ok(Page { items: artisans, next: found.next })
    }

    /// When none waits any more, the artisan's marker goes: they leave [`PaymentStore::artisans_to_pay`].
    async fn payouts_awaiting_account(&self, artisan: &UserId, limit: usize) -> Result<Vec<Payout>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SHARDED_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", SHARDED_INDEX_PK)
            .expression_attribute_values(":pk", s(awaiting_account_key(artisan)))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(store_error)?;
        let waiting = readable(output.items(), payout_from_item);
        if waiting.is_empty() && output.last_evaluated_key.is_none() {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(payouts_for_key(artisan)))
                .send()
                .await
                .map_err(store_error)?;
        }
        Ok(waiting)
    }

    async fn parked_payouts(&self, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        let found = self.sharded_page(|shard| parked_shard_key(PARKED_PAYOUT, shard), None, page).await?;
        Ok(Page { items: readable(&found.items, payout_from_item), next: found.next })
    }
}
