-- A search that looks for words opens the content of each case it scans (search.py): each such
-- case is a read, recorded as action 'search' with the outcome 'searched' (shown to nobody:
-- the results name cases, never content).
ALTER TABLE case_reads DROP CONSTRAINT case_reads_outcome_check;
ALTER TABLE case_reads ADD CONSTRAINT case_reads_outcome_check
    CHECK (outcome IN ('shown', 'refused', 'not_found', 'searched'));
