-- 0004 for PostgreSQL: knowledge passages leave with their document. In PostgreSQL
-- knowledge_chunks.doc_id is a foreign key ON DELETE CASCADE (0001), which does what SQLite's
-- trigger does; this only removes passages orphaned before, as the SQLite migration does.
DELETE FROM knowledge_chunks WHERE doc_id NOT IN (SELECT id FROM knowledge_docs);
