// Storefront's only script. Public pages are complete HTML without it; it adds the bag button, signs people in
// (authorization code + PKCE against Cognito's managed login, or the local stand-in of it), and draws the per-user
// pages (bag, checkout, orders, the artisan's workshop) from the JSON API with the user's token. No framework, no
// innerHTML: every text goes in through textContent.

const $ = (selector, root = document) => root.querySelector(selector);
const config = JSON.parse($('meta[name="storefront"]')?.content || '{}');

// ---------------------------------------------------------------- elements
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}
// Replaces what `el` holds with `children`, leaving out the absent ones (`null`, `false`).
const put = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
const money = (m) => new Intl.NumberFormat('en-US', { style: 'currency', currency: m.currency }).format(m.amount / 100);
const say = (where, text, kind = '') => put(where, h('p', { class: `note ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, text));
const statusBadge = (status) => h('span', { class: `status ${status}` }, status.replace('_', ' '));

// ---------------------------------------------------------------- the signed-in user
const TOKEN = 'sf.token';
function claims(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}
function user() {
  const token = localStorage.getItem(TOKEN);
  const c = token && claims(token);
  if (!c || c.exp * 1000 < Date.now()) return null;
  const groups = Array.isArray(c['cognito:groups']) ? c['cognito:groups'] : String(c['cognito:groups'] || '').replace(/[[\]]/g, '').split(/[ ,]+/);
  return { token, id: c.sub, name: c.name || c.email || c.sub, artisan: groups.includes('artisans') };
}
const signInUrl = () => `/signin?next=${encodeURIComponent(location.pathname + location.search)}`;
function requireUser() {
  const u = user();
  if (!u) location.assign(signInUrl());
  return u;
}

async function api(method, path, { body, headers = {} } = {}) {
  const u = user();
  const init = { method, headers: { ...headers } };
  if (u) init.headers.authorization = `Bearer ${u.token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) {
    localStorage.removeItem(TOKEN);
    location.assign(signInUrl());
    throw new Error('signed out');
  }
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}
const problem = (r) => (r.data && (r.data.errors?.map((e) => `${e.field}: ${e.message}`).join('; ') || r.data.detail)) || `error ${r.status}`;

// ---------------------------------------------------------------- sign in: authorization code + PKCE
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
// Where to go after signing in: a path on this origin only. `next` comes from the address bar, so anything else
// (`//evil.example`, `/\evil.example`, `https://evil.example`) is parsed against this origin, found elsewhere, and
// replaced by the home page.
function sameOriginPath(next) {
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}
async function startSignIn(next) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('sf.pkce', JSON.stringify({ verifier, state, next: sameOriginPath(next) }));
  const query = new URLSearchParams({
    response_type: 'code', client_id: config.signin.client_id, redirect_uri: `${location.origin}/signin`,
    scope: 'openid email profile', code_challenge_method: 'S256', code_challenge: b64url(new Uint8Array(digest)), state,
  });
  location.assign(`${config.signin.base}/oauth2/authorize?${query}`);
}
async function finishSignIn(main, code, state) {
  const saved = JSON.parse(sessionStorage.getItem('sf.pkce') || 'null');
  sessionStorage.removeItem('sf.pkce');
  if (!saved || saved.state !== state) return say(main, 'That sign-in was not started here. Try again.', 'bad');
  const response = await fetch(`${config.signin.base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: config.signin.client_id, code,
      redirect_uri: `${location.origin}/signin`, code_verifier: saved.verifier,
    }),
  });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok || !tokens.id_token) return say(main, 'Signing in failed. Try again.', 'bad');
  localStorage.setItem(TOKEN, tokens.id_token);
  location.replace(sameOriginPath(saved.next || '/'));
}

// ---------------------------------------------------------------- pages
const pages = {
  async signin(main) {
    const params = new URLSearchParams(location.search);
    if (params.get('code')) return finishSignIn(main, params.get('code'), params.get('state'));
    const next = params.get('next') || '/';
    $('#signin-go', main)?.addEventListener('click', () => startSignIn(next));
    if (params.get('auto') !== 'no') startSignIn(next);
  },

  signout(main) {
    localStorage.removeItem(TOKEN);
    if (config.signin.logout) {
      location.replace(`${config.signin.base}/logout?${new URLSearchParams({ client_id: config.signin.client_id, logout_uri: `${location.origin}/` })}`);
    } else {
      say(main, 'You are signed out.', 'ok');
    }
  },

  async bag(main) {
    if (!requireUser()) return;
    const list = $('#bag', main);
    const draw = async () => {
      const r = await api('GET', '/cart');
      if (!r.ok) return say(list, problem(r), 'bad');
      if (!r.data.items.length) {
        $('#to-checkout', main).classList.add('hidden');
        return put(list, h('p', {}, 'Your bag is empty. ', h('a', { href: '/' }, 'Find something handmade.')));
      }
      $('#to-checkout', main).classList.remove('hidden');
      const rows = r.data.items.map((line) => {
        const select = h('select', { 'aria-label': `Quantity of ${line.title}` },
          Array.from({ length: 10 }, (_, n) => h('option', { value: n + 1, selected: n + 1 === line.quantity }, n + 1)));
        select.addEventListener('change', async () => {
          await api('PUT', `/cart/items/${line.product_id}`, { body: { quantity: Number(select.value) } });
          draw();
        });
        const remove = h('button', { class: 'quiet', type: 'button' }, 'Remove');
        remove.addEventListener('click', async () => { await api('DELETE', `/cart/items/${line.product_id}`); draw(); });
        return h('tr', {},
          h('td', {}, h('a', { href: `/p/${line.product_id}` }, line.title), line.available === false ? h('div', { class: 'stock out' }, 'No longer available') : null),
          h('td', {}, select), h('td', { class: 'num' }, money(line.line_total)), h('td', {}, remove));
      });
      put(list, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col' }, 'Quantity'), h('th', { scope: 'col', class: 'num' }, 'Price'), h('th', { scope: 'col' }, h('span', { class: 'hidden' }, 'Actions')))),
        h('tbody', {}, rows),
        h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 2 }, 'Total'), h('td', { class: 'num price', id: 'bag-total' }, money(r.data.total)), h('td', {})))));
    };
    draw();
  },

  async checkout(main) {
    if (!requireUser()) return;
    const summary = $('#summary', main);
    const button = $('#place-order', main);
    const r = await api('GET', '/cart');
    if (!r.ok) return say(summary, problem(r), 'bad');
    if (!r.data.items.length) return say(summary, 'Your bag is empty.');
    put(summary, h('ul', {}, r.data.items.map((l) => h('li', {}, `${l.quantity} × ${l.title}: ${money(l.line_total)}`))),
      h('p', { class: 'price' }, `Total ${money(r.data.total)}`));
    button.disabled = false;
    // One key per checkout attempt, kept across a refresh: a double click or a reload replays the same order.
    let key = sessionStorage.getItem('sf.checkout-key');
    if (!key) {
      key = b64url(crypto.getRandomValues(new Uint8Array(16)));
      sessionStorage.setItem('sf.checkout-key', key);
    }
    button.addEventListener('click', async () => {
      button.disabled = true;
      const placed = await api('POST', '/orders', { body: {}, headers: { 'idempotency-key': key } });
      if (placed.status !== 201) {
        button.disabled = false;
        return say($('#result', main), problem(placed), 'bad');
      }
      sessionStorage.removeItem('sf.checkout-key');
      pay(main, placed.data);
    });
  },

  async orders(main) {
    if (!requireUser()) return;
    const list = $('#orders', main);
    const r = await api('GET', '/orders?limit=50');
    if (!r.ok) return say(list, problem(r), 'bad');
    if (!r.data.items.length) return say(list, 'No orders yet.');
    put(list, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
      h('tbody', {}, r.data.items.map((o) => h('tr', {},
        h('td', {}, h('a', { href: `/account/orders/${o.order_id}` }, o.order_id)),
        h('td', {}, new Date(o.created_at).toLocaleString()), h('td', {}, statusBadge(o.status)), h('td', { class: 'num' }, money(o.total)))))));
  },

  async order(main) {
    if (!requireUser()) return;
    const id = main.dataset.order;
    const view = $('#order', main);
    const draw = async () => {
      const r = await api('GET', `/orders/${id}`);
      if (!r.ok) return say(view, problem(r), 'bad');
      const o = r.data;
      const flow = ['awaiting_payment', 'paid', 'confirmed', 'shipped'];
      const reached = flow.indexOf(o.status);
      const actions = h('div', { class: 'row' });
      if (o.status === 'awaiting_payment' && o.payment?.client_secret) {
        actions.append(h('button', { type: 'button', onclick: () => pay(main, o) }, 'Pay now'));
      }
      if (['awaiting_payment', 'paid', 'confirmed'].includes(o.status) && !(o.shipped_artisans || []).length) {
        actions.append(h('button', { type: 'button', class: 'quiet', onclick: async () => {
          const c = await api('POST', `/orders/${id}/cancel`);
          if (!c.ok) say($('#result', main), problem(c), 'bad');
          draw();
        } }, 'Cancel order'));
      }
      const refund = o.payment?.refunded;
      put(view,
        h('p', {}, 'Status: ', h('strong', { id: 'order-status' }, o.status.replace('_', ' '))),
        o.status === 'cancelled' ? null : h('ol', { class: 'steps', 'aria-label': 'Progress' }, flow.map((s, n) => h('li', { class: n <= reached ? 'done' : '' }, s.replace('_', ' ')))),
        h('table', {}, h('tbody', {}, o.items.map((l) => h('tr', {}, h('td', {}, `${l.quantity} × `, h('a', { href: `/p/${l.product_id}` }, l.title)), h('td', { class: 'num' }, money(l.line_total))))),
          h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { class: 'num price' }, money(o.total))))),
        refund ? h('p', { class: 'note ok' }, `Refunded ${money(refund.amount)} on ${new Date(refund.at).toLocaleDateString()}.`) : null,
        o.status === 'cancelled' && o.payment?.status === 'succeeded' ? h('p', { class: 'note' }, 'Your refund is on its way.') : null,
        actions);
      if (['awaiting_payment', 'paid'].includes(o.status) || (o.status === 'cancelled' && o.payment?.status === 'succeeded')) setTimeout(draw, 1500);
    };
    draw();
  },

  async sell(main) {
    if (!requireUser()) return;
    const list = $('#products', main);
    const r = await api('GET', '/artisan/products?limit=100');
    if (r.status === 403) return say(list, 'This workshop is for artisans. Sign in with an artisan account to sell here.', 'bad');
    if (!r.ok) return say(list, problem(r), 'bad');
    if (!r.data.items.length) return say(list, 'No products yet: list your first one.');
    put(list, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Price'), h('th', { scope: 'col', class: 'num' }, 'Stock'), h('th', { scope: 'col' }, 'Photos'))),
      h('tbody', {}, r.data.items.map((p) => h('tr', {},
        h('td', {}, h('a', { href: `/sell/products/${p.product_id}` }, p.title)), h('td', { class: 'num' }, money(p.price)),
        h('td', { class: 'num' }, p.stock), h('td', {}, p.images.length, p.image_errors?.length ? h('span', { class: 'stock out' }, ` (${p.image_errors.length} refused)`) : null))))));
  },

  'sell-new'(main) {
    if (!requireUser()) return;
    const form = $('form', main);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = new FormData(form);
      const r = await api('POST', '/products', { body: {
        title: f.get('title'), description: f.get('description'), category: f.get('category'),
        price: { amount: Math.round(Number(f.get('price')) * 100), currency: 'USD' }, stock: Number(f.get('stock')),
      } });
      if (r.status === 201) location.assign(`/sell/products/${r.data.product_id}`);
      else say($('#result', main), problem(r), 'bad');
    });
  },

  async 'sell-edit'(main) {
    if (!requireUser()) return;
    const id = main.dataset.product;
    const form = $('#edit', main);
    const find = async () => {
      for (let cursor = null, n = 0; n < 20; n += 1) {
        const r = await api('GET', `/artisan/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (!r.ok) return null;
        const found = r.data.items.find((p) => p.product_id === id);
        if (found || !r.data.next_cursor) return found || null;
        cursor = r.data.next_cursor;
      }
      return null;
    };
    let product = await find();
    if (!product) return say($('#result', main), 'No such product of yours.', 'bad');
    const drawPhotos = (p) => {
      put($('#photos', main),
        p.images.length ? h('div', { class: 'thumbs' }, p.images.map((img, n) => h('img', { src: img.thumb_url, alt: `${p.title}, photo ${n + 1}`, width: 320, height: 240 }))) : h('p', {}, 'No photos yet.'),
        p.image_errors?.length ? h('ul', { class: 'note bad', id: 'photo-errors' }, p.image_errors.map((e) => h('li', {}, e.reason || e.message || JSON.stringify(e)))) : null);
    };
    const fill = (p) => {
      form.title.value = p.title; form.description.value = p.description; form.category.value = p.category;
      form.price.value = (p.price.amount / 100).toFixed(2);
      $('#stock-now', main).textContent = p.stock;
      drawPhotos(p);
    };
    fill(product);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const r = await api('PATCH', `/products/${id}`, {
        body: { title: form.title.value, description: form.description.value, category: form.category.value, price: { amount: Math.round(Number(form.price.value) * 100), currency: 'USD' } },
        headers: { 'if-match': `"${product.version}"` },
      });
      if (r.ok) { product = { ...product, ...r.data }; say($('#result', main), 'Saved.', 'ok'); } else say($('#result', main), problem(r), 'bad');
    });
    $('#restock', main).addEventListener('submit', async (event) => {
      event.preventDefault();
      const delta = Number(event.target.delta.value);
      const r = await api('POST', `/products/${id}/stock`, { body: { delta } });
      if (r.ok) { product = { ...product, ...r.data }; $('#stock-now', main).textContent = r.data.stock; } else say($('#result', main), problem(r), 'bad');
    });
    $('#photo', main).addEventListener('change', async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      const status = $('#upload-status', main);
      say(status, `Uploading ${file.name}…`);
      const ticket = await api('POST', `/products/${id}/images`, { body: { content_type: file.type } });
      if (ticket.status !== 201) return say(status, problem(ticket), 'bad');
      const upload = await fetch(ticket.data.upload_url, { method: 'PUT', headers: ticket.data.headers, body: file })
        .catch((error) => ({ ok: false, status: error.message }));
      if (!upload.ok) return say(status, `The upload failed (${upload.status}).`, 'bad');
      say(status, 'Uploaded; making the thumbnails…');
      const before = product.images.length + (product.image_errors?.length || 0);
      for (let n = 0; n < 60; n += 1) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const p = await find();
        if (p && p.images.length + (p.image_errors?.length || 0) > before) {
          product = p;
          drawPhotos(p);
          return say(status, p.images.length > before - (p.image_errors?.length || 0) ? 'Photo added.' : 'That file was refused.', p.image_errors?.length ? 'bad' : 'ok');
        }
      }
      say(status, 'Still working on it: reload in a moment.');
    });
  },

  async 'sell-orders'(main) {
    if (!requireUser()) return;
    const list = $('#orders', main);
    const draw = async () => {
      const r = await api('GET', '/artisan/orders?limit=50');
      if (!r.ok) return say(list, r.status === 403 ? 'This workshop is for artisans.' : problem(r), 'bad');
      if (!r.data.items.length) return say(list, 'No orders yet.');
      put(list, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Your items'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, h('span', { class: 'hidden' }, 'Actions')))),
        h('tbody', {}, r.data.items.map((o) => h('tr', {},
          h('td', {}, o.order_id), h('td', {}, o.items.map((l) => `${l.quantity} × ${l.title}`).join(', ')), h('td', {}, statusBadge(o.status)),
          h('td', {}, o.status === 'confirmed' ? h('button', { type: 'button', onclick: async () => {
            const s = await api('POST', `/artisan/orders/${o.order_id}/ship`);
            if (!s.ok) say($('#result', main), problem(s), 'bad');
            draw();
          } }, 'Mark shipped') : null))))));
    };
    draw();
  },

  async 'sell-payouts'(main) {
    if (!requireUser()) return;
    const list = $('#payouts', main);
    const draw = async () => {
      const r = await api('GET', '/artisan/payouts?limit=100');
      if (!r.ok) return say(list, r.status === 403 ? 'This workshop is for artisans.' : problem(r), 'bad');
      if (!r.data.items.length) return say(list, 'Nothing owed yet: your share is owed when you ship.');
      put(list, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col', class: 'num' }, 'Your share'), h('th', { scope: 'col' }, 'Status'))),
        h('tbody', {}, r.data.items.map((p) => h('tr', {}, h('td', {}, p.order_id), h('td', { class: 'num' }, money(p.amount)), h('td', {}, statusBadge(p.status)))))));
    };
    $('#account', main).addEventListener('submit', async (event) => {
      event.preventDefault();
      const r = await api('PUT', '/artisan/payout-account', { body: { account_id: event.target.account_id.value.trim() } });
      say($('#result', main), r.ok ? 'Connected: what you are owed is on its way.' : problem(r), r.ok ? 'ok' : 'bad');
      setTimeout(draw, 800);
    });
    draw();
  },
};

// ---------------------------------------------------------------- paying: Stripe's Payment Element, or the local test page
async function pay(main, order) {
  const done = `/account/orders/${order.order_id}`;
  const secret = order.payment?.client_secret;
  if (!secret) return location.assign(done);
  if (!config.stripe_key) {
    return location.assign(`/dev/pay/${order.payment.intent_id}?return=${encodeURIComponent(done)}`);
  }
  await new Promise((resolve, reject) => {
    document.head.append(h('script', { src: 'https://js.stripe.com/v3/', onload: resolve, onerror: reject }));
  });
  const stripe = window.Stripe(config.stripe_key);
  const elements = stripe.elements({ clientSecret: secret });
  const area = $('#payment', main) || main.appendChild(h('div', { id: 'payment' }));
  put(area);
  elements.create('payment').mount(area);
  const confirm = h('button', { type: 'button' }, 'Pay');
  area.after(confirm);
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    const { error } = await stripe.confirmPayment({ elements, confirmParams: { return_url: `${location.origin}${done}` } });
    if (error) { confirm.disabled = false; say($('#result', main) || area, error.message, 'bad'); }
  });
}

// ---------------------------------------------------------------- every page
function header() {
  const u = user();
  for (const el of document.querySelectorAll('[data-when]')) {
    const when = el.dataset.when;
    el.classList.toggle('hidden', (when === 'signed-in' && !u) || (when === 'signed-out' && !!u) || (when === 'artisan' && !u?.artisan));
  }
  const name = $('#who');
  if (name && u) name.textContent = u.name;
}

function addToBag() {
  for (const form of document.querySelectorAll('form[data-add-to-bag]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!user()) return location.assign(signInUrl());
      const quantity = Number(new FormData(form).get('quantity') || 1);
      const r = await api('PUT', `/cart/items/${form.dataset.addToBag}`, { body: { quantity } });
      const result = $('[data-result]', form.parentElement);
      if (r.ok) put(result, h('p', { class: 'note ok', role: 'status' }, 'Added to your bag. ', h('a', { href: '/bag' }, 'View bag')));
      else say(result, problem(r), 'bad');
    });
  }
}

header();
addToBag();
const main = $('main[data-page]');
if (main && pages[main.dataset.page]) pages[main.dataset.page](main);
