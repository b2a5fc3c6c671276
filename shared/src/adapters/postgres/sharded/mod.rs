//! Customer data sharded by a hash of the user id across Postgres databases (docs/sharding.md). The catalog
//! database holds products, stock, artisans, payments' records, the stock reservations and the artisans' copies of
//! orders; each customer shard holds its users' carts, orders (the shopper's copy, the one that decides) and
//! idempotency records. A shopper's request reaches the catalog and their own shard, never every shard.
//!
//! Checkout spans two databases without a distributed transaction ([`checkout`]): reserve the stock in the
//! catalog, write the order in the shard, mark the reservation taken. A fence row in the shard decides, once and
//! for all, whether an order exists for a reservation, so the sweeper can release what a failure left without
//! racing a checkout still in flight. An order's later moves are written in the shard with what they owe the
//! catalog (an `order_sync` row), then applied there ([`sync`]).
//!
//! Every database runs the same migrations; each uses the tables of its role.

pub mod audit;
mod checkout;
pub mod reshard;
pub mod ring;
mod routing;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use time::OffsetDateTime;

use super::sqlx;
use super::{PgStore, rows};
use crate::domain::{
    CartLine, FollowUp, Order, OrderId, OrderRef, OrderStatus, Payout, PayoutAccount, PayoutStatus, Product, ProductId,
    ProviderRef, UserId,
};
use crate::ports::{
    ArtisanProfile, CartLineError, CartStore, CatalogReads, CatalogWrites, Claim, Due, Housekeeping, IdempotencyScope,
    IdempotencyStore, OrderStore, OrderTransition, Page, PageRequest, ParkError, PaymentStore, PlaceOrderError,
    ProductFilter, StockAdjustment, StockChangeError, StoreError, TransitionError,
};
pub use ring::{SLOTS, Slot, SlotMap};
use routing::{Access, Routing};

/// How long an instance routes by the slot map it read before reading it again: a slot being moved is fenced for
/// longer than this plus the longest request ([`reshard`]), so no instance writes to a slot's old shard after
/// the move.
pub const MAP_LEASE: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a reservation may wait for its order before the sweeper decides it: longer than any checkout runs
/// (the place-order function's timeout is 10 s), so the sweeper meets in-flight checkouts only when they are
/// stuck, and even then the fence keeps both from deciding differently.
pub const RESERVATION_BOUND: time::Duration = time::Duration::minutes(2);
/// How old an unapplied `order_sync` row must be before the sweeper applies it (the move applies its own at once).
pub const SYNC_GRACE: time::Duration = time::Duration::seconds(30);
/// Reservations and sync rows the sweeper settles per run.
const SWEEP_BATCH: i64 = 100;

/// Where a test can interrupt a checkout or an order's move ([`Tuning::faults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The catalog transaction reserving the stock is about to commit.
    ReserveCommit,
    /// The stock is reserved; the order is not written yet.
    Reserved,
    /// The shard transaction writing the order is about to commit.
    PlaceCommit,
    /// The order is written; its reservation is not marked taken yet.
    Placed,
    /// An order's move is committed in its shard; the catalog is not told yet.
    Moved,
}

/// What happens at a fault point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The step fails as a lost database would: the transaction rolls back, the checkout gives back what it took.
    Fail,
    /// The process dies here: nothing after it runs, the client hears nothing; the sweeper must finish.
    Crash,
}

/// Decides, at each point, whether a fault happens there (and may sleep first: a slow commit).
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> BoxFuture<'static, Option<Fault>> + Send + Sync>;

/// What tests change in a sharded store: the slot map's lease (resharding waits it out) and injected faults.
#[derive(Clone)]
pub struct Tuning {
    pub map_lease: std::time::Duration,
    pub faults: Option<FaultHook>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self { map_lease: MAP_LEASE, faults: None }
    }
}

/// Every store port on a catalog database and customer shards.
#[derive(Clone)]
pub struct ShardedStore {
    catalog: PgStore,
    shards: Vec<PgStore>,
    routing: Arc<Routing>,
    faults: Option<FaultHook>,
}

impl ShardedStore {
    /// The catalog database and the shards; the slot map is read from the catalog database (re-read every
    /// [`MAP_LEASE`]), or spread evenly over the shards until one is stored ([`SlotMap::even`]).
    pub fn new(catalog: PgStore, shards: Vec<PgStore>) -> Self {
        let routing = Arc::new(Routing::new(shards.len(), MAP_LEASE));
        Self { catalog, shards, routing, faults: None }
    }

    /// The same store, tuned: a shorter map lease, faults injected (tests only).
    pub fn tuned(mut self, tuning: Tuning) -> Self {
        self.routing = Arc::new(Routing::new(self.shards.len(), tuning.map_lease));
        self.faults = tuning.faults;
        self
    }

    pub fn catalog(&self) -> &PgStore {
        &self.catalog
    }

    pub fn shards(&self) -> &[PgStore] {
        &self.shards
    }

    /// The slot map as stored (or the even one, before one is stored), read now.
    pub async fn slot_map(&self) -> Result<SlotMap, StoreError> {
        Ok(routing::load(&self.catalog, self.shards.len()).await?.map)
    }

    /// Stores `map` if no map is stored yet: the deploy's migration step and the local server's start store the
    /// even map over the shards configured then, so adding a shard to `SHARD_URLS` later moves no slot by itself
    /// (the reshard command does).
    pub async fn ensure_slot_map(&self, map: &SlotMap) -> Result<(), StoreError> {
        routing::ensure_stored(&self.catalog, map).await
    }

    /// A store on the databases these URLs name (operators' tools and tests; functions build theirs from
    /// `Config`), each with a small pool of its own.
    pub fn connect(catalog_url: &str, shard_urls: &[String], application_name: &str) -> Result<Self, StoreError> {
        let store = |url: &str| {
            let settings = super::PoolSettings {
                url: url.to_owned(),
                application_name: application_name.to_owned(),
                max_connections: 2,
                iam: None,
            };
            super::Endpoint::connect_lazy(settings).map(PgStore::new)
        };
        let shards = shard_urls.iter().map(|url| store(url)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(store(catalog_url)?, shards))
    }

    /// The shard holding `user`'s data. A write to a slot being moved is refused (briefly: the reshard command
    /// fences one slot at a time); a read goes to its source, which holds everything until the switch.
    async fn shard_for(&self, user: &UserId, access: Access) -> Result<&PgStore, StoreError> {
        let slot = Slot::of(user);
        let (shard, fenced) = self.routing.lookup(slot, &self.catalog).await?;
        if fenced && access == Access::Write {
            return Err(StoreError::Unavailable(format!("slot {slot} is moving to another shard").into()));
        }
        self.shards.get(shard).ok_or_else(|| {
            StoreError::unexpected(format!(
                "the slot map puts slot {slot} on shard {shard}, but SHARD_URLS names {}",
                self.shards.len()
            ))
        })
    }

    async fn fault(&self, point: FaultPoint) -> Option<Fault> {
        match &self.faults {
            Some(hook) => hook(point).await,
            None => None,
        }
    }

    /// Settles what checkouts and moves left undone: reservations older than [`RESERVATION_BOUND`] are completed
    /// when their order exists and released when it does not (the fence decides), and every move's unapplied
    /// `order_sync` older than [`SYNC_GRACE`] is applied. Returns how many it settled.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut settled = 0;
        let overdue = sqlx::query(
            "SELECT order_id, user_id FROM reservations WHERE state = 'reserved' AND created_at < $1 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(now - RESERVATION_BOUND)
        .bind(SWEEP_BATCH);
        for row in self.catalog.writer().fetch_all(overdue).await? {
            let Some((user, order)) = rows::order_ref_of(&row, "user_id") else { continue };
            // One that cannot be settled now (its shard down, its slot moving) waits for the next run.
            match self.settle(&user, &order, now).await {
                Ok(()) => settled += 1,
                Err(error) => tracing::warn!(order_id = %order, %error, "reservation not settled; next sweep"),
            }
        }
        for shard in &self.shards {
            let unapplied = sqlx::query(
                "SELECT DISTINCT order_id, user_id FROM order_sync WHERE created_at < $1 ORDER BY order_id LIMIT $2",
            )
            .bind(now - SYNC_GRACE)
            .bind(SWEEP_BATCH);
            for row in shard.writer().fetch_all(unapplied).await? {
                let Some((user, order)) = rows::order_ref_of(&row, "user_id") else { continue };
                match self.apply_sync(&user, &order).await {
                    Ok(()) => settled += 1,
                    Err(error) => tracing::warn!(order_id = %order, %error, "order move not applied; next sweep"),
                }
            }
        }
        Ok(settled)
    }
}

#[async_trait]
impl CatalogReads for ShardedStore {
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.catalog.get_product(id).await
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.catalog.get_products(ids).await
    }

    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        self.catalog.list_products(filter, page).await
    }

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        self.catalog.get_artisan(id).await
    }

    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        self.catalog.category_counts().await
    }

    /// The catalog database only: a shard's connection opens on its first user (which shard that is, init cannot
    /// know).
    async fn ping(&self) -> Result<(), StoreError> {
        self.catalog.ping().await
    }
}

#[async_trait]
impl CatalogWrites for ShardedStore {
    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError> {
        self.catalog.create_product(product, display_name).await
    }

    async fn replace_product(&self, previous: &Product, next: &Product) -> Result<(), StoreError> {
        self.catalog.replace_product(previous, next).await
    }

    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        adjustment: &StockAdjustment,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError> {
        self.catalog.adjust_stock(id, artisan, adjustment, now).await
    }
}

#[async_trait]
impl CartStore for ShardedStore {
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError> {
        self.shard_for(user, Access::Read).await?.cart_lines(user).await
    }

    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), CartLineError> {
        self.shard_for(user, Access::Write).await?.put_cart_line(user, line, now).await
    }

    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        self.shard_for(user, Access::Write).await?.remove_cart_line(user, product).await
    }
}

#[async_trait]
impl IdempotencyStore for ShardedStore {
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        self.shard_for(&scope.user, Access::Write).await?.claim(scope, fingerprint, now).await
    }

    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        self.shard_for(&scope.user, Access::Release).await?.release(scope).await
    }
}

#[async_trait]
impl OrderStore for ShardedStore {
    async fn place_order(
        &self,
        order: &Order,
        scope: &IdempotencyScope,
        clear_cart: &[ProductId],
    ) -> Result<(), PlaceOrderError> {
        self.place(order, scope, clear_cart).await
    }

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.shard_for(user, Access::Read).await?.get_order(user, id).await
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        self.shard_for(user, Access::Read).await?.list_orders(user, page).await
    }

    /// From the artisans' copies in the catalog database (brought up to date after every move).
    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.catalog.list_artisan_orders(artisan, status, page).await
    }

    /// The artisans' copy says whose order it is; the shopper's shard has it as it is now, which is what a move
    /// must be decided on.
    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let Some(copy) = self.catalog.get_artisan_order(artisan, id).await? else { return Ok(None) };
        let current = self.shard_for(&copy.user_id, Access::Read).await?.get_order(&copy.user_id, id).await?;
        match current {
            Some(order) => order.for_artisan(artisan).map(Some).map_err(StoreError::unexpected),
            None => Ok(Some(copy)),
        }
    }

    async fn save_transition(&self, transition: &OrderTransition<'_>) -> Result<(), TransitionError> {
        self.move_order(transition).await
    }

    async fn notice_pending(&self, order: &OrderRef) -> Result<bool, StoreError> {
        self.shard_for(&order.user_id, Access::Read).await?.notice_pending(order).await
    }

    async fn notice_sent(&self, order: &OrderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        self.shard_for(&order.user_id, Access::Write).await?.notice_sent(order, now).await
    }

    /// Every shard's, oldest first (the background functions' query, never a shopper's): each shard's page from
    /// the same position, merged and cut to one page.
    async fn orders_due(
        &self,
        follow_up: FollowUp,
        before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<Due>, StoreError> {
        let mut due = Vec::new();
        for shard in &self.shards {
            due.extend(shard.orders_due_page(follow_up, before, page).await?);
        }
        Ok(merged(due, page.limit))
    }

    async fn parked_orders(&self, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        let mut parked = Vec::new();
        for shard in &self.shards {
            parked.extend(shard.parked_orders_page(page).await?);
        }
        Ok(merged(parked, page.limit))
    }
}

/// Provider events, payout accounts and payouts are the marketplace's and the artisans' data: the catalog database.
#[async_trait]
impl PaymentStore for ShardedStore {
    async fn event_seen(&self, event_id: &ProviderRef) -> Result<bool, StoreError> {
        self.catalog.event_seen(event_id).await
    }

    async fn remember_event(&self, event_id: &ProviderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        self.catalog.remember_event(event_id, now).await
    }

    async fn payout_account(&self, artisan: &UserId) -> Result<Option<PayoutAccount>, StoreError> {
        self.catalog.payout_account(artisan).await
    }

    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError> {
        self.catalog.connect_payout_account(artisan, account).await
    }

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError> {
        self.catalog.get_payout(artisan, order).await
    }

    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError> {
        self.catalog.list_payouts(artisan, status, page).await
    }

    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError> {
        self.catalog.save_payout(current, next).await
    }

    async fn await_account(&self, payout: &Payout) -> Result<(), ParkError> {
        self.catalog.await_account(payout).await
    }

    async fn payouts_due(&self, before: OffsetDateTime, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        self.catalog.payouts_due(before, page).await
    }

    async fn artisans_to_pay(&self, page: &PageRequest) -> Result<Page<UserId>, StoreError> {
        self.catalog.artisans_to_pay(page).await
    }

    async fn payouts_awaiting_account(&self, artisan: &UserId, limit: usize) -> Result<Vec<Payout>, StoreError> {
        self.catalog.payouts_awaiting_account(artisan, limit).await
    }

    async fn parked_payouts(&self, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        self.catalog.parked_payouts(page).await
    }
}

/// The shards' positioned pages as one: in position order, cut to `limit`, read on from the last position shown
/// (every shard reads from the same position, so nothing past it is skipped).
fn merged<T>(mut items: Vec<(String, T)>, limit: usize) -> Page<T> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.truncate(limit);
    super::orders::paged(items, limit)
}

/// What expired, in every database; then the reservations and moves a failure left ([`ShardedStore::sweep`]).
#[async_trait]
impl Housekeeping for ShardedStore {
    async fn forget_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut done = self.catalog.forget_expired(now).await?;
        for shard in &self.shards {
            done += shard.forget_expired(now).await?;
        }
        Ok(done + self.sweep(now).await?)
    }
}
