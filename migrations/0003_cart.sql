-- The product catalogue and the carts.
CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL,
    -- Money is integer cents: no floating-point rounding, ever.
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    -- A colour swatch class from static/style.css stands in for a product photo.
    swatch      text NOT NULL
);

INSERT INTO products (name, description, price_cents, swatch) VALUES
    ('Teal mug',          'A 350 ml stoneware mug that keeps coffee warm.',      1450, 'swatch-teal'),
    ('Coral notebook',    'A5, dotted pages, lies flat when open.',               900, 'swatch-coral'),
    ('Indigo hoodie',     'Heavy cotton, for long debugging nights.',            4900, 'swatch-indigo'),
    ('Amber desk lamp',   'Warm light, dimmable, USB-C powered.',                3900, 'swatch-amber'),
    ('Olive tote bag',    'Canvas bag that carries a laptop and lunch.',         1800, 'swatch-olive'),
    ('Plum sticker pack', 'Twelve vinyl stickers about cookies and keys.',        500, 'swatch-plum'),
    ('Slate coaster set', 'Four slate coasters, felt on the back.',              2200, 'swatch-slate'),
    ('Rose water bottle', 'Insulated steel, 750 ml.',                            2600, 'swatch-rose'),
    ('Sky keyboard',      'Mechanical, quiet switches, 75% layout.',             8900, 'swatch-sky'),
    ('Sand mouse pad',    'Large cloth pad with stitched edges.',                1200, 'swatch-sand'),
    ('Mint cable kit',    'Three braided USB-C cables, 1 m each.',               1500, 'swatch-mint'),
    ('Berry headphones',  'Closed-back, for focus in open offices.',             7500, 'swatch-berry');

-- Why the cart is not simply a map inside the session:
-- actix-session writes the whole session back at the end of each request, so two
-- requests of one browser running at once (two tabs, a double click) would each
-- write their own copy and the last one would silently undo the other. Instead
-- the session holds only a random cart id, and each change to the cart is one
-- atomic statement on these rows, which PostgreSQL serialises per line.
CREATE TABLE carts (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Set by the pruning task when no live session refers to the cart any more.
    orphaned_at timestamptz
);

CREATE TABLE cart_lines (
    cart_id    text   NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id bigint NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, product_id)
);

-- Which session holds which cart: derived from the session state, like user_id.
ALTER TABLE sessions
    ADD COLUMN cart_id text GENERATED ALWAYS AS (state ->> 'cart_id') STORED;
CREATE INDEX sessions_cart_id_idx ON sessions (cart_id) WHERE cart_id IS NOT NULL;
