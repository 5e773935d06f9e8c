-- 0039 (PostgreSQL): a test call is stored with direction 'test' (see 0039_test_direction.sql).
-- PostgreSQL widens the CHECK in place: the column constraint 0001 made is named
-- calls_direction_check; it is dropped and made again with 'test'. The test_call flag of 0037
-- goes (its partial index with it); calls_tests is made again on the direction.
ALTER TABLE calls DROP CONSTRAINT calls_direction_check;
ALTER TABLE calls ADD CONSTRAINT calls_direction_check
    CHECK (direction IN ('inbound', 'outbound', 'test'));
UPDATE calls SET direction = 'test' WHERE test_call = 1;
DROP INDEX calls_tests;
ALTER TABLE calls DROP COLUMN test_call;
CREATE INDEX calls_tests ON calls(org_id, status, started_at) WHERE direction = 'test';
