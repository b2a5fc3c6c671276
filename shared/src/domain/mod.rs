//! Pure types and rules: money, ids, products, carts, orders and their payments, validation. No I/O, no AWS.

pub mod cart;
pub mod category;
pub mod idempotency;
pub mod ids;
pub mod image;
pub mod money;
pub mod order;
pub mod payment;
pub mod payout;
pub mod product;
pub mod retry;
pub mod validation;

pub use cart::{CartLine, CartView, CartViewLine, MAX_CART_LINES, Quantity};
pub use category::Category;
pub use idempotency::{IdempotencyKey, KeyHolder, KeyVerdict};
pub use ids::{OrderId, ProductId, RequestToken, UploadId, UserId, epoch_millis};
pub use image::{ImageError, ImageType, UploadKey};
pub use money::{Currency, Money};
pub use order::{
    CheckoutLines, Decision, FollowUp, LinesDoNotSum, MAX_UNPAID_ORDERS, Order, OrderLine, OrderStatus, PlaceError,
    Purchase, Settlement,
};
pub use payment::{
    DisputeStage, FeeRate, IntentState, OrderRef, Payment, PaymentEnd, PaymentEvent, PaymentOutcome, PaymentStatus,
    ProviderRef, Refund, Share,
};
pub use payout::{ArtisanPayout, Clawback, Payout, PayoutAccount, PayoutMove, PayoutStatus};
pub use product::{
    NewProduct, OwnedProduct, Product, ProductImage, ProductPatch, ProductStatus, Stock, StockDelta, returnable_units,
};
pub use retry::{Failure, Retry};
pub use validation::{FieldError, ValidationErrors};
