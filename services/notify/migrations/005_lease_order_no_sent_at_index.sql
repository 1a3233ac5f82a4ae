-- The leaser takes due rows in (next_attempt_at, id) order. A newsletter's fan-out writes all its
-- rows with one next_attempt_at, so an index on next_attempt_at alone left every lease to sort
-- all of an issue's pending rows for the first thousand: with the id in the index the scan
-- stops at the thousandth.
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
-- No query reads deliveries by sent_at (progress counts an issue's rows through deliveries_issue),
-- yet each delivery's lease and its 'sent' mark wrote an entry into this index: two of a
-- newsletter's index writes per message, for nothing.
DROP INDEX IF EXISTS deliveries_sent_at;
