//! Pure types and rules: money, ids, products, carts, validation. No I/O, no AWS.

pub mod cart;
pub mod category;
pub mod ids;
pub mod image;
pub mod money;
pub mod order;
pub mod product;
pub mod validation;

pub use cart::{CartLine, CartView, CartViewLine, MAX_CART_LINES, Quantity};
pub use category::Category;
pub use ids::{ProductId, UserId};
pub use image::{ImageError, ImageType, UploadKey};
pub use money::{Currency, Money};
pub use order::{CheckoutLines, Order, OrderId, OrderLine, OrderStatus, PlaceError};
pub use product::{NewProduct, Product, ProductImage, ProductPatch, ProductStatus, Stock, StockDelta};
pub use validation::{FieldError, ValidationErrors};
