BEGIN;
SELECT set_config('app.store_id', :store, true);
SELECT quote_literal(gen_random_uuid()) AS id, quote_literal(md5(random()::text)) AS k \gset
INSERT INTO idempotency_keys (scope, key_hash, fingerprint) VALUES (:store, :k, md5(random()::text)) ON CONFLICT DO NOTHING;
INSERT INTO orders (id, store_id, status, token_hash, customer_name, customer_email, shipping_address, total_minor, currency, card_token, payment_deadline) VALUES (:id, :store, 'pending', md5(random()::text), 'Ana Souza', 'ana@example.com', '{"line1": "Rua A, 1", "city": "São Paulo", "state": "SP", "postal_code": "01000-000", "country": "BR"}', 3980, 'BRL', 'tok_test_4000000000000010', now() + interval '30 minutes');
INSERT INTO order_lines (order_id, position, store_id, product_id, sku, name, unit_price_minor, quantity) VALUES (:id, 0, :store, gen_random_uuid(), 'SKU-1', 'Produto 1', 990, 2);
INSERT INTO order_lines (order_id, position, store_id, product_id, sku, name, unit_price_minor, quantity) VALUES (:id, 1, :store, gen_random_uuid(), 'SKU-2', 'Produto 2', 2000, 1);
INSERT INTO order_timeline (order_id, store_id, status) VALUES (:id, :store, 'pending');
INSERT INTO outbox (message_id, exchange, routing_key, kind, correlation_id, body, headers, mandatory) VALUES (gen_random_uuid(), 'checkout.events', '', 'OrderPlaced', :id, convert_to(repeat('x', 600), 'UTF8'), '{}', false);
INSERT INTO outbox (message_id, exchange, routing_key, kind, correlation_id, body, headers, mandatory) VALUES (gen_random_uuid(), 'summit.commands', 'catalog.reserve-stock', 'ReserveStock', :id, convert_to(repeat('x', 400), 'UTF8'), '{}', true);
UPDATE idempotency_keys SET status = 202, body = '{"order_id": "x", "status": "pending"}' WHERE scope = :store AND key_hash = :k;
COMMIT;
