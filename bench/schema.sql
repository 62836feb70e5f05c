-- pg_cdp demo / benchmark schema.
-- Tables are filled from the CSV files written by bench/gen_data.py, e.g. in psql:
--   \i bench/schema.sql
--   \copy demo.web_signups FROM 'DIR/web_signups.csv' WITH (FORMAT csv, HEADER true)
--   ... (one \copy per table; file name = table name + '.csv')
-- NULLs are unquoted empty fields (the COPY csv default).  Safe to rerun: drops first.

CREATE SCHEMA IF NOT EXISTS demo;

DROP TABLE IF EXISTS demo.web_signups CASCADE;
DROP TABLE IF EXISTS demo.store_customers CASCADE;
DROP TABLE IF EXISTS demo.call_center_contacts CASCADE;
DROP TABLE IF EXISTS demo.app_users CASCADE;
DROP TABLE IF EXISTS demo.web_events CASCADE;
DROP TABLE IF EXISTS demo.orders CASCADE;
DROP TABLE IF EXISTS demo.web_orders CASCADE;
DROP TABLE IF EXISTS demo.truth CASCADE;

-- Web shop sign-ups (birth_date is free text 'YYYY-MM-DD', may be invalid).
CREATE TABLE demo.web_signups (
    signup_id    bigint PRIMARY KEY,
    email        text,
    full_name    text,
    phone        text,
    birth_date   text,
    city         text,
    signed_up_at timestamptz
);

-- Physical store loyalty customers (customer_no 'S' + 7 digits).
CREATE TABLE demo.store_customers (
    customer_no  text PRIMARY KEY,
    first_name   text,
    last_name    text,
    phone        text,
    street       text,
    postcode     text,
    city         text,
    gender       text,
    national_id  text,
    created_at   timestamptz
);

-- Call-centre contacts (dob is free text 'DD.MM.YYYY' or 'DD/MM/YYYY', may be invalid).
CREATE TABLE demo.call_center_contacts (
    contact_id   integer PRIMARY KEY,
    caller_name  text,
    phone        text,
    email        text,
    dob          text,
    region       text,
    contacted_at timestamptz
);

-- Mobile app users (user_id is a uuid-like hex string).
CREATE TABLE demo.app_users (
    user_id       text PRIMARY KEY,
    given_name    text,
    family_name   text,
    email         text,
    phone         text,
    device_id     text,
    birth_date    date,
    country       text,
    registered_at timestamptz
);

-- Anonymous / logged-in click stream of the web shop.
CREATE TABLE demo.web_events (
    event_id    bigint PRIMARY KEY,
    cookie_id   text NOT NULL,
    login_email text,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Store orders; customer_no refers to demo.store_customers (no FK on purpose).
CREATE TABLE demo.orders (
    order_id    bigint PRIMARY KEY,
    customer_no text NOT NULL,
    amount      numeric(12,2),
    currency    text NOT NULL DEFAULT 'TRY',
    ordered_at  timestamptz
);

-- Web orders; signup_id refers to demo.web_signups (no FK on purpose).
CREATE TABLE demo.web_orders (
    order_id    bigint PRIMARY KEY,
    signup_id   bigint NOT NULL,
    amount      numeric(12,2),
    currency    text NOT NULL DEFAULT 'TRY',
    ordered_at  timestamptz
);

-- Ground truth: which person produced each source row (and each web cookie).
-- source_table is one of 'demo.web_signups', 'demo.store_customers',
-- 'demo.call_center_contacts', 'demo.app_users', 'demo.web_events.cookie';
-- source_key is the row's primary key as text (cookie_id for cookies).
CREATE TABLE demo.truth (
    source_table text   NOT NULL,
    source_key   text   NOT NULL,
    person_id    bigint NOT NULL,
    PRIMARY KEY (source_table, source_key)
);
