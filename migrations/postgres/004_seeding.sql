-- 004_seeding: when a thread's conversation was seeded from its origin (once per thread).
-- PostgreSQL translation of ../sqlite/004_seeding.sql.
ALTER TABLE conversations ADD COLUMN seeded_at BIGINT;
