-- The leased rows' index is kept on lease_until alone (a row has one exactly while it is leased).
-- Under the old predicate, status = 'sending', every statement that names a row by id and also
-- asks status = 'sending' (a sent mark, a lease renewal) could be planned as a walk through all
-- leased rows: statistics read after a newsletter's fan-out say no row is leased, so the walk
-- looked cheaper than the primary key, and each mark read the thousand rows of the lease.
DROP INDEX IF EXISTS deliveries_leased;
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE lease_until IS NOT NULL;
