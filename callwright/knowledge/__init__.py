"""An assistant's knowledge: documents and Q&A pairs (:mod:`.repository`), cut into passages
(:mod:`.chunking`), indexed in SQLite FTS5 and searched for the LLM and for FAQ nodes
(:mod:`.retriever`)."""
