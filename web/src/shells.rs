//! The per-user pages: shells that are the same for everyone (so they may be cached like any static file), filled
//! by the script from the JSON API with the user's token. No user's data is ever in the HTML.

use maud::{Markup, html};
use storefront::domain::category::CATEGORIES;
use storefront::domain::{OrderId, ProductId};

use crate::layout::{Ctx, Main, Meta, page};

fn meta(title: &str) -> Meta {
    // Not for search engines (robots.txt says so too), and no canonical URL.
    Meta { title: title.to_owned(), description: format!("{title} · Storefront"), ..Meta::default() }
}

fn needs_script() -> Markup {
    html! { noscript { p.note.bad { "This page needs JavaScript: it shows what is yours, which is never in the page itself." } } }
}

fn loading(id: &str) -> Markup {
    html! { div id=(id) aria-live="polite" { p { "Loading…" } } }
}

fn result() -> Markup {
    html! { div #result aria-live="polite" {} }
}

pub fn signin(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Sign in"),
        &Main { page: Some("signin"), ..Main::default() },
        html! {
            h1 { "Sign in" }
            p { "Taking you to sign in…" }
            p { button #signin-go type="button" { "Continue to sign in" } }
            (needs_script())
        },
    )
}

pub fn signout(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Sign out"),
        &Main { page: Some("signout"), ..Main::default() },
        html! {
            h1 { "Sign out" }
            p { "Signing you out…" }
            (needs_script())
        },
    )
}

pub fn bag(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Your bag"),
        &Main { page: Some("bag"), ..Main::default() },
        html! {
            h1 { "Your bag" }
            (loading("bag"))
            p { a #to-checkout.button.hidden href="/checkout" { "Check out" } }
            (needs_script())
        },
    )
}

pub fn checkout(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Checkout"),
        &Main { page: Some("checkout"), ..Main::default() },
        html! {
            h1 { "Checkout" }
            (loading("summary"))
            p { button #place-order type="button" disabled { "Place order and pay" } }
            div #payment {}
            (result())
            (needs_script())
        },
    )
}

pub fn orders(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Your orders"),
        &Main { page: Some("orders"), ..Main::default() },
        html! {
            h1 { "Your orders" }
            (loading("orders"))
            (needs_script())
        },
    )
}

pub fn order(ctx: &Ctx, id: &OrderId) -> Markup {
    let main = Main { page: Some("order"), order: Some(id.to_string()), ..Main::default() };
    page(
        ctx,
        &meta("Your order"),
        &main,
        html! {
            h1 { "Order " span.lede { (id) } }
            (loading("order"))
            div #payment {}
            (result())
            p { a href="/account/orders" { "All your orders" } }
            (needs_script())
        },
    )
}

fn workshop_nav() -> Markup {
    html! {
        nav aria-label="Workshop" {
            ul.row {
                li { a href="/sell" { "Products" } }
                li { a href="/sell/products/new" { "New product" } }
                li { a href="/sell/orders" { "Orders to ship" } }
                li { a href="/sell/payouts" { "Payouts" } }
            }
        }
    }
}

pub fn sell(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Your workshop"),
        &Main { page: Some("sell"), ..Main::default() },
        html! {
            h1 { "Your workshop" }
            (workshop_nav())
            (loading("products"))
            (needs_script())
        },
    )
}

fn product_fields() -> Markup {
    html! {
        label { "Title" input name="title" required maxlength="120" autocomplete="off"; }
        label { "Description" textarea name="description" maxlength="2000" {} }
        label { "Category"
            select name="category" required {
                @for category in CATEGORIES { option value=(category.slug) { (category.name) } }
            }
        }
        label { "Price (USD)" input name="price" type="number" min="0.01" max="1000000" step="0.01" required inputmode="decimal"; }
    }
}

pub fn sell_new(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("New product"),
        &Main { page: Some("sell-new"), ..Main::default() },
        html! {
            h1 { "New product" }
            (workshop_nav())
            form.stack {
                (product_fields())
                label { "Stock" input name="stock" type="number" min="0" max="100000" step="1" value="1" required; }
                p { button type="submit" { "List it" } }
            }
            (result())
            (needs_script())
        },
    )
}

pub fn sell_edit(ctx: &Ctx, id: &ProductId) -> Markup {
    let main = Main { page: Some("sell-edit"), product: Some(id.to_string()), ..Main::default() };
    page(
        ctx,
        &meta("Edit product"),
        &main,
        html! {
            h1 { "Edit product" }
            (workshop_nav())
            p { a href={"/p/" (id)} { "See it as shoppers do" } }
            form #edit.stack {
                (product_fields())
                p { button type="submit" { "Save" } }
            }
            h2 { "Stock" }
            p { "In stock: " strong #stock-now { "…" } }
            form #restock.row {
                label { "Add or remove units" input name="delta" type="number" min="-100000" max="100000" step="1" value="1" required; }
                button type="submit" { "Adjust stock" }
            }
            h2 { "Photos" }
            div #photos {}
            label { "Add a photo (JPEG, PNG or WebP, up to 10 MB)" input #photo type="file" accept="image/jpeg,image/png,image/webp"; }
            div #upload-status aria-live="polite" {}
            (result())
            (needs_script())
        },
    )
}

pub fn sell_orders(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Orders to ship"),
        &Main { page: Some("sell-orders"), ..Main::default() },
        html! {
            h1 { "Orders to ship" }
            (workshop_nav())
            (loading("orders"))
            (result())
            (needs_script())
        },
    )
}

pub fn sell_payouts(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Payouts"),
        &Main { page: Some("sell-payouts"), ..Main::default() },
        html! {
            h1 { "Payouts" }
            (workshop_nav())
            p { "Your share of each order (its total less the marketplace's fee) is owed when you ship, and transferred to your connected Stripe account." }
            form #account.row {
                label { "Connected account id" input name="account_id" required pattern="[A-Za-z0-9_]{1,255}" placeholder="acct_…"; }
                button type="submit" { "Connect" }
            }
            (result())
            (loading("payouts"))
            (needs_script())
        },
    )
}

pub fn not_found(ctx: &Ctx) -> Markup {
    page(
        ctx,
        &meta("Not found"),
        &Main::default(),
        html! {
            h1 { "Not found" }
            p { "There is nothing here. " a href="/" { "Back to the shop" } "." }
        },
    )
}
