-- 0004: knowledge passages leave with their document.
--
-- knowledge_chunks is an FTS5 table: no foreign key can remove its rows. When a document goes
-- (deleted by the repository, or by ON DELETE CASCADE with its assistant or org) its passages must
-- go too, or a later document or assistant that reuses the rowid (ids here are not AUTOINCREMENT)
-- would inherit another tenant's passages. SQLite fires this trigger for cascaded deletes as well.
CREATE TRIGGER knowledge_docs_ad AFTER DELETE ON knowledge_docs BEGIN
  DELETE FROM knowledge_chunks WHERE doc_id = old.id;
END;

-- Passages already orphaned before this trigger existed.
DELETE FROM knowledge_chunks WHERE doc_id NOT IN (SELECT id FROM knowledge_docs);

-- The admin lists an assistant's documents.
CREATE INDEX knowledge_docs_org_assistant ON knowledge_docs(org_id, assistant_id, kind, title);
